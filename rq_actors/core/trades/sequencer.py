"""Exactly-once, strictly increasing trade order for one instrument (pure, no I/O, no trio).

The sequencer owns the de-duplication and continuity rules of SPEC §5:

- `last_id` is the highest trade id written to the vault. Anything at or below it is a
  duplicate, which is how replays, reconnect overlap and restarts are absorbed (the key
  `(exchange, instId, trade_id)` reduces to the id: one sequencer per instrument).
- A trade *covers* ids `trade_id - count + 1 … trade_id` (`count` is 1 except on the aggregated
  `trades` channel). It is released when nothing can be missing before it: its first covered id
  is `last_id + 1`, or every id up to it is *settled* (a complete REST answer covered the range,
  so ids it lacked do not exist, or a gap was recorded for them).
- Otherwise it is held, so a trade that arrives late (the other connection during
  make-before-break, a reordered frame) still lands in order. The oldest hole waits until
  `window_s` after the blocking trade arrived (`deadline()`); then the caller back-fills it from
  REST (`hole()`), offers what it recovered and settles the range.

Time is a float passed in by the caller (trio's clock in the actor), never read here.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from rq_actors.messages import Trade

# `arrived_at` for trades that need no reorder wait (REST rows: no later copy will come).
NO_WAIT = float("-inf")


def first_covered(trade: Trade) -> int:
    """The lowest trade id a (possibly aggregated) row stands for."""
    return trade.trade_id - (trade.count or 1) + 1


@attrs.frozen
class Hole:
    """Ids `from_id … to_id` are unaccounted for below the oldest held trade (which arrived at
    `since`)."""

    from_id: int
    to_id: int
    since: float


@attrs.frozen
class Released:
    """Trades to write now, in order; `backfilled` of them came from REST."""

    trades: list[Trade]
    backfilled: int


@attrs.define
class _Held:
    trade: Trade
    arrived_at: float
    from_rest: bool


class TradeSequencer:
    def __init__(self, last_id: int | None, *, window_s: float = 1.0) -> None:
        self.last_id = last_id
        self.window_s = window_s
        self._settled = last_id if last_id is not None else 0
        self._held: dict[int, _Held] = {}

    @property
    def held_count(self) -> int:
        return len(self._held)

    def held_trades(self) -> list[Trade]:
        """The held trades, ascending (read-only view for the backfill planner)."""
        return [self._held[i].trade for i in sorted(self._held)]

    def offer(self, trades: Iterable[Trade], arrived_at: float, *, from_rest: bool = False) -> int:
        """Take trades (any order, duplicates allowed); return how many were duplicates."""
        duplicates = 0
        for trade in trades:
            if self.last_id is not None and trade.trade_id <= self.last_id:
                duplicates += 1
            elif trade.trade_id in self._held:
                duplicates += 1
            else:
                self._held[trade.trade_id] = _Held(trade, arrived_at, from_rest)
        return duplicates

    def settle_through(self, trade_id: int) -> None:
        """Every id up to `trade_id` that exists has been offered, or is recorded as a gap."""
        self._settled = max(self._settled, trade_id)

    def release(self) -> Released:
        """Pop every held trade that nothing can be missing before, in trade-id order."""
        out: list[Trade] = []
        backfilled = 0
        for trade_id in sorted(self._held):
            held = self._held[trade_id]
            # An empty vault has no predecessor: the first trade seen starts the stream.
            if self.last_id is not None:
                accounted = max(self.last_id, self._settled)
                if first_covered(held.trade) > accounted + 1:
                    break
            del self._held[trade_id]
            out.append(held.trade)
            backfilled += held.from_rest
            self.last_id = trade_id
        return Released(out, backfilled)

    def hole(self) -> Hole | None:
        """The unaccounted range below the oldest held trade (meaningful after `release`)."""
        if not self._held or self.last_id is None:
            return None
        held = self._held[min(self._held)]
        start = max(self.last_id, self._settled) + 1
        return Hole(start, first_covered(held.trade) - 1, held.arrived_at)

    def deadline(self) -> float | None:
        """When the current hole stops waiting for a late arrival and needs a REST backfill."""
        hole = self.hole()
        return None if hole is None else hole.since + self.window_s

    def drop_held(self) -> int:
        """Forget held trades (shutdown: a restart back-fills them from REST, in order)."""
        n = len(self._held)
        self._held.clear()
        return n
