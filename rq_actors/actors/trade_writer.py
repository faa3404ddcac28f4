"""The trade writer: every trade of one instrument exactly once in the vault (SPEC §3, §5).

Receive frames from the socket actor, validate (bad rows → quarantine), order and de-duplicate
(`TradeSequencer`), append to the daily file of each trade's event-time date, then offer the
durable batch to the derived actors. The rules live in pure modules; this is the shell.

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
- Counters: `trades_written`, `batches`, `duplicates_skipped` (live copies of ids already
  written or held), `backfilled` (written from REST), `backfills`, `rest_requests`, `gaps`,
  `quarantined`, `messages_in`, `held_dropped_at_stop`.
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
from typing import Any

import orjson
import trio

from rq_actors.actors.feed import LiveFeed
from rq_actors.config import Config
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.okx.trades import Reject, parse_trade_row
from rq_actors.core.timefmt import MS_PER_DAY
from rq_actors.core.trades.record import encode_trade
from rq_actors.core.trades.sequencer import NO_WAIT, Released, TradeSequencer
from rq_actors.io.backfill import (
    Fetched,
    aggregate_fills,
    drop_covered,
    fetch_history,
    uncovered,
)
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
        max_held_while_blocked: int = 200_000,
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
        self._endpoint = "public" if self._aggregated else "business"
        self._reorder_window_s = reorder_window_s
        self._backfill_timeout_s = backfill_timeout_s
        self._max_batch_frames = max_batch_frames
        self._out = JsonlAppender()
        self._seq = TradeSequencer(None, window_s=reorder_window_s)
        self._backfilling = False
        self._reconnect_pending = False
        self._finished: tuple[int, int | None, Fetched] | None = None  # (floor, upper, result)
        self._wake: trio.CancelScope | None = None
        # Released by the sequencer but not on disk (a write failed); retried at `_retry_at`.
        self._unwritten: Released | None = None
        self._retry_at = 0.0
        self._disk_retry_initial_s = disk_retry_initial_s
        self._disk_retry_max_s = disk_retry_max_s
        self._retry_delay = disk_retry_initial_s
        self._max_held_while_blocked = max_held_while_blocked

    @property
    def last_trade_id(self) -> int | None:
        return self._seq.last_id

    async def run(self) -> None:
        self._health.set_state("starting")
        self._seq = TradeSequencer(
            restore_last_trade_id(self._paths, self._inst_id), window_s=self._reorder_window_s
        )
        try:
            async with trio.open_nursery() as nursery:
                self._health.set_state("running")
                await self._loop(nursery)
                nursery.cancel_scope.cancel()  # abandon a running backfill (see module doc)
        finally:
            self._health.incr("held_dropped_at_stop", self._seq.drop_held())
            if self._unwritten is not None:  # the disk never came back: a restart back-fills
                self._health.incr("unwritten_dropped_at_stop", len(self._unwritten.trades))
            self._out.sync()
            self._out.close()
        self._health.set_state("stopped")

    async def _loop(self, nursery: trio.Nursery) -> None:
        while True:
            self._apply_finished()
            if not self._backfilling and self._write_unwritten() and self._write_released():
                self._maybe_start_backfill(nursery)
            if self._unwritten is not None:
                deadline = self._retry_at  # nothing else moves until the disk takes writes
            elif self._backfilling:
                deadline = math.inf
            else:
                deadline = self._seq.deadline() or math.inf
            with trio.CancelScope(deadline=deadline) as scope:
                self._wake = scope
                try:
                    first = await self._inbox.receive()
                except trio.EndOfChannel:
                    self._apply_finished()
                    if not self._backfilling and self._write_unwritten(now=True):
                        self._write_released()
                    return
                finally:
                    self._wake = None
            if scope.cancelled_caught:
                continue  # a hole's wait ran out or a backfill finished: the loop top acts
            batch = [first]
            while len(batch) < self._max_batch_frames:
                try:
                    batch.append(self._inbox.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            self._handle(batch)

    def _apply_finished(self) -> None:
        if self._finished is None:
            return
        floor, upper, fetched = self._finished
        self._finished = None
        self._backfilling = False
        self._apply_backfill(floor, upper, fetched)
        self._health.set_state("running")

    def _maybe_start_backfill(self, nursery: trio.Nursery) -> None:
        hole = self._seq.hole()
        if hole is not None and trio.current_time() >= hole.since + self._reorder_window_s:
            self._start_backfill(nursery, hole.from_id - 1, hole.to_id)
        elif self._reconnect_pending:
            self._reconnect_pending = False
            last = self._seq.last_id
            if last is not None:
                self._start_backfill(nursery, last, None)

    def _handle(self, batch: list[TradeInbox]) -> None:
        now = trio.current_time()
        for message in batch:
            if isinstance(message, TradeFrame):
                self._health.incr("messages_in")
                trades = self._validate(message)
                self._health.incr("duplicates_skipped", self._seq.offer(trades, now))
                if self._unwritten is not None and (
                    self._seq.held_count > self._max_held_while_blocked
                ):
                    # Bounded memory while the disk is full; REST recovers these afterwards.
                    self._health.incr("held_dropped_disk_full", self._seq.drop_held())
            elif (
                message.endpoint == self._endpoint
                and message.state == "up"
                and not self._aggregated
            ):
                self._reconnect_pending = True

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

    def _start_backfill(self, nursery: trio.Nursery, floor: int, upper: int | None) -> None:
        self._backfilling = True
        self._health.set_state("recovering")
        nursery.start_soon(self._backfill, floor, upper)

    async def _backfill(self, floor: int, upper: int | None) -> None:
        self._health.incr("backfills")
        deadline = trio.current_time() + self._backfill_timeout_s
        fetched = await fetch_history(
            self._rest, self._inst_id, floor=floor, upper=upper, deadline=deadline
        )
        self._health.incr("rest_requests", fetched.requests)
        self._finished = (floor, upper, fetched)
        if self._wake is not None:
            self._wake.cancel()

    def _apply_backfill(self, floor: int, upper: int | None, fetched: Fetched) -> None:
        """Hand what REST recovered to the sequencer; record what it could not recover.

        Nothing was released while the fetch ran, so `floor` is still the sequencer's
        accounted-for id and every held trade lies above it."""
        for row, reason in fetched.rejects:
            self._quarantine.write(_raw(row), reason, health=self._health)
        if fetched.error is not None:
            self._health.error(f"trade backfill incomplete: {fetched.error}")
        fills = fetched.fills
        if upper is None:  # after a reconnect (trades-all only): an open-ended fetch
            self._seq.offer(fills, NO_WAIT, from_rest=True)
            if fetched.complete and fetched.top is not None:
                self._seq.settle_through(fetched.top)
            return
        held = self._seq.held_trades()
        if self._aggregated:
            fills = aggregate_fills(drop_covered(fills, held))
        if not fetched.complete:
            gap_to = upper if fetched.lowest is None else fetched.lowest - 1
            # Live trades that arrived during the fetch (e.g. from the other connection)
            # are not missing, even inside the range REST could not serve.
            for from_id, to_id in uncovered(floor + 1, gap_to, held):
                after = next((t for t in held if t.trade_id > to_id), None)
                self._record_gap(from_id, to_id, fetched.error or "unknown", after)
        self._seq.offer(fills, NO_WAIT, from_rest=True)
        # Paged without interruption from `upper` down to the gap (or to the floor): ids the
        # answer lacked in that range do not exist.
        self._seq.settle_through(upper)

    def _record_gap(self, from_id: int, to_id: int, why: str, after: Trade | None) -> None:
        self._quarantine.write(
            "",
            f"trades {from_id}..{to_id} not recoverable from REST history: {why}",
            ts_ms=None if after is None else after.ts_ms,  # dated by the trade after the gap
            kind="gap",
            health=self._health,
            from_trade_id=str(from_id),
            to_trade_id=str(to_id),
        )

    def _write_released(self) -> bool:
        """Write what the sequencer releases now; False if the disk refused it."""
        return self._write(self._seq.release())

    def _write_unwritten(self, *, now: bool = False) -> bool:
        """Retry the batch a failed write left behind, when due; True once nothing is pending."""
        if self._unwritten is None:
            return True
        if not now and trio.current_time() < self._retry_at:
            return False
        pending, self._unwritten = self._unwritten, None
        if not self._write(pending):
            return False
        self._retry_delay = self._disk_retry_initial_s
        self._health.set_state("running")
        return True

    def _write(self, released: Released) -> bool:
        """Append `released` in order and offer what became durable; False if a write failed
        (the rest is kept in `_unwritten`, in order, for the retry)."""
        trades = released.trades
        done = 0
        try:
            # grouped by UTC day number: building the file's Path per trade was a hot spot
            for day, group in groupby(trades, key=lambda t: t.ts_ms // MS_PER_DAY):
                lines = [encode_trade(t, self._meta) for t in group]
                self._out.append(self._paths.trades_file(self._inst_id, day * MS_PER_DAY), lines)
                done += len(lines)
        except VaultWriteError as exc:
            rest = trades[done:]
            # `backfilled` is a count, not per trade: the retried part carries it (a split
            # across files happens only at midnight, and only this health counter can be off).
            carried = min(released.backfilled, len(rest))
            self._unwritten = Released(rest, carried)
            self._delivered(trades[:done], released.backfilled - carried)
            self._on_write_error(exc, len(rest))
            return False
        self._delivered(trades, released.backfilled)
        return True

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

    def _on_write_error(self, exc: VaultWriteError, pending: int) -> None:
        delay = self._retry_delay
        self._retry_at = trio.current_time() + delay
        self._retry_delay = min(delay * 2, self._disk_retry_max_s)
        self._health.incr("write_errors")
        self._health.set_state("recovering")
        self._health.error(f"{exc}; {pending} trades kept in memory, retry in {delay:g} s")


def _raw(row: Any) -> str:
    try:
        return orjson.dumps(row).decode()
    except TypeError:
        return repr(row)
