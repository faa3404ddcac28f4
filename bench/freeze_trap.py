"""What the hourly `gc.freeze()` keeps: reference cycles alive at a freeze that died later.

`rq-run` re-freezes its heap every hour (`rq_actors.io.health.tune_gc`, see "GC pauses" in
docs/RELIABILITY.md). A frozen object is never collected again, so a cycle that was alive at a
freeze and becomes garbage afterwards stays in memory for good: a leak of unknown size. To
measure it, run a soak with

    python -m bench.soak ... --cache-limit 128 --freeze-per-market-hour \\
        --pipeline-env RQ_SOAK_TRAPPED_LOG=/tmp/trapped.jsonl

and `bench.capped_run` replaces `tune_gc` by `tune_gc_counting`: before freezing again it
unfreezes and collects the whole heap, and appends one line per freeze:
`{"wall_ms", "young", "trapped", "frozen"}`. `trapped` is the number of objects the earlier
freezes kept that were garbage by now, which `rq-run` would have kept for good. This costs a
full collection per freeze (and frees what was trapped), so the run's pauses are not figures.
"""

from __future__ import annotations

import functools
import gc
import os
import time
from pathlib import Path

import orjson

from rq_actors.io import health


def tune_gc_counting(log: Path) -> None:
    """`tune_gc`, but counting (and freeing) what the earlier freezes had trapped."""
    young = gc.collect()  # what `tune_gc` collects too: garbage that was never frozen
    gc.unfreeze()
    trapped = gc.collect()  # only frozen objects are left to be garbage now
    gc.freeze()
    gc.set_threshold(*health.GC_THRESHOLDS)
    line = {"wall_ms": int(time.time() * 1000), "young": young, "trapped": trapped}
    line["frozen"] = gc.get_freeze_count()
    with log.open("ab") as f:
        f.write(orjson.dumps(line) + b"\n")


def install_from_env() -> None:
    """Count what each freeze traps if `RQ_SOAK_TRAPPED_LOG` names a file; do nothing if not."""
    path = os.environ.get("RQ_SOAK_TRAPPED_LOG")
    if path:
        health.tune_gc = functools.partial(tune_gc_counting, Path(path))  # type: ignore[assignment]
