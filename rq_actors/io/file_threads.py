"""The worker threads the actors share for file work (state saves, vault replays, retention,
the vault size), bounded to `FILE_THREADS` for the whole process.

Why a bound of its own: every instrument runs several derived actors, each saving its state in
a worker thread every few seconds, and they start together, so they save together. Under
trio's default limiter (40) a 50-instrument process ran many threads at once, and each
thread that allocates concurrently can get a glibc malloc arena of its own (up to 8 per core)
that keeps what it freed. File work is GIL-bound Python, so more threads than cores buy no
speed. (The 50-instrument soak with this bound, run J in docs/RELIABILITY.md, did not show a
lower RSS slope than the one without: the bound is kept as a bound, not as the fix of that
slope.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import trio
from trio.lowlevel import RunVar

FILE_THREADS = 2  # one per core of the reference machine

_T = TypeVar("_T")
_LIMITER: RunVar[trio.CapacityLimiter] = RunVar("rq_file_threads")


def file_thread_limiter() -> trio.CapacityLimiter:
    """This trio run's limiter (one per run, as trio's own default limiter is)."""
    try:
        return _LIMITER.get()
    except LookupError:
        limiter = trio.CapacityLimiter(FILE_THREADS)
        _LIMITER.set(limiter)
        return limiter


async def run_in_file_thread(
    fn: Callable[..., _T], *args: object, abandon_on_cancel: bool = False
) -> _T:
    """`trio.to_thread.run_sync` under the shared file-work limiter."""
    return await trio.to_thread.run_sync(
        fn, *args, limiter=file_thread_limiter(), abandon_on_cancel=abandon_on_cancel
    )
