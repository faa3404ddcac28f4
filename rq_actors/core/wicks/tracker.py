"""Untouched-wick state machine (SPEC §8.2): synchronous, I/O-free, exact.

Feeding. One call per trade, in `(ts_ms, trade_id)` order:
`on_trade(ts_ms, trade_id, price_ticks, new_wicks)`, where `new_wicks` are the wicks of the
candles this very trade made final (the candle builder finalises a window when the first trade
at or after its end arrives, so every wick reaches the tracker before any trade that may touch
it, and its `created_ms` lies in `(previous trade's ts, this trade's ts]`). A trade at or before
the cursor (the last `(ts_ms, trade_id)` processed) is a replay: it is skipped with its wicks, so
replaying an overlapping stretch of the vault is harmless.
`feed_batch(trades, wicks)` does the pairing for a whole batch (e.g. the output of
`CandleBuilder.feed(batch)`). The tracker must see exactly the trades the candle builder counts
(drop the ones it rejects as invalid from both), and the two states must be persisted together,
so that their cursors agree after a restart.

Time. Everything is decided by event time, never the wall clock. A call first brings time up to
the trade's `ts`: the 1m minute before it closes if `ts` is at or after its end, and every wick
whose `created_at + expiry` is `≤ ts` expires (so a trade exactly at the expiry instant no longer
touches it: 168 h to the millisecond counts as expired, at that instant). Then the trade is
applied.

1m candles for the touch variant. The tracker keeps the open minute's high/low/close from the
trades themselves (the same trades the candle builder sees, so it is that 1m candle): no
dependency on the order in which candles are handed over. The candle covers the whole minute,
including trades before the touch. That cannot change the variant: every `created_at` is a
minute boundary (timeframes are whole minutes dividing a day), so all trades of the minute count
for the wick, and the ones before the touch are below the tip (else they would have touched it);
the minute's high and close are those of the part from the touch on.
`tip_exact`: high == tip; else `broken`: close > tip; else `swept` (beyond by ≥ 1 tick, closed
back ≤ tip). Lower wicks mirror (low, `<`).

Events. `touched` is emitted once, when its variant is known, at the close of the touching
trade's minute: `event_time_utc` is that minute's end, `touched_at` the touching trade's time.
`near_miss` fires at the first trade that brings an untouched wick within `near_ticks` without
touching it (a trade that touches directly gives no `near_miss`). `created` is at `created_at`,
`expired` at `created_at + expiry`. Each call returns its events sorted by
`(event time, kind rank touched < expired < created < near_miss, wick order)` — wick order is
creation time, then timeframe length, then upper before lower. No event of a call is earlier
than one of the previous call, so the concatenated stream is ordered by event time and the same
for live, batch and resumed runs.

Cost. Untouched wicks sit in per-side sorted lists keyed by tip, "far" (not yet near-missed,
searched with the tip shifted by `near_ticks`) and "near": a trade pops exactly the wicks it
near-misses or touches. Closest approach is never stored per wick: see `extremes`. Expiry is a
queue in creation order. So a trade costs O(log n + events), whatever the number of wicks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs
from sortedcontainers import SortedList

from rq_actors.core.timefmt import MS_PER_HOUR, MS_PER_MINUTE
from rq_actors.core.wicks import records as rec
from rq_actors.core.wicks import state as wstate
from rq_actors.core.wicks.extremes import RunningExtreme
from rq_actors.core.wicks.live import Live, active_record, restored, saved, snapshot
from rq_actors.core.wicks.model import (
    Wick,
    WickEventKind,
    WickSnapshot,
    parse_tick,
    touch_variant,
)
from rq_actors.core.wicks.records import KIND_RANK
from rq_actors.core.wicks.state import MinuteState, TrackerSettings, TrackerState, WickState
from rq_actors.core.wicks.tips import pop_ge, pop_le
from rq_actors.errors import IncompatibleState
from rq_actors.messages import Trade

_Event = tuple[int, int, tuple[int, int, int], dict[str, Any]]


class WickTracker:
    """All wicks of one instrument: touches, near misses, expiry, active list and state."""

    def __init__(
        self,
        inst_id: str,
        tick: Decimal | str,
        *,
        expiry_hours: int = 168,
        near_ticks: int = 1,
    ) -> None:
        if expiry_hours <= 0 or near_ticks < 0:
            raise ValueError("expiry_hours must be > 0 and near_ticks ≥ 0")
        self.inst_id = inst_id
        self.tick = parse_tick(tick)
        self.fmt = rec.shared_formatter(inst_id, self.tick)
        self.expiry_hours = expiry_hours
        self.near_ticks = near_ticks
        self.expiry_ms = expiry_hours * MS_PER_HOUR
        self.cursor: tuple[int, int] | None = None
        self.skipped = 0  # replayed trades ignored (runtime counter, not state)
        self._live: dict[str, Live] = {}  # retained wicks (untouched or touched), by id
        self._by_age: deque[Live] = deque()  # retained wicks in creation order (expiry queue)
        self._pending: list[Live] = []  # touched in the open minute, variant not known yet
        self._far = {"upper": SortedList(), "lower": SortedList()}  # (tip, id), not near yet
        self._near = {"upper": SortedList(), "lower": SortedList()}  # (tip, id), near-missed
        self._hi = RunningExtreme(highest=True)
        self._lo = RunningExtreme(highest=False)
        self._m_start: int | None = None  # the open 1m minute and its high/low/close
        self._m_high = self._m_low = self._m_close = 0

    # ---------------------------------------------------------------- feeding

    def feed(self, trade: Trade, new_wicks: Iterable[Wick] = ()) -> list[dict[str, Any]]:
        """`on_trade` for a `messages.Trade` (its price must be on the tick grid)."""
        price = self.fmt.ticks(trade.px)
        return self.on_trade(trade.ts_ms, trade.trade_id, price, new_wicks)

    def feed_batch(
        self, trades: Iterable[Trade], new_wicks: Iterable[Wick] = ()
    ) -> list[dict[str, Any]]:
        """A batch of trades with the wicks of every candle the batch made final (for example
        the wicks of `CandleBuilder.feed(batch)`). Each wick goes with the first new trade at or
        after its `created_at`, the trade that made its candle final. Wicks created at or before
        the cursor's time are replays of what this tracker already has and are dropped."""
        floor = -1 if self.cursor is None else self.cursor[0]
        queue = sorted((w for w in new_wicks if w.created_ms > floor), key=lambda w: w.order_key)
        out: list[dict[str, Any]] = []
        i = 0
        for trade in trades:
            j = i
            while j < len(queue) and queue[j].created_ms <= trade.ts_ms:
                j += 1
            if self.cursor is not None and (trade.ts_ms, trade.trade_id) <= self.cursor:
                self.skipped += 1
                continue
            out.extend(self.feed(trade, queue[i:j]))
            i = j
        if i < len(queue):
            raise ValueError(f"wick {queue[i].id} was closed by no trade of the batch")
        return out

    def on_trade(
        self, ts_ms: int, trade_id: int, price: int, new_wicks: Iterable[Wick] = ()
    ) -> list[dict[str, Any]]:
        """Process one trade (price in ticks) and the wicks it made final; return the events."""
        if self.cursor is not None and (ts_ms, trade_id) <= self.cursor:
            self.skipped += 1
            return []
        fresh = sorted(new_wicks, key=lambda w: w.order_key) if new_wicks else ()
        if fresh:
            self._check_new(fresh, ts_ms)
        events: list[_Event] = []
        if self._m_start is not None and ts_ms >= self._m_start + MS_PER_MINUTE:
            self._close_minute(events)
        for w in fresh:
            self._add(w, events)
        self._expire(ts_ms, events)
        self._apply_trade(ts_ms, trade_id, price, events)
        self.cursor = (ts_ms, trade_id)
        if not events:
            return []
        events.sort(key=lambda e: e[:3])
        return [e[3] for e in events]

    def _check_new(self, fresh: Sequence[Wick], ts_ms: int) -> None:
        floor = self.cursor[0] if self.cursor is not None else None
        for w in fresh:
            if w.inst_id != self.inst_id:
                raise ValueError(f"wick {w.id} fed to the tracker of {self.inst_id}")
            if w.created_ms > ts_ms or (floor is not None and w.created_ms <= floor):
                raise ValueError(
                    f"wick {w.id} created at {w.created_ms} arrives with a trade at {ts_ms} "
                    f"(previous trade at {floor}): it must arrive with the trade that closed it"
                )
            if w.id in self._live:
                raise ValueError(f"wick {w.id} created twice")

    def _add(self, w: Wick, events: list[_Event]) -> None:
        live = Live(w, w.created_ms + self.expiry_ms)
        self._live[w.id] = live
        # `fresh` is in wick order and created after every earlier wick (checked), so the queue
        # stays in wick order: it is both the expiry queue and the order of `live_wicks()`
        self._by_age.append(live)
        self._far[w.side].add((w.tip, w.id))
        self._hi.open_bucket(w.created_ms)
        self._lo.open_bucket(w.created_ms)
        fields = {"expires_at": self.fmt.minute(live.expires_ms)}
        self._emit(events, "created", w.created_ms, live, fields)

    def _close_minute(self, events: list[_Event]) -> None:
        assert self._m_start is not None
        end = self._m_start + MS_PER_MINUTE
        for live in self._pending:
            w = live.wick
            live.variant = touch_variant(w.side, w.tip, self._m_high, self._m_low, self._m_close)
            self._emit(events, "touched", end, live, self._touched_fields(live))
        self._pending.clear()
        self._m_start = None

    def _touched_fields(self, live: Live) -> dict[str, Any]:
        assert self._m_start is not None and live.touched_ms is not None
        return {
            "touched_at": rec.iso_ms_or_none(live.touched_ms),
            "trade_id": str(live.trade_id),
            "price": rec.price_or_none(live.touch_price, self.fmt),
            "variant": live.variant,
            "minute_open_utc": self.fmt.minute(self._m_start),
            "minute_high": self.fmt.price(self._m_high),
            "minute_low": self.fmt.price(self._m_low),
            "minute_close": self.fmt.price(self._m_close),
        }

    def _expire(self, now_ms: int, events: list[_Event]) -> None:
        queue = self._by_age
        if not queue or queue[0].expires_ms > now_ms:
            return
        while queue and queue[0].expires_ms <= now_ms:
            live = queue.popleft()
            w = live.wick
            # a touched wick is never still pending here: created_at and expiry are whole
            # minutes, so its touching minute ended by the expiry instant and was closed above
            del self._live[w.id]
            if live.status != "untouched":
                continue  # a touched wick simply leaves the active window, silently
            index = self._far if live.near_ms is None else self._near
            index[w.side].remove((w.tip, w.id))
            extreme = self._extreme(w)
            live.status = "expired"
            fields = {
                "tip_distance_ticks": rec.tip_distance(w.side, w.tip, extreme),
                "fill_fraction": rec.fill_fraction(w.side, w.tip, w.base, extreme),
            }
            self._emit(events, "expired", live.expires_ms, live, fields)
        if queue:
            self._hi.trim_before(queue[0].wick.created_ms)
            self._lo.trim_before(queue[0].wick.created_ms)
        else:
            self._hi.clear()
            self._lo.clear()

    def _apply_trade(self, ts_ms: int, trade_id: int, price: int, events: list[_Event]) -> None:
        if self._m_start is None:
            self._m_start = ts_ms - ts_ms % MS_PER_MINUTE
            self._m_high = self._m_low = price
        else:
            self._m_high = max(self._m_high, price)
            self._m_low = min(self._m_low, price)
        self._m_close = price
        self._hi.push(price)
        self._lo.push(price)
        near = self.near_ticks
        # upper: near-miss or touch when tip ≤ price + near; touch when tip ≤ price
        far_hits = pop_le(self._far["upper"], price + near)
        for _, wid in far_hits:
            live = self._live[wid]
            if live.wick.tip <= price:
                self._touch(live, ts_ms, trade_id, price)
            else:
                self._near_miss(live, ts_ms, trade_id, price, events)
        for _, wid in pop_le(self._near["upper"], price):
            self._touch(self._live[wid], ts_ms, trade_id, price)
        # lower: the mirror image
        for _, wid in pop_ge(self._far["lower"], price - near):
            live = self._live[wid]
            if live.wick.tip >= price:
                self._touch(live, ts_ms, trade_id, price)
            else:
                self._near_miss(live, ts_ms, trade_id, price, events)
        for _, wid in pop_ge(self._near["lower"], price):
            self._touch(self._live[wid], ts_ms, trade_id, price)

    def _touch(self, live: Live, ts_ms: int, trade_id: int, price: int) -> None:
        live.status = "touched"
        live.touched_ms, live.trade_id, live.touch_price = ts_ms, trade_id, price
        self._pending.append(live)

    def _near_miss(
        self, live: Live, ts_ms: int, trade_id: int, price: int, events: list[_Event]
    ) -> None:
        w = live.wick
        live.near_ms = ts_ms
        self._near[w.side].add((w.tip, w.id))
        extreme = self._extreme(w)
        fields = {
            "trade_id": str(trade_id),
            "price": self.fmt.price(price),
            "tip_distance_ticks": rec.tip_distance(w.side, w.tip, extreme),
            "fill_fraction": rec.fill_fraction(w.side, w.tip, w.base, extreme),
        }
        self._emit(events, "near_miss", ts_ms, live, fields)

    def _emit(
        self,
        events: list[_Event],
        kind: WickEventKind,
        at_ms: int,
        live: Live,
        fields: dict[str, Any],
    ) -> None:
        w = live.wick
        record = rec.event_record(kind, at_ms, w, self.fmt, fields)
        events.append((at_ms, KIND_RANK[kind], w.order_key, record))

    def _extreme(self, w: Wick) -> int | None:
        """Highest (upper) / lowest (lower) price since the wick was created, while untouched."""
        return (self._hi if w.side == "upper" else self._lo).value(w.created_ms)

    # ---------------------------------------------------------------- reading

    @property
    def clock_ms(self) -> int | None:
        """Event time of the tracker: the last trade's ts (None before the first trade)."""
        return None if self.cursor is None else self.cursor[0]

    def live_wicks(self) -> list[Live]:
        """Retained wicks (created within `expiry_hours` of the clock), in wick order."""
        return list(self._by_age)  # creation order is wick order (see `_add`, `_restore_wicks`)

    def pending(self) -> list[Live]:
        """Touched in the open minute, variant not known yet."""
        return list(self._pending)

    def extreme_of(self, live: Live) -> int | None:
        """Closest price seen (max for upper, min for lower) while untouched; the touch price
        once touched."""
        if live.status == "untouched":
            return self._extreme(live.wick)
        return live.touch_price

    def active_wicks(self) -> list[dict[str, Any]]:
        """`wicks_active.json` entries: every non-expired wick created within `expiry_hours`
        of the clock (untouched and touched), in wick order (see `live.active_record`)."""
        return [active_record(lv, self.extreme_of(lv), self.fmt) for lv in self.live_wicks()]

    def snapshots(self) -> list[WickSnapshot]:
        """Input for `signals.find_hidden_signals` (retained wicks, wick order)."""
        return [snapshot(lv) for lv in self.live_wicks()]

    # ---------------------------------------------------------------- state

    def settings(self) -> TrackerSettings:
        return TrackerSettings(self.inst_id, self.fmt.price(1), self.expiry_hours, self.near_ticks)

    def export_state(self) -> TrackerState:
        """Everything a resumed tracker needs (see `rq_actors.core.wicks.state`)."""
        minute = (
            None
            if self._m_start is None
            else MinuteState(self._m_start, self._m_high, self._m_low, self._m_close)
        )
        return TrackerState(
            self.settings(),
            self.cursor,
            minute,
            tuple(saved(lv, self.extreme_of(lv)) for lv in self._by_age),
        )

    def restore_state(self, state: TrackerState) -> None:
        """Resume from `export_state()` of a tracker with the same instrument and settings (this
        one must be fresh). Raises `IncompatibleState` for a state that cannot be resumed."""
        if self.cursor is not None or self._live:
            raise ValueError("restore needs a fresh tracker")
        if state.settings != self.settings():
            raise IncompatibleState(
                f"wick state for {self.inst_id} was written with {state.settings}, expected "
                f"{self.settings()}; rebuild from the vault"
            )
        lives = [self._live_from(entry, state.minute) for entry in state.wicks]
        self.cursor = state.cursor
        if state.minute is not None:
            m = state.minute
            self._m_start, self._m_high, self._m_low, self._m_close = attrs.astuple(m)
        self._restore_wicks(
            lives, {lv.wick.id: e.extreme for lv, e in zip(lives, state.wicks, strict=True)}
        )

    def state(self) -> dict[str, Any]:
        """The persisted state as a JSON-ready document."""
        return wstate.to_json(self.export_state(), self.fmt)

    def restore(self, doc: Mapping[str, Any]) -> None:
        """`restore_state` from a `state()` document (`IncompatibleState`: rebuild instead)."""
        self.restore_state(wstate.from_json(doc, self.settings(), self.fmt))

    def _live_from(self, entry: WickState, minute: MinuteState | None) -> Live:
        lv = restored(self.inst_id, entry, self.expiry_ms)
        if lv.status == "touched" and lv.variant is None:
            # a pending touch belongs to the open minute, or it could never resolve
            assert lv.touched_ms is not None
            start = None if minute is None else minute.start_ms
            if start is None or not start <= lv.touched_ms < start + MS_PER_MINUTE:
                raise IncompatibleState(
                    f"wick state: {lv.wick.id} touch is pending outside the open minute"
                )
        return lv

    def _restore_wicks(self, lives: list[Live], extremes: dict[str, int | None]) -> None:
        """Install restored wicks (any order); `extremes` holds each untouched wick's extreme."""
        his: list[tuple[int, int | None]] = []
        los: list[tuple[int, int | None]] = []
        for live in sorted(lives, key=lambda lv: lv.wick.order_key):
            w = live.wick
            if live.status == "touched" and live.variant is None:
                self._pending.append(live)
            self._live[w.id] = live
            self._by_age.append(live)
            if live.status == "untouched":
                index = self._far if live.near_ms is None else self._near
                index[w.side].add((w.tip, w.id))
                (his if w.side == "upper" else los).append((w.created_ms, extremes[w.id]))
        self._hi = RunningExtreme.from_values(his, highest=True)
        self._lo = RunningExtreme.from_values(los, highest=False)
