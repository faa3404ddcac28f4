"""The trade writer: every trade of one instrument exactly once in the vault (SPEC §3, §5).

Receive frames from the socket actor, validate (bad rows → quarantine), order and de-duplicate,
append to the daily file of each trade's event-time date, then offer the durable batch to the
derived actors. Every decision (ordering, hole holding, backfill planning, gaps, write retries,
the held-trades caps) is made by the pure `TradeIntake` (`rq_actors.core.trades.intake`); this
actor is the loop that feeds it and carries out its effects.

Decisions worth knowing:
- Files: a trade is filed under its own `ts` date. Every file and the instrument's whole stream
  are strictly increasing in trade id; at midnight, timestamps can step back a few ms between
  consecutive ids, so a trade may land in the previous day's file after a newer-id trade went
  into the next day's. Trade-id order wins; readers merge by id (`rq_actors.io.vault.load`).
- Batches: all frames already waiting in the inbox are handled together, so a burst becomes one
  write + flush per file and one `DurableTrades` per feed, not one per trade.
- Reorder window: a trade after a hole is held up to `reorder_window_s` (from its arrival) for
  the missing ids to arrive, e.g. from the other connection during make-before-break. Then the
  hole is fetched from REST history in a background task while the inbox keeps being read
  (arriving trades are held, nothing is written meanwhile, so recovered trades land first). The
  fetch is bounded by `backfill_timeout_s`; what it could not recover becomes a `gap` line in
  quarantine and capture continues.
- Reconnect (`ConnectionEvent` up on the trades endpoint, vault not empty): on `trades-all` the
  REST history from the newest trade back to the vault's last id is fetched at once, so a quiet
  market does not leave the outage unfilled. On the aggregated `trades` channel REST fills
  (single fills) and live rows (groups) could overlap partially, so there the first live trade
  after the reconnect exposes the jump, and the bounded range below it is fetched and
  re-aggregated (`aggregate_fills`); live rows never overlap it.
- Long outages (or a restart after days): REST is paged from the top of the hole downwards for
  at most `backfill_timeout_s`; the recovered (most recent) part is written and the older rest
  becomes one gap line, so live capture resumes within a bounded time.
- Overload (issue #15): held trades are capped (`max_held_trades`, default 200,000, ~80 MB);
  past the cap they are dropped (`held_dropped_overload`) and re-fetched from REST like an
  outage. Everything else in flight is bounded by channel capacities (see `TradeIntake`).
- Counters: `trades_written`, `batches`, `duplicates_skipped` (live copies of ids already
  written or held), `backfilled` (written from REST), `backfills`, `rest_requests`, `gaps`,
  `quarantined`, `messages_in`, `held_dropped_at_stop`, `held_dropped_overload`.
- Shutdown (inbox closed): trades still held behind an unresolved hole are not written: a
  restart back-fills from the vault's last id, which covers them in order. A running backfill
  is abandoned for the same reason.
- Disk full (any failed append, `VaultWriteError`): the appender has cut the file back to its
  last complete line, so nothing of the batch is on disk. The batch stays in memory and is
  retried with capped backoff while the inbox keeps being read (new trades are held by the
  sequencer, up to `max_held_while_blocked`; past that they are dropped and the REST backfill
  recovers them once writing works again). The actor does not fail: a restart could not help
  and would only burn the group's restart budget. Health: state `recovering`, `write_errors`,
  `last_error` naming the file and "disk full". Quarantine lines that cannot be written are
  counted (`quarantine_write_errors`) and dropped: capture matters more than rejected input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path
from typing import Any

import orjson
import trio

from rq_actors.actors.feed import LiveFeed
from rq_actors.config import Config
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.okx.trades import Reject, parse_trade_row
from rq_actors.core.timefmt import MS_PER_DAY
from rq_actors.core.trades.backfill_plan import Fetched
from rq_actors.core.trades.intake import (
    MAX_HELD,
    Count,
    Effect,
    Fetch,
    Gap,
    Problem,
    RejectedRow,
    State,
    TradeIntake,
    Write,
)
from rq_actors.core.trades.record import encode_trade
from rq_actors.io.backfill import fetch_history
from rq_actors.io.health import HealthReporter
from rq_actors.io.rest import OkxRest
from rq_actors.io.vault.files import JsonlAppender, VaultWriteError
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.io.vault.quarantine import QuarantineLog
from rq_actors.io.vault.trade_files import restore_last_trade_id
from rq_actors.messages import DurableTrades, Trade, TradeFrame, TradeInbox


class TradeWriterActor:
    def __init__(
        self,
        inst_id: str,
        config: Config,
        meta: InstrumentMeta,
        inbox: trio.MemoryReceiveChannel[TradeInbox],
        feeds: Sequence[LiveFeed],
        paths: VaultPaths,
        quarantine: QuarantineLog,
        health: HealthReporter,
        rest: OkxRest,
        *,
        reorder_window_s: float = 1.0,
        backfill_timeout_s: float = 60.0,
        max_batch_frames: int = 512,
        disk_retry_initial_s: float = 0.25,
        disk_retry_max_s: float = 5.0,
        max_held_while_blocked: int = MAX_HELD,
        max_held_trades: int = MAX_HELD,
    ) -> None:
        self._inst_id = inst_id
        self._meta = meta
        self._inbox = inbox
        self._feeds = list(feeds)
        self._paths = paths
        self._quarantine = quarantine
        self._health = health
        self._rest = rest
        self._channel = config.exchange.trades_channel
        self._aggregated = self._channel == "trades"
        self._backfill_timeout_s = backfill_timeout_s
        self._max_batch_frames = max_batch_frames
        self._out = JsonlAppender()

        def make_intake(last_id: int | None) -> TradeIntake:
            return TradeIntake(
                last_id,
                aggregated=self._aggregated,
                reorder_window_s=reorder_window_s,
                disk_retry_initial_s=disk_retry_initial_s,
                disk_retry_max_s=disk_retry_max_s,
                max_held=max_held_trades,
                max_held_while_blocked=max_held_while_blocked,
            )

        self._make_intake = make_intake
        self._intake = make_intake(None)
        self._finished: tuple[Fetch, Fetched] | None = None
        self._wake: trio.CancelScope | None = None
        self._day_files: dict[int, Path] = {}  # UTC day number -> that day's trade file

    @property
    def last_trade_id(self) -> int | None:
        return self._intake.last_id

    async def run(self) -> None:
        self._health.set_state("starting")
        self._intake = self._make_intake(restore_last_trade_id(self._paths, self._inst_id))
        try:
            async with trio.open_nursery() as nursery:
                self._health.set_state("running")
                await self._loop(nursery)
                nursery.cancel_scope.cancel()  # abandon a running backfill (see module doc)
        finally:
            for count in self._intake.stop():
                self._health.incr(count.name, count.n)
            self._out.sync()
            self._out.close()
        self._health.set_state("stopped")

    async def _loop(self, nursery: trio.Nursery) -> None:
        intake = self._intake
        while True:
            self._apply_finished()
            self._step(nursery)
            deadline = intake.deadline()
            try:
                if deadline == math.inf and not intake.fetching:
                    # nothing can wake us but the inbox: no cancel scope to pay for
                    received: TradeInbox | None = await self._inbox.receive()
                else:
                    received = await self._receive_until(deadline)
            except trio.EndOfChannel:
                self._apply_finished()
                self._step(nursery, closing=True)
                return
            if received is None:
                continue  # a hole's wait ran out or a backfill finished: `_step` acts
            batch = [received]
            while len(batch) < self._max_batch_frames:
                try:
                    batch.append(self._inbox.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            self._handle(batch)

    async def _receive_until(self, deadline: float) -> TradeInbox | None:
        with trio.CancelScope(deadline=deadline) as scope:
            self._wake = scope
            try:
                return await self._inbox.receive()
            finally:
                self._wake = None
        return None

    def _apply_finished(self) -> None:
        if self._finished is not None:
            fetch, fetched = self._finished
            self._finished = None
            self._intake.on_backfill(fetch, fetched)

    def _step(self, nursery: trio.Nursery, *, closing: bool = False) -> None:
        """Carry out the intake's effects until it has nothing more to do now."""
        while True:
            effects = self._intake.poll(trio.current_time(), closing=closing)
            if not effects:
                return
            for effect in effects:
                self._do(effect, nursery)

    def _do(self, effect: Effect, nursery: trio.Nursery) -> None:
        health = self._health
        if isinstance(effect, Write):
            self._write(effect.trades)
        elif isinstance(effect, Count):
            health.incr(effect.name, effect.n)
        elif isinstance(effect, State):
            health.set_state(effect.state)
        elif isinstance(effect, Problem):
            health.error(effect.message)
        elif isinstance(effect, Fetch):
            nursery.start_soon(self._backfill, effect)
        elif isinstance(effect, Gap):
            self._quarantine.write(
                "",
                f"trades {effect.from_id}..{effect.to_id} not recoverable from REST history: "
                f"{effect.why}",
                ts_ms=effect.ts_ms,  # dated by the trade after the gap
                kind="gap",
                health=health,
                from_trade_id=str(effect.from_id),
                to_trade_id=str(effect.to_id),
            )
        elif isinstance(effect, RejectedRow):
            self._quarantine.write(_raw(effect.row), effect.reason, health=health)

    def _handle(self, batch: list[TradeInbox]) -> None:
        now = trio.current_time()
        for message in batch:
            if isinstance(message, TradeFrame):
                self._health.incr("messages_in")
                self._intake.offer(self._validate(message), now)
            else:
                self._intake.on_connection(message.endpoint, message.state)

    def _validate(self, frame: TradeFrame) -> list[Trade]:
        if frame.channel != self._channel:
            reason = f"channel {frame.channel!r} is not the configured {self._channel!r}"
            self._quarantine.write(frame.raw, reason, health=self._health)
            return []
        if not frame.rows:
            self._quarantine.write(frame.raw, "no trade rows", health=self._health)
            return []
        trades: list[Trade] = []
        for index, row in enumerate(frame.rows):
            parsed = parse_trade_row(row, self._inst_id, aggregated=self._aggregated)
            if isinstance(parsed, Reject):
                where = f" (row {index})" if len(frame.rows) > 1 else ""
                self._quarantine.write(
                    frame.raw, parsed.reason + where, ts_ms=parsed.ts_ms, health=self._health
                )
            else:
                trades.append(parsed)
        return trades

    async def _backfill(self, fetch: Fetch) -> None:
        deadline = trio.current_time() + self._backfill_timeout_s
        fetched = await fetch_history(
            self._rest, self._inst_id, floor=fetch.floor, upper=fetch.upper, deadline=deadline
        )
        self._finished = (fetch, fetched)
        if self._wake is not None:
            self._wake.cancel()

    def _write(self, trades: list[Trade]) -> None:
        """Append `trades` in order, one write per daily file; offer what became durable."""
        done = 0
        error: str | None = None
        try:
            for day, group in groupby(trades, key=lambda t: t.ts_ms // MS_PER_DAY):
                lines = [encode_trade(t, self._meta) for t in group]
                self._out.append(self._day_file(day), lines)
                done += len(lines)
        except VaultWriteError as exc:
            error = str(exc)
        backfilled = self._intake.written(done, error, trio.current_time())
        self._delivered(trades[:done] if error else trades, backfilled)

    def _day_file(self, day: int) -> Path:
        # a Path per batch (pathlib, strftime) was a hot spot; a day's file never changes
        path = self._day_files.get(day)
        if path is None:
            if len(self._day_files) > 4:  # only today and yesterday are ever written to
                self._day_files.clear()
            path = self._day_files[day] = self._paths.trades_file(self._inst_id, day * MS_PER_DAY)
        return path

    def _delivered(self, trades: list[Trade], backfilled: int) -> None:
        if not trades:
            return
        self._health.incr("trades_written", len(trades))
        self._health.incr("batches")
        if backfilled:
            self._health.incr("backfilled", backfilled)
        self._health.observe_event_time(max(t.ts_ms for t in trades))
        batch = DurableTrades(self._inst_id, tuple(trades))
        for feed in self._feeds:
            feed.offer(batch)


def _raw(row: Any) -> str:
    try:
        return orjson.dumps(row).decode()
    except TypeError:
        return repr(row)
