"""The trade writer's decisions as one synchronous state machine (pure: no I/O, no trio).

Inputs: validated frame trades (`offer`), connection events (`on_connection`), backfill results
(`on_backfill`), write results (`written`) and the time, always passed in. Output: `poll(now)`
returns the effects to carry out now, in order; the actor (`rq_actors.actors.trade_writer`)
carries them out and reports back. The rules (SPEC §5):

- Order and exactly-once come from the `TradeSequencer`: a trade is written only when nothing
  can be missing before it.
- A hole waits `reorder_window_s` after the trade behind it arrived (a late copy may still come,
  e.g. from the other connection of a make-before-break switch); then `Fetch(floor, upper)`
  asks for REST history. While a fetch runs nothing is written, so recovered trades land first.
  What REST could not recover becomes a `Gap`.
- After a reconnect on `trades-all` the history from the newest trade down to the vault's last
  id is fetched at once (`upper=None`); on the aggregated `trades` channel the first live trade
  after the reconnect exposes the hole instead (REST fills are re-aggregated, see `backfill`).
- A failed write keeps the unwritten rest, in order, and retries it with capped exponential
  backoff; nothing else is written meanwhile.

Memory bounds (issue #15, "overload has no memory bound"): held trades are the only state that
grows with the input. Past `max_held` (any time: behind a hole, during a fetch) or past
`max_held_while_blocked` (while a write is failing) every held trade is dropped and counted
(`held_dropped_overload` / `held_dropped_disk_full`); they are re-fetched from REST like any
outage (an open-ended fetch on `trades-all`, the next live trade's hole on `trades`), which is
how OKX itself treats a consumer that cannot keep up. A `Write` carries at most what was held,
so the whole intake holds at most `max_held` trades plus one frame's rows.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from rq_actors.core.trades.backfill_plan import Fetched, aggregate_fills, drop_covered, uncovered
from rq_actors.core.trades.sequencer import NO_WAIT, Released, TradeSequencer
from rq_actors.messages import HealthState, Trade

# ~390 bytes per held trade (tracemalloc, CPython 3.11: the `Trade`, its px/sz strings, the
# hold record and the dict slot): the default cap keeps held trades under ~80 MB however long a
# fetch or a full disk lasts.
MAX_HELD = 200_000


# ---- effects --------------------------------------------------------------------------------


@attrs.frozen
class Write:
    """Append `trades` in order; report with `written(done, error, now)`."""

    trades: list[Trade]


@attrs.frozen
class Fetch:
    """Start a REST backfill of ids `floor < id <= upper` (`upper=None`: up to the newest)."""

    floor: int
    upper: int | None


@attrs.frozen
class Gap:
    """Ids `from_id … to_id` are not recoverable; dated by the trade after them, if known."""

    from_id: int
    to_id: int
    why: str
    ts_ms: int | None


@attrs.frozen
class RejectedRow:
    """A REST row that failed validation: quarantine it."""

    row: Any
    reason: str


@attrs.frozen
class Count:
    name: str
    n: int = 1


@attrs.frozen
class State:
    state: HealthState


@attrs.frozen
class Problem:
    message: str


Effect = Write | Fetch | Gap | RejectedRow | Count | State | Problem


class TradeIntake:
    def __init__(
        self,
        last_id: int | None,
        *,
        aggregated: bool,
        reorder_window_s: float = 1.0,
        disk_retry_initial_s: float = 0.25,
        disk_retry_max_s: float = 5.0,
        max_held: int = MAX_HELD,
        max_held_while_blocked: int = MAX_HELD,
    ) -> None:
        self.aggregated = aggregated
        self.endpoint = "public" if aggregated else "business"
        self._seq = TradeSequencer(last_id, window_s=reorder_window_s)
        self._window_s = reorder_window_s
        self._retry_initial = disk_retry_initial_s
        self._retry_max = disk_retry_max_s
        self._retry_delay = disk_retry_initial_s
        self._retry_at = 0.0
        self._max_held = max_held
        self._max_blocked = max_held_while_blocked
        self._effects: list[Effect] = []
        self._fetching: Fetch | None = None
        self._refetch = False  # fetch from the vault's last id up to the newest trade
        self._unwritten: Released | None = None  # a failed write's rest, retried first
        self._writing: Released | None = None  # handed out, result not reported yet
        self._retrying = False  # the write handed out is a failed write's retry
        self._closing = False  # the write handed out is the last attempt before stopping
        self._closing_failed = False

    @property
    def last_id(self) -> int | None:
        return self._seq.last_id

    @property
    def fetching(self) -> bool:
        return self._fetching is not None

    @property
    def held_count(self) -> int:
        return self._seq.held_count

    # ---- inputs ------------------------------------------------------------------------------

    def offer(self, trades: list[Trade], now: float) -> None:
        """Validated live trades of one frame (any order, duplicates allowed)."""
        duplicates = self._seq.offer(trades, now)
        if duplicates:
            self._effects.append(Count("duplicates_skipped", duplicates))
        held = self._seq.held_count
        if self._unwritten is not None and held > self._max_blocked:
            self._drop_held("held_dropped_disk_full")
        elif held > self._max_held:
            self._drop_held("held_dropped_overload")

    def on_connection(self, endpoint: str, state: str) -> None:
        if endpoint == self.endpoint and state == "up" and not self.aggregated:
            self._refetch = True

    def on_backfill(self, fetch: Fetch, fetched: Fetched) -> None:
        """The result of the running `Fetch`. Nothing was released while it ran, so
        `fetch.floor` is still the accounted-for id and every held trade lies above it."""
        assert fetch == self._fetching, "a backfill result nobody asked for"
        self._fetching = None
        self._effects.append(Count("rest_requests", fetched.requests))
        self._effects.extend(RejectedRow(row, reason) for row, reason in fetched.rejects)
        if fetched.error is not None:
            self._effects.append(Problem(f"trade backfill incomplete: {fetched.error}"))
        self._effects.append(State("running"))
        floor, upper = fetch.floor, fetch.upper
        fills = fetched.fills
        if upper is None:  # after a reconnect (trades-all only): an open-ended fetch
            self._seq.offer(fills, NO_WAIT, from_rest=True)
            if fetched.complete and fetched.top is not None:
                self._seq.settle_through(fetched.top)
            return
        held = self._seq.held_trades()
        if self.aggregated:
            fills = aggregate_fills(drop_covered(fills, held))
        if not fetched.complete:
            gap_to = upper if fetched.lowest is None else fetched.lowest - 1
            # Live trades that arrived during the fetch (e.g. from the other connection)
            # are not missing, even inside the range REST could not serve.
            for from_id, to_id in uncovered(floor + 1, gap_to, held):
                after = next((t for t in held if t.trade_id > to_id), None)
                ts_ms = None if after is None else after.ts_ms
                why = fetched.error or "unknown"
                self._effects.append(Gap(from_id, to_id, why, ts_ms))
        self._seq.offer(fills, NO_WAIT, from_rest=True)
        # Paged without interruption from `upper` down to the gap (or to the floor): ids the
        # answer lacked in that range do not exist.
        self._seq.settle_through(upper)

    def written(self, done: int, error: str | None, now: float) -> int:
        """The outcome of the last `Write`: its first `done` trades are on disk (all of them
        when `error` is None). Returns how many of those came from REST."""
        released = self._writing
        assert released is not None, "a write result nobody asked for"
        self._writing = None
        trades = released.trades
        if error is None:
            if self._retrying:
                self._retry_delay = self._retry_initial
                self._effects.append(State("running"))
            return released.backfilled
        self._closing_failed = self._closing
        rest = trades[done:]
        # `backfilled` is a count, not per trade: the retried part carries it (a split across
        # files happens only at midnight, and only this health counter can be off).
        carried = min(released.backfilled, len(rest))
        self._unwritten = Released(rest, carried)
        delay = self._retry_delay
        self._retry_at = now + delay
        self._retry_delay = min(delay * 2, self._retry_max)
        self._effects.append(Count("write_errors"))
        self._effects.append(State("recovering"))
        self._effects.append(
            Problem(f"{error}; {len(rest)} trades kept in memory, retry in {delay:g} s")
        )
        return released.backfilled - carried

    # ---- decisions ---------------------------------------------------------------------------

    def poll(self, now: float, *, closing: bool = False) -> list[Effect]:
        """What to do now. At most one `Write` at a time: report it before polling again.
        `closing` (the inbox ended): one last attempt to write, no new fetch."""
        assert self._writing is None, "poll before the last write was reported"
        effects, self._effects = self._effects, []
        if self._fetching is not None or (closing and self._closing_failed):
            return effects
        if self._unwritten is not None:
            if not closing and now < self._retry_at:
                return effects
            pending, self._unwritten = self._unwritten, None
            return [*effects, self._hand_out(pending, closing, retrying=True)]
        released = self._seq.release()
        if released.trades:
            return [*effects, self._hand_out(released, closing, retrying=False)]
        if not closing:
            fetch = self._next_fetch(now)
            if fetch is not None:
                self._fetching = fetch
                effects += [State("recovering"), Count("backfills"), fetch]
        return effects

    def deadline(self) -> float:
        """When to poll again if no input arrives."""
        if self._unwritten is not None:
            return self._retry_at  # nothing else moves until the disk takes writes
        if self._fetching is not None:
            return math.inf  # `on_backfill` comes first
        return self._seq.deadline() or math.inf

    def stop(self) -> list[Count]:
        """Shutdown: held trades and an unwritten rest are dropped (a restart back-fills them
        from the vault's last id, in order)."""
        counts = [Count("held_dropped_at_stop", self._seq.drop_held())]
        pending = self._unwritten or self._writing
        if pending is not None:
            counts.append(Count("unwritten_dropped_at_stop", len(pending.trades)))
        return counts

    def _hand_out(self, released: Released, closing: bool, *, retrying: bool) -> Write:
        self._writing, self._closing, self._retrying = released, closing, retrying
        return Write(released.trades)

    def _next_fetch(self, now: float) -> Fetch | None:
        hole = self._seq.hole()
        if hole is not None and now >= hole.since + self._window_s:
            return Fetch(hole.from_id - 1, hole.to_id)
        if self._refetch:
            self._refetch = False
            last = self._seq.last_id
            if last is not None:
                return Fetch(last, None)
        return None

    def _drop_held(self, counter: str) -> None:
        self._effects.append(Count(counter, self._seq.drop_held()))
        if not self.aggregated:
            self._refetch = True  # the next live trade's hole would also do, if one comes
