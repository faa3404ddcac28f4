"""Rolling VWAP with volume-weighted standard deviation (SPEC §7.2), exact.

One `VwapMinute` for every final minute M from the first traded minute on, minutes without
trades included. For each configured window of W minutes it covers the trades with
`M + 1min − W ≤ ts < M + 1min` and gives, with weights `w` = base volume (`weighting="base"`)
or quote notional (`"notional"`, the seed's definition):
- `vwap = Σ(w·px) / Σ(w)`, the exact quotient rounded half-even to 8 decimal places;
- `std` = the w-weighted population standard deviation of the trade prices,
  `sqrt(Σw·px²/Σw − (Σw·px/Σw)²)`: the variance is an exact rational and its square root is
  rounded half-even to 8 places exactly (`exact.sqrt_ratio_half_even`);
- `trade_count` (trade records) and `volume` = Σ base volume (whatever the weighting).
An empty window gives `vwap`/`std` null, `trade_count` 0 and `volume` `"0"` (null too in the
degenerate case `Σw = 0`, which only dust inverse trades can cause).

Record keys: `window_start_utc` (M), `instId`, then `vwap_{L}` for every window, then
`trade_count_{L}`, `volume_{L}`, `std_{L}` likewise; windows ordered by length and labelled
`L = "1h"` for 60, `"4h"` for 240, else `"{W}m"` (so the defaults give exactly SPEC §7.2).

Cost: the hot loop adds each trade into its minute's sums `(Σw, Σw·px, Σw·px², count, base)`;
each window keeps a deque of per-minute sums and running totals, so a final minute costs
O(number of windows) however many trades the windows hold.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from rq_actors.core.derive.common import (
    VALUE_DP,
    check_state,
    cursor_from_state,
    cursor_to_state,
    shared_quant,
    state_header,
)
from rq_actors.core.derive.exact import (
    div_half_even,
    exact_div,
    fmt_decimal,
    fmt_scaled,
    parse_scaled,
    sqrt_ratio_half_even,
    to_decimal,
)
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.timefmt import MS_PER_MINUTE, iso_s, parse_iso_ms
from rq_actors.messages import Trade

WEIGHTINGS = ("base", "notional")
# per-trade weight the hot loop sums; the real weight is that × a constant factor (see __init__)
_QTY, _QTY_X_PX, _INVERSE_BASE = 0, 1, 2

# (minute, Σw, Σw·px, Σw·px², count, Σbase) of one traded minute; w and px as scaled ints
_Entry = tuple[int, int, int, int, int, int]


def window_label(minutes: int) -> str:
    return {60: "1h", 240: "4h"}.get(minutes, f"{minutes}m")


@attrs.frozen(slots=True)
class VwapWindow:
    minutes: int
    vwap: Decimal | None
    trade_count: int
    volume: Decimal
    std: Decimal | None

    @property
    def label(self) -> str:
        return window_label(self.minutes)


@attrs.frozen(slots=True)
class VwapMinute:
    inst_id: str
    window_start_ms: int  # the minute M
    windows: tuple[VwapWindow, ...]  # ordered by length

    def to_record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "window_start_utc": iso_s(self.window_start_ms),
            "instId": self.inst_id,
        }
        for w in self.windows:
            rec[f"vwap_{w.label}"] = None if w.vwap is None else fmt_decimal(w.vwap)
        for w in self.windows:
            rec[f"trade_count_{w.label}"] = w.trade_count
        for w in self.windows:
            rec[f"volume_{w.label}"] = fmt_decimal(w.volume)
        for w in self.windows:
            rec[f"std_{w.label}"] = None if w.std is None else fmt_decimal(w.std)
        return rec


class _Trailing:
    """One trailing window: the traded minutes inside it and their running totals."""

    __slots__ = ("base", "empty", "entries", "minutes", "n", "s0", "s1", "s2")

    def __init__(self, minutes: int) -> None:
        self.minutes = minutes
        self.empty = VwapWindow(minutes, None, 0, Decimal(0), None)
        self.entries: deque[_Entry] = deque()
        self.s0 = self.s1 = self.s2 = self.n = self.base = 0

    def add(self, e: _Entry) -> None:
        self.entries.append(e)
        self.s0 += e[1]
        self.s1 += e[2]
        self.s2 += e[3]
        self.n += e[4]
        self.base += e[5]

    def evict_before(self, lo: int) -> None:
        entries = self.entries
        while entries and entries[0][0] < lo:
            e = entries.popleft()
            self.s0 -= e[1]
            self.s1 -= e[2]
            self.s2 -= e[3]
            self.n -= e[4]
            self.base -= e[5]


class RollingVwap:
    """Pure rolling VWAP for one instrument; see the module docstring."""

    KIND = "vwap"

    def __init__(
        self,
        meta: InstrumentMeta,
        windows_minutes: Iterable[int] = (60, 240),
        weighting: str = "base",
        state: Mapping[str, Any] | None = None,
    ) -> None:
        if weighting not in WEIGHTINGS:
            raise ValueError(f"unknown VWAP weighting {weighting!r}; expected {WEIGHTINGS}")
        windows = sorted(windows_minutes)
        if not windows or windows[0] < 1 or len(set(windows)) != len(windows):
            raise ValueError(f"bad VWAP windows {windows}")
        q = self._q = shared_quant(meta)
        self._weighting = weighting
        self._windows = [_Trailing(w) for w in windows]
        # weight per trade = loop value × _w_factor at _w_dp; base per trade likewise
        # (_base_factor); `_base_is_w`: the base sum is the weight sum (base weighting)
        if weighting == "base":
            self._mode = _INVERSE_BASE if q.inverse else _QTY
            self._w_factor = 1 if q.inverse else q.ct
            self._w_dp = q.base_dp
        else:
            self._mode = _QTY if q.inverse else _QTY_X_PX
            self._w_factor = q.ct
            self._w_dp = q.quote_dp
        self._base_is_w = weighting == "base"
        self._base_factor = 1 if q.inverse else q.ct
        self._vden = 10**q.px_dp
        self._cursor = (-1, -1)
        # the open minute (-1: none yet) and its sums (loop units)
        self._minute = -1
        self._sums = (0, 0, 0, 0, 0)
        self.skipped = 0
        self.invalid = 0
        if state is not None:
            self._restore(state)

    @property
    def cursor(self) -> tuple[int, int]:
        return self._cursor

    def feed(self, trades: Iterable[Trade]) -> list[VwapMinute]:
        out: list[VwapMinute] = []
        q = self._q
        pxc, szc, px_miss, sz_miss, inv_base = q.px_cache, q.sz_cache, q.px, q.sz, q.inverse_base
        mode = self._mode
        base_is_w = self._base_is_w
        cur_ts, cur_id = self._cursor
        minute = self._minute
        s0, s1, s2, n, bs = self._sums
        skipped = invalid = 0
        for t in trades:
            ts = t.ts_ms
            tid = t.trade_id
            # the acceptance prelude, inlined for speed: `common.accept_trade` is the rule
            if ts <= cur_ts and (ts < cur_ts or tid <= cur_id):
                skipped += 1
                continue
            s = t.px
            p = pxc.get(s)
            if p is None:
                p = px_miss(s)
            s = t.sz
            z = szc.get(s)
            if z is None:
                z = sz_miss(s)
            if p is None or z is None:
                invalid += 1
                continue
            cur_ts, cur_id = ts, tid
            m = ts // MS_PER_MINUTE
            if m != minute:
                if minute >= 0:
                    self._close_minutes((minute, s0, s1, s2, n, bs), m, out)
                minute = m
                s0 = s1 = s2 = n = bs = 0
            if mode == _QTY:
                w = z
                wp = z * p
                if not base_is_w:
                    bs += inv_base(z, p)
            elif mode == _QTY_X_PX:
                w = z * p
                wp = w * p
                bs += z
            else:
                w = inv_base(z, p)
                wp = w * p
            s0 += w
            s1 += wp
            s2 += wp * p
            n += 1
        self._minute = minute
        self._sums = (s0, s1, s2, n, bs)
        self._cursor = (cur_ts, cur_id)
        self.skipped += skipped
        self.invalid += invalid
        return out

    def _entry(self, loop: _Entry) -> _Entry:
        """Loop sums of a minute → real weights (× factor) and real base volume."""
        minute, s0, s1, s2, n, bs = loop
        f = self._w_factor
        base = (s0 if self._base_is_w else bs) * self._base_factor
        return (minute, s0 * f, s1 * f, s2 * f, n, base)

    def _close_minutes(self, loop: _Entry, next_minute: int, out: list[VwapMinute]) -> None:
        """Minute `loop[0]` and the empty minutes up to `next_minute` are final: emit them."""
        entry = self._entry(loop)
        for w in self._windows:
            w.add(entry)
        for m in range(loop[0], next_minute):
            out.append(self._emit(m))

    def _emit(self, m: int) -> VwapMinute:
        q = self._q
        results = []
        for w in self._windows:
            w.evict_before(m + 1 - w.minutes)
            if not w.entries:  # common across gaps in the data: one shared empty result
                results.append(w.empty)
                continue
            vwap = std = None
            s0 = w.s0
            if s0:
                s1 = w.s1
                vwap = to_decimal(div_half_even(s1 * 10**VALUE_DP, s0 * self._vden), VALUE_DP)
                # var = (Σw·Σw·p² − (Σw·p)²) / (Σw)², in px units squared
                num = (w.s2 * s0 - s1 * s1) * 10 ** (2 * VALUE_DP)
                den = s0 * s0 * self._vden * self._vden
                std = to_decimal(sqrt_ratio_half_even(num, den), VALUE_DP)
            volume = to_decimal(w.base, q.base_dp)
            results.append(VwapWindow(w.minutes, vwap, w.n, volume, std))
        return VwapMinute(q.inst_id, m * MS_PER_MINUTE, tuple(results))

    # -- state -------------------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        return {
            "windows_minutes": [w.minutes for w in self._windows],
            "weighting": self._weighting,
        }

    def _entry_to_state(self, e: _Entry) -> dict[str, Any]:
        w_dp, px_dp = self._w_dp, self._q.px_dp
        return {
            "window_start_utc": iso_s(e[0] * MS_PER_MINUTE),
            "weight": fmt_scaled(e[1], w_dp),
            "weight_x_price": fmt_scaled(e[2], w_dp + px_dp),
            "weight_x_price2": fmt_scaled(e[3], w_dp + 2 * px_dp),
            "trade_count": e[4],
            "volume_base": fmt_scaled(e[5], self._q.base_dp),
        }

    def _entry_from_state(self, d: Mapping[str, Any]) -> _Entry:
        w_dp, px_dp = self._w_dp, self._q.px_dp
        return (
            parse_iso_ms(d["window_start_utc"]) // MS_PER_MINUTE,
            parse_scaled(d["weight"], w_dp),
            parse_scaled(d["weight_x_price"], w_dp + px_dp),
            parse_scaled(d["weight_x_price2"], w_dp + 2 * px_dp),
            int(d["trade_count"]),
            parse_scaled(d["volume_base"], self._q.base_dp),
        )

    def state(self) -> dict[str, Any]:
        """Resume point: cursor, the open minute's sums (`open_1m`) and the traded minutes still
        inside the longest window (`recent_minutes`). Weights are real: base volume for
        `weighting="base"`, quote notional for `"notional"`."""
        doc = state_header(self.KIND, self._q, self._settings())
        doc |= cursor_to_state(*self._cursor)
        doc["open_1m"] = None
        if self._minute >= 0:
            doc["open_1m"] = self._entry_to_state(self._entry((self._minute, *self._sums)))
        doc["recent_minutes"] = [self._entry_to_state(e) for e in self._windows[-1].entries]
        return doc

    def _restore(self, state: Mapping[str, Any]) -> None:
        check_state(state, self.KIND, self._q, self._settings())
        self._cursor = cursor_from_state(state)
        cur = state["open_1m"]
        if cur is not None:
            minute, s0, s1, s2, n, base = self._entry_from_state(cur)
            f = self._w_factor
            what = "vwap state open_1m"
            s0, s1, s2 = (exact_div(v, f, what) for v in (s0, s1, s2))
            bs = 0 if self._base_is_w else exact_div(base, self._base_factor, what)
            self._minute, self._sums = minute, (s0, s1, s2, n, bs)
        recent = [self._entry_from_state(d) for d in state["recent_minutes"]]
        for w in self._windows:
            # exactly what a run that never stopped holds after emitting the minute before
            # the open one: the traded minutes at or after `open minute − W`
            for e in recent:
                if e[0] >= self._minute - w.minutes:
                    w.add(e)
