"""The execution model: resting limit fades at the tip, then target, stop and time stop. Pure.

Every setup is traded once under every exit-rule set. Per trade, in `(ts, trade_id)` order:
- a resting order is cancelled by the first trade after its `order_until` (before that trade
  could fill it); it fills at its limit price (maker) on a trade at the tip (`touch`) or beyond
  it by ≥ 1 tick (`through`, the default: a trade at the tip may not reach a queued order);
- an open position exits, checked in this order on each trade (so a trade that could do both
  is read against us): the stop, at the first trade at or beyond the stop price, at that
  trade's price (taker); the target, a resting limit filled by the fill rule at its price
  (maker); the time stop, at the first trade `time_stop_min` or more after the fill, at its
  price (taker). The fill trade itself is checked against the stop;
- `no_overlap`: a setup that arrives while the same rules/exits/group has an order resting or
  a position open is recorded as `skipped_overlap` and not traded.

Cost: triggers sit in three heaps (price reached from below, from above, time), and the caller
gates on `hi_gate`/`lo_gate`/`t_gate`, so a trade that fires nothing costs three comparisons.
Excursions (MFE/MAE) are updated only when a price leaves the envelope of every open position.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from decimal import Decimal

from rq_actors.core.timefmt import MS_PER_MINUTE

from .options import ExitRules
from .outcome import Outcome, settle
from .setup import Setup

_INF = 1 << 62
# handling order of triggers fired by one trade, per item (expire before fill; stop first)
_PRIORITY = {"expire": 0, "fill": 1, "stop": 2, "target": 3, "time": 4}


class _Item:
    __slots__ = (
        "entry",
        "exits",
        "fill_ms",
        "hi",
        "key",
        "lo",
        "seq",
        "setup",
        "sign",
        "state",
        "stop_px",
        "stop_ticks",
        "target_px",
        "target_ticks",
        "until",
    )

    def __init__(self, seq: int, setup: Setup, exits: int, key: tuple[int, int, str]) -> None:
        self.seq = seq
        self.setup = setup
        self.exits = exits
        self.key = key
        self.sign = -1 if setup.fade == "short" else 1
        self.state = "resting"  # → "open" → "closed"
        self.entry = setup.tip
        self.fill_ms = 0
        self.stop_ticks = self.target_ticks = 0
        self.stop_px = self.target_px = 0
        self.lo = self.hi = 0  # lowest / highest price seen while open
        self.until = setup.order_until_ms  # the order's last valid instant


class ExecutionBook:
    """Orders and positions of every (setup, exit rules) pair; `outcomes` holds finished ones."""

    def __init__(self, exits: Sequence[ExitRules], tick: Decimal) -> None:
        self.exits = list(exits)
        self.tick = tick
        self.outcomes: list[Outcome] = []
        self._up: list[tuple[int, int, _Item, str]] = []  # fires when price ≥ level
        self._down: list[tuple[int, int, _Item, str]] = []  # fires when price ≤ -key
        self._time: list[tuple[int, int, _Item, str]] = []  # fires when ts ≥ key
        self._open: list[_Item] = []
        self._busy: dict[tuple[int, int, str], int] = {}
        self._items: dict[int, _Item] = {}  # resting or open, by seq
        self._n = 0
        self._env_hi = _INF  # every open position has seen prices in [env_lo, env_hi]
        self._env_lo = -_INF
        self.hi_gate = self.lo_gate = self.t_gate = 0
        self._gates()

    @property
    def active(self) -> int:
        """Resting orders and open positions (the book's bound: setups alive at once)."""
        return len(self._items)

    def place(self, setup: Setup) -> None:
        """Rest the setup's order under every exit-rule set, from the next trade on."""
        for ix, rules in enumerate(self.exits):
            key = (setup.rules, ix, setup.group)
            if rules.no_overlap and self._busy.get(key):
                self.outcomes.append(Outcome(setup, ix, "skipped_overlap"))
                continue
            self._n += 1
            item = _Item(self._n, setup, ix, key)
            self._busy[key] = self._busy.get(key, 0) + 1
            self._items[item.seq] = item
            through = 1 if rules.fill_rule == "through" else 0
            if item.sign < 0:
                self._push_up(setup.tip + through, item, "fill")
            else:
                self._push_down(setup.tip - through, item, "fill")
            if rules.order_ttl_min is not None:
                item.until = setup.as_of_ms + rules.order_ttl_min * MS_PER_MINUTE
            heapq.heappush(self._time, (item.until + 1, self._n, item, "expire"))
        self._gates()

    def on_trade(self, ts: int, price: int) -> None:
        """Apply one trade (price in ticks). Call it only when a gate is crossed."""
        if price > self._env_hi or price < self._env_lo:
            self._extend(price)
        fired: list[tuple[int, int, _Item, str]] = []
        up, down, time = self._up, self._down, self._time
        while up and up[0][0] <= price:
            _, _, item, kind = heapq.heappop(up)
            fired.append((item.seq, _PRIORITY[kind], item, kind))
        while down and -down[0][0] >= price:
            _, _, item, kind = heapq.heappop(down)
            fired.append((item.seq, _PRIORITY[kind], item, kind))
        while time and time[0][0] <= ts:
            _, _, item, kind = heapq.heappop(time)
            fired.append((item.seq, _PRIORITY[kind], item, kind))
        fired.sort(key=lambda f: (f[0], f[1]))
        for _, _, item, kind in fired:
            if item.state == "resting" and kind == "expire":
                self._release(item, self._unfilled(item))
            elif item.state == "resting" and kind == "fill":
                self._fill(item, ts, price)
            elif item.state == "open" and kind in ("stop", "target", "time"):
                exit_px = item.target_px if kind == "target" else price
                self._close(item, ts, exit_px, kind)
        self._gates()

    def finish(self, ts: int, price: int) -> None:
        """End of data: resting orders end unfilled, open positions are marked at `price`."""
        for _, item in sorted(self._items.items()):
            if item.state == "resting":
                self._release(item, self._unfilled(item))
            elif item.state == "open":
                self._extend(price)
                self._close(item, ts, price, "end_of_data")
        self._up.clear()
        self._down.clear()
        self._time.clear()
        self._gates()

    # ---------------------------------------------------------------- internals

    def _unfilled(self, item: _Item) -> Outcome:
        return Outcome(item.setup, item.exits, "unfilled", order_until_ms=item.until)

    def _fill(self, item: _Item, ts: int, price: int) -> None:
        rules = self.exits[item.exits]
        s = item.setup
        item.state, item.fill_ms = "open", ts
        item.stop_ticks = rules.stop.ticks(s.size_ticks)
        item.target_ticks = rules.target.ticks(s.size_ticks, item.stop_ticks)
        item.stop_px = item.entry - item.sign * item.stop_ticks
        item.target_px = item.entry + item.sign * item.target_ticks
        item.lo = item.hi = price
        self._open.append(item)
        self._env_hi, self._env_lo = min(self._env_hi, price), max(self._env_lo, price)
        through = 1 if rules.fill_rule == "through" else 0
        if item.sign < 0:  # short: stop above, target below
            if price >= item.stop_px:
                self._close(item, ts, price, "stop")
                return
            self._push_up(item.stop_px, item, "stop")
            self._push_down(item.target_px - through, item, "target")
        else:
            if price <= item.stop_px:
                self._close(item, ts, price, "stop")
                return
            self._push_down(item.stop_px, item, "stop")
            self._push_up(item.target_px + through, item, "target")
        due = ts + rules.time_stop_min * MS_PER_MINUTE
        heapq.heappush(self._time, (due, item.seq, item, "time"))

    def _close(self, item: _Item, ts: int, exit_px: int, reason: str) -> None:
        rules = self.exits[item.exits]
        item.state = "closed"
        self._open.remove(item)
        out = settle(
            item.setup,
            item.exits,
            tick=self.tick,
            size=rules.size_base,
            maker_bps=rules.maker_fee_bps,
            taker_bps=rules.taker_fee_bps,
            fill_ms=item.fill_ms,
            entry=item.entry,
            exit_ms=ts,
            exit_px=exit_px,
            reason=reason,  # type: ignore[arg-type]
            stop_ticks=item.stop_ticks,
            target_ticks=item.target_ticks,
            order_until_ms=item.until,
            best=item.lo if item.sign < 0 else item.hi,
            worst=item.hi if item.sign < 0 else item.lo,
        )
        self._release(item, out)
        self._envelope()

    def _release(self, item: _Item, outcome: Outcome) -> None:
        item.state = "closed"
        del self._items[item.seq]
        self._busy[item.key] -= 1
        if not self._busy[item.key]:
            del self._busy[item.key]
        self.outcomes.append(outcome)

    def _extend(self, price: int) -> None:
        for item in self._open:
            if price < item.lo:
                item.lo = price
            if price > item.hi:
                item.hi = price
        self._envelope()

    def _envelope(self) -> None:
        self._env_hi = min((i.hi for i in self._open), default=_INF)
        self._env_lo = max((i.lo for i in self._open), default=-_INF)

    def _push_up(self, level: int, item: _Item, kind: str) -> None:
        heapq.heappush(self._up, (level, item.seq, item, kind))

    def _push_down(self, level: int, item: _Item, kind: str) -> None:
        heapq.heappush(self._down, (-level, item.seq, item, kind))

    def _gates(self) -> None:
        """The caller calls `on_trade` iff price ≥ hi_gate or price ≤ lo_gate or ts ≥ t_gate."""
        self._drop_stale()
        up = self._up[0][0] if self._up else _INF
        down = -self._down[0][0] if self._down else -_INF
        self.hi_gate = min(up, self._env_hi + 1)
        self.lo_gate = max(down, self._env_lo - 1)
        self.t_gate = self._time[0][0] if self._time else _INF

    def _drop_stale(self) -> None:
        for heap in (self._up, self._down, self._time):
            while heap and heap[0][2].state == "closed":
                heapq.heappop(heap)
