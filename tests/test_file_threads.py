"""The process-wide bound on worker threads for file work (rq_actors.io.file_threads)."""

from __future__ import annotations

import threading
import time

import pytest
import trio

from rq_actors.io.file_threads import FILE_THREADS, file_thread_limiter, run_in_file_thread


class _Census:
    """Counts how many calls run at once, from inside the worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.threads: set[int] = set()

    def work(self, seconds: float) -> int:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.threads.add(threading.get_ident())
        time.sleep(seconds)
        with self._lock:
            self.now -= 1
        return threading.get_ident()


async def test_many_callers_share_the_bound() -> None:
    census = _Census()
    async with trio.open_nursery() as nursery:
        for _ in range(30):  # like 10 instruments x 3 derived actors saving at the same moment
            nursery.start_soon(run_in_file_thread, census.work, 0.02)
    assert census.most == FILE_THREADS
    assert census.now == 0


async def test_one_limiter_per_run() -> None:
    assert file_thread_limiter() is file_thread_limiter()
    assert file_thread_limiter().total_tokens == FILE_THREADS


def test_a_new_run_gets_a_fresh_limiter() -> None:
    async def grab() -> trio.CapacityLimiter:
        return file_thread_limiter()

    assert trio.run(grab) is not trio.run(grab)


async def test_a_failure_in_the_thread_reaches_the_caller_and_frees_the_token() -> None:
    def boom() -> None:
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        await run_in_file_thread(boom)
    assert file_thread_limiter().borrowed_tokens == 0
