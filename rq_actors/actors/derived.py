"""Derived actors (CVD, VWAP, candles + wicks): thin loops around metric jobs (SPEC §3, §7).

Start: replay the vault from the persisted cursor, then follow the trade writer's durable
batches. When the writer finds this actor's channel full it stops sending (the feed turns
`lagging`); the actor then rejoins the feed *first* and reads the vault from its cursor *after*,
so every trade flushed before the rejoin is read from the vault and every later one arrives on
the channel. Overlap is harmless: the calculators skip anything at or before their cursor.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence

import trio

from rq_actors.actors.feed import LiveFeed
from rq_actors.actors.hooks import DEFAULT_COALESCE_S
from rq_actors.io.health import HealthReporter, dropped_trade_counts
from rq_actors.io.metrics.jobs import MetricJob
from rq_actors.io.metrics.replay import replay_vault
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade

_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})  # write errors worth waiting out
_DISK_RETRY_INITIAL_S = 0.5
_DISK_RETRY_MAX_S = 30.0


class DerivedActor:
    def __init__(
        self,
        inst_id: str,
        make_jobs: Callable[[], list[MetricJob]],
        feed: LiveFeed,
        paths: VaultPaths,
        health: HealthReporter,
        *,
        state_interval_s: float = 5.0,
        coalesce_s: float = DEFAULT_COALESCE_S,
        slowdown_s: float = 0.0,
    ) -> None:
        self._inst_id = inst_id
        self._make_jobs = make_jobs
        self._feed = feed
        self._paths = paths
        self._health = health
        self._state_interval_s = state_interval_s
        self._coalesce_s = coalesce_s
        self._slowdown_s = slowdown_s  # tests: a consumer slower than the market, per step

    async def run(self) -> None:
        delay = _DISK_RETRY_INITIAL_S
        while True:
            try:
                await self._run_once()
                return
            except OSError as exc:
                if exc.errno not in _DISK_FULL:
                    raise  # not the disk filling up: the supervisor's restart policy decides
                # A full disk is not this actor's bug: a supervisor restart would do the same
                # (rebuild from the saved state, repair from the outputs, catch up from the
                # vault) but count against the group's limit, and a long full disk would then
                # stop the whole group, capture included. So retry here, with backoff.
                self._health.error(f"{exc}; rebuilding from the saved state in {delay:g} s")
                self._health.set_state("recovering")
                await trio.sleep(delay)
                delay = min(delay * 2, _DISK_RETRY_MAX_S)

    async def _run_once(self) -> None:
        jobs = await trio.to_thread.run_sync(self._make_jobs)
        try:
            await self._follow(jobs)
        except trio.Cancelled:
            # cancelled at an await, where every job is consistent: persist what we have
            self._save(jobs)
            raise
        else:
            self._save(jobs)  # orderly end: the writer closed the feed
        finally:
            # After an exception inside a job its state may be half-updated, so it is not
            # saved; the previous state plus the outputs' last lines repair it on restart.
            for job in jobs:
                job.close()

    async def _follow(self, jobs: Sequence[MetricJob]) -> None:
        self._health.set_state("recovering")
        await self._catch_up(jobs)
        self._health.set_state("running")
        last_save = trio.current_time()
        async for batch in self._feed.receive:
            self._process(jobs, self._drain(list(batch.trades)))
            if self._slowdown_s:
                await trio.sleep(self._slowdown_s)
            elif self._coalesce_s:
                # Let batches gather: outputs depend on event time only, so processing in
                # fewer, larger steps changes nothing but the per-hop overhead.
                await self._feed.gather(self._coalesce_s)
            if self._feed.lagging and _empty(self._feed):
                self._health.set_state("lagging")
                self._health.incr("lagged")
                await self._catch_up(jobs)
                self._health.set_state("running")
            if trio.current_time() - last_save >= self._state_interval_s:
                # off the event loop: a 30k-wick state takes a noticeable fraction of a second
                await trio.to_thread.run_sync(self._save, jobs)
                last_save = trio.current_time()

    async def _catch_up(self, jobs: Sequence[MetricJob]) -> None:
        while True:
            self._feed.rejoin()
            n = await trio.to_thread.run_sync(replay_vault, self._paths, self._inst_id, jobs)
            self._health.incr("replayed", n)
            self._observe(jobs)
            if not self._feed.lagging:
                return
            # lagged again while reading: what is in the channel is covered by the next pass
            while True:
                try:
                    self._feed.receive.receive_nowait()
                except trio.WouldBlock:
                    break

    def _drain(self, trades: list[Trade]) -> list[Trade]:
        """Take every batch already waiting, so they are processed in one step."""
        while True:
            try:
                trades.extend(self._feed.receive.receive_nowait().trades)
            except (trio.WouldBlock, trio.EndOfChannel):
                return trades

    def _process(self, jobs: Sequence[MetricJob], trades: Sequence[Trade]) -> None:
        written = 0
        for job in jobs:
            written += job.process(trades)
        self._health.incr("trades_in", len(trades))
        self._health.set_counters(dropped_trade_counts(jobs))
        if written:
            self._health.incr("records_written", written)
        self._observe(jobs)

    def _observe(self, jobs: Sequence[MetricJob]) -> None:
        newest = max((job.cursor[0] for job in jobs), default=-1)
        if newest >= 0:
            self._health.observe_event_time(newest)

    def _save(self, jobs: Sequence[MetricJob]) -> None:
        for job in jobs:
            job.save_state()


def _empty(feed: LiveFeed) -> bool:
    return feed.receive.statistics().current_buffer_used == 0
