"""Replay the trade vault through metric jobs, from each job's own cursor (sync, I/O-bound).

Used by the derived actors to start and to catch up after lagging, and by `rq derive`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rq_actors.core.timefmt import MS_PER_DAY, date_str
from rq_actors.io.metrics.jobs import MetricJob
from rq_actors.io.vault.load import iter_trades
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade

CHUNK = 20_000


def replay_vault(
    paths: VaultPaths,
    inst_id: str,
    jobs: Sequence[MetricJob],
    *,
    progress: Callable[[int, Trade], None] | None = None,
) -> int:
    """Feed every vault trade after the jobs' cursors to the jobs; return trades read."""
    if not jobs:
        return 0
    oldest = min(job.cursor[0] for job in jobs)
    # one day earlier: at midnight, trades of two consecutive days can interleave by id
    start_day = None if oldest < 0 else date_str(oldest - MS_PER_DAY)
    # Every job skips a trade at or before its cursor, and the vault is in id order, so a
    # trade whose id is at most every cursor's id has been seen by all of them: it is not
    # read at all (a catch-up after a stall would otherwise re-read up to two whole days).
    seen = min(job.cursor[1] for job in jobs)
    chunk: list[Trade] = []
    total = 0
    for trade in iter_trades(paths, inst_id, start_day, after_id=seen if seen > 0 else None):
        chunk.append(trade)
        if len(chunk) >= CHUNK:
            total += _feed(jobs, chunk, progress)
            chunk = []
    if chunk:
        total += _feed(jobs, chunk, progress)
    return total


def _feed(
    jobs: Sequence[MetricJob], chunk: list[Trade], progress: Callable[[int, Trade], None] | None
) -> int:
    for job in jobs:
        job.process(chunk)
    if progress is not None:
        progress(len(chunk), chunk[-1])
    return len(chunk)
