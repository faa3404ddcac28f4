"""`python -m bench.capped_run N CONFIG` is `rq-run CONFIG` with every per-instrument text cache
bounded at N entries instead of the shipped 1 024, and the book model's level caches at 20 000
instead of 50 000 (`bench.soak --cache-limit N`).

At a few trades a second an instrument meets new prices and sizes so slowly that its caches
take market weeks to fill, and until they have, RSS rises by their filling. A soak with small
caches has every cache full within market hours, so the slope after that is everything else:
what the pipeline holds beyond its bounded caches. What the caches add at the shipped bound is
their size when full (`python -m bench.quant_cache`), paid once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
import threading

from bench import freeze_trap
from bench.heap_trace import start_from_env
from rq_actors.actors import runner
from rq_actors.commands.cli import run_main
from rq_actors.core.book import model
from rq_actors.core.cache_census import FAMILIES
from rq_actors.core.derive import common
from rq_actors.core.wicks import records
from rq_actors.io.health import ProcessWatch

# The book caches are shared by every instrument (50 000 entries each, shipped): at 50
# instruments and slow books they take market days to fill. 20 000 still holds what the books
# touch within minutes, so it bounds the memory without re-parsing every level.
_BOOK_LIMIT = 20_000


def cap_caches(limit: int, book_limit: int = _BOOK_LIMIT) -> None:
    """Bound the calculators' `Quant` caches and the wick records' caches at `limit`, and the
    book model's two process-wide level caches at `book_limit`."""
    common._CACHE_LIMIT = limit  # read on every insert
    records._CACHE_LIMIT = limit
    model._CACHE_MAX = book_limit
    for name, bound in (("quant", limit), ("wick_text", limit), ("book_levels", book_limit)):
        FAMILIES[name].bound = bound  # the census judges "full" by the same bound


def refreeze_from_env() -> None:
    """Re-freeze the heap every `RQ_SOAK_REFREEZE_S` wall seconds instead of every hour.

    `rq-run` re-freezes hourly by the clock, so a soak at speed 24 freezes 24 times less often
    per market day than a live run; whatever a freeze keeps (a reference cycle alive at the
    freeze that dies later is never collected) would then be undercounted 24 times.
    `bench.soak --freeze-per-market-hour` sets it to 3 600 / speed."""
    every_s = os.environ.get("RQ_SOAK_REFREEZE_S")
    if every_s:
        runner.ProcessWatch = functools.partial(  # type: ignore[attr-defined,assignment]
            ProcessWatch, refreeze_every_s=float(every_s)
        )


def trim_from_env() -> tuple[threading.Thread, threading.Event] | None:
    """Every `RQ_SOAK_MALLOC_TRIM_S` wall seconds, glibc's `malloc_trim(0)`: it gives back to the
    system the free pages inside every malloc arena (the main heap and the worker threads'), which
    glibc otherwise keeps after a burst. For an A/B soak (`--ab-env RQ_SOAK_MALLOC_TRIM_S=60`):
    what it lowers is memory the allocator kept, not memory the pipeline holds. pymalloc's own
    arenas are not malloc's and are not touched. Returns the thread and the event that stops it."""
    every_s = os.environ.get("RQ_SOAK_MALLOC_TRIM_S")
    libc_name = ctypes.util.find_library("c")
    if not every_s or not libc_name:
        return None
    trim = ctypes.CDLL(libc_name).malloc_trim
    period = float(every_s)

    stop = threading.Event()

    def _loop() -> None:
        while not stop.wait(period):
            trim(0)

    thread = threading.Thread(target=_loop, name="malloc-trim", daemon=True)
    thread.start()
    return thread, stop


def main() -> None:
    limit = int(sys.argv[1])
    sys.argv = ["rq-run", *sys.argv[2:]]
    cap_caches(limit)
    refreeze_from_env()
    trim_from_env()  # glibc malloc_trim(0) on a timer if RQ_SOAK_MALLOC_TRIM_S is set
    freeze_trap.install_from_env()  # counts what each freeze traps if RQ_SOAK_TRAPPED_LOG
    start_from_env()  # tracemalloc snapshots if RQ_HEAP_TRACE_DIR is set (bench.heap_trace)
    run_main()


if __name__ == "__main__":
    main()
