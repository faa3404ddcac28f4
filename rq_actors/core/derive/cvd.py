"""Cumulative volume delta (SPEC §7.1), exact.

Per trade the signed amount in the configured unit (`quote`, `base` or `contracts`; quantities
as in `common.py`) is added (`buy`) or subtracted (`sell`). For every 1m window with at least one
trade, once final (a trade at or after its end was processed), one `CvdWindow`:
- `delta`, `buy_volume`, `sell_volume`, `trade_count` (trade records) of the window;
- `cvd_value`: running sum of all deltas since the first trade processed, as of the window's
  close (carried across restarts by the state's `last_cvd`);
- `cvd_session`: the same, restarted at every 00:00 UTC.
Higher timeframes (aligned to 00:00 UTC): `delta`, volumes and counts are sums over their 1m
windows; `cvd_value` and `cvd_session` are those of their last 1m window with trades.

`feed` returns the newly final windows of all configured timeframes, ordered by
`(close time, timeframe length)`. Record keys, in order: `window_start_utc, cvd_value, symbol,
exchange, timeframe, instId, unit, delta, buy_volume, sell_volume, trade_count, cvd_session`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from rq_actors.core.derive.common import (
    MINUTES_PER_DAY,
    check_state,
    cursor_from_state,
    cursor_to_state,
    shared_quant,
    sorted_timeframes,
    state_header,
)
from rq_actors.core.derive.exact import exact_div, fmt_decimal, fmt_scaled, parse_scaled, to_decimal
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.timefmt import MS_PER_DAY, MS_PER_MINUTE, iso_s, parse_iso_ms
from rq_actors.messages import Trade

DEFAULT_TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")
UNITS = ("quote", "base", "contracts")
EXCHANGE = "okx"

# what the hot loop adds per trade; the window sums are multiplied by a constant factor after
_QTY, _QTY_X_PX, _INVERSE_BASE = 0, 1, 2


@attrs.frozen(slots=True)
class CvdWindow:
    inst_id: str
    symbol: str
    timeframe: str
    window_start_ms: int
    unit: str
    cvd_value: Decimal
    delta: Decimal
    buy_volume: Decimal
    sell_volume: Decimal
    trade_count: int
    cvd_session: Decimal

    def to_record(self) -> dict[str, Any]:
        return {
            "window_start_utc": iso_s(self.window_start_ms),
            "cvd_value": fmt_decimal(self.cvd_value),
            "symbol": self.symbol,
            "exchange": EXCHANGE,
            "timeframe": self.timeframe,
            "instId": self.inst_id,
            "unit": self.unit,
            "delta": fmt_decimal(self.delta),
            "buy_volume": fmt_decimal(self.buy_volume),
            "sell_volume": fmt_decimal(self.sell_volume),
            "trade_count": self.trade_count,
            "cvd_session": fmt_decimal(self.cvd_session),
        }


class _Window:
    """An open higher-timeframe window, in unit amounts (scaled at the unit's dp)."""

    __slots__ = ("buy", "cvd", "n", "sell", "session", "start")

    def __init__(self, start: int, buy: int, sell: int, n: int, cvd: int, session: int) -> None:
        self.start, self.buy, self.sell, self.n, self.cvd, self.session = (
            start, buy, sell, n, cvd, session
        )  # fmt: skip


class CvdCalculator:
    """Pure CVD calculator for one instrument; see the module docstring."""

    KIND = "cvd"

    def __init__(
        self,
        meta: InstrumentMeta,
        unit: str = "quote",
        timeframes: Iterable[str] = DEFAULT_TIMEFRAMES,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        if unit not in UNITS:
            raise ValueError(f"unknown CVD unit {unit!r}; expected one of {UNITS}")
        q = self._q = shared_quant(meta)
        self._unit = unit
        self._symbol = meta.symbol_canon
        self._tfs = sorted_timeframes(tuple(timeframes))
        self._emit_1m = any(k == 1 for _, k in self._tfs)
        self._higher = [(tf, k) for tf, k in self._tfs if k > 1]
        self._open: list[_Window | None] = [None] * len(self._higher)
        # unit amount = (per-trade value summed by the hot loop) × factor, at `dp` places
        if unit == "contracts":
            self._mode, self._factor, self._dp = _QTY, 1, q.sz_dp
        elif unit == "base":
            if q.inverse:
                self._mode, self._factor, self._dp = _INVERSE_BASE, 1, q.base_dp
            else:
                self._mode, self._factor, self._dp = _QTY, q.ct, q.base_dp
        elif q.inverse:
            self._mode, self._factor, self._dp = _QTY, q.ct, q.quote_dp
        else:
            self._mode, self._factor, self._dp = _QTY_X_PX, q.ct, q.quote_dp
        self._cursor = (-1, -1)
        self._cvd = 0  # as of the last closed 1m window (unit amount)
        self._session = 0  # same, since 00:00 UTC of `_session_day`
        self._session_day = -1
        # the open 1m window: minute (-1: none), buy and sell sums (per-trade values), count
        self._minute, self._buy, self._sell, self._n = -1, 0, 0, 0
        self.skipped = 0
        self.invalid = 0
        if state is not None:
            self._restore(state)

    @property
    def cursor(self) -> tuple[int, int]:
        return self._cursor

    def feed(self, trades: Iterable[Trade]) -> list[CvdWindow]:
        out: list[CvdWindow] = []
        q = self._q
        pxc, szc, px_miss, sz_miss, inv_base = q.px_cache, q.sz_cache, q.px, q.sz, q.inverse_base
        mode = self._mode
        cur_ts, cur_id = self._cursor
        minute, buy, sell, n = self._minute, self._buy, self._sell, self._n
        skipped = invalid = 0
        for t in trades:
            ts = t.ts_ms
            tid = t.trade_id
            # the acceptance prelude, inlined for speed: `common.accept_trade` is the rule
            if ts <= cur_ts and (ts < cur_ts or tid <= cur_id):
                skipped += 1
                continue
            # the price is parsed even when the unit does not need it, so that every
            # calculator rejects exactly the same trades
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
                    self._close_minute(minute, buy, sell, n, m, out)
                minute, buy, sell, n = m, 0, 0, 0
            if mode == _QTY:
                v = z
            elif mode == _QTY_X_PX:
                v = z * p
            else:
                v = inv_base(z, p)
            n += 1
            if t.side == "buy":
                buy += v
            else:
                sell += v
        self._minute, self._buy, self._sell, self._n = minute, buy, sell, n
        self._cursor = (cur_ts, cur_id)
        self.skipped += skipped
        self.invalid += invalid
        return out

    def _close_minute(
        self, minute: int, buy: int, sell: int, n: int, next_minute: int, out: list[CvdWindow]
    ) -> None:
        buy *= self._factor
        sell *= self._factor
        delta = buy - sell
        self._cvd += delta
        day = minute // MINUTES_PER_DAY
        if day != self._session_day:
            self._session_day, self._session = day, 0
        self._session += delta
        cvd, session = self._cvd, self._session
        if self._emit_1m:
            out.append(self._window("1m", minute, buy, sell, n, cvd, session))
        for i, (tf, k) in enumerate(self._higher):
            start = minute - minute % k
            w = self._open[i]
            if w is None:
                w = _Window(start, buy, sell, n, cvd, session)
            else:
                w.buy += buy
                w.sell += sell
                w.n += n
                w.cvd, w.session = cvd, session
            if next_minute >= start + k:
                out.append(self._window(tf, start, w.buy, w.sell, w.n, w.cvd, w.session))
                w = None
            self._open[i] = w

    def _window(
        self, tf: str, start: int, buy: int, sell: int, n: int, cvd: int, session: int
    ) -> CvdWindow:
        dp = self._dp
        return CvdWindow(
            inst_id=self._q.inst_id,
            symbol=self._symbol,
            timeframe=tf,
            window_start_ms=start * MS_PER_MINUTE,
            unit=self._unit,
            cvd_value=to_decimal(cvd, dp),
            delta=to_decimal(buy - sell, dp),
            buy_volume=to_decimal(buy, dp),
            sell_volume=to_decimal(sell, dp),
            trade_count=n,
            cvd_session=to_decimal(session, dp),
        )

    # -- state -------------------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        return {"unit": self._unit, "timeframes": [tf for tf, _ in self._tfs]}

    def state(self) -> dict[str, Any]:
        """Resume point. `last_cvd` / `last_cvd_session`: CVD after the last trade processed
        (the session one for the cursor's UTC day); `open_1m` and `open_windows` hold the
        windows not yet final, in unit amounts."""
        dp, f = self._dp, self._factor
        partial = (self._buy - self._sell) * f
        if self._minute >= 0 and self._minute // MINUTES_PER_DAY != self._session_day:
            session = partial  # the open minute starts a new UTC day
        else:
            session = self._session + partial
        doc = state_header(self.KIND, self._q, self._settings())
        doc |= cursor_to_state(*self._cursor)
        doc["last_cvd"] = fmt_scaled(self._cvd + partial, dp)
        doc["last_cvd_session"] = fmt_scaled(session, dp)
        doc["open_1m"] = None
        if self._minute >= 0:
            doc["open_1m"] = {
                "window_start_utc": iso_s(self._minute * MS_PER_MINUTE),
                "buy_volume": fmt_scaled(self._buy * f, dp),
                "sell_volume": fmt_scaled(self._sell * f, dp),
                "trade_count": self._n,
            }
        doc["open_windows"] = {
            tf: None
            if w is None
            else {
                "window_start_utc": iso_s(w.start * MS_PER_MINUTE),
                "buy_volume": fmt_scaled(w.buy, dp),
                "sell_volume": fmt_scaled(w.sell, dp),
                "trade_count": w.n,
                "cvd_value": fmt_scaled(w.cvd, dp),
                "cvd_session": fmt_scaled(w.session, dp),
            }
            for (tf, _), w in zip(self._higher, self._open, strict=True)
        }
        return doc

    def _restore(self, state: Mapping[str, Any]) -> None:
        check_state(state, self.KIND, self._q, self._settings())
        dp, f = self._dp, self._factor
        self._cursor = cursor_from_state(state)
        last_cvd = parse_scaled(state["last_cvd"], dp)
        last_session = parse_scaled(state["last_cvd_session"], dp)
        partial = 0
        cur = state["open_1m"]
        if cur is not None:
            self._minute = parse_iso_ms(cur["window_start_utc"]) // MS_PER_MINUTE
            self._buy = exact_div(parse_scaled(cur["buy_volume"], dp), f, "cvd state buy")
            self._sell = exact_div(parse_scaled(cur["sell_volume"], dp), f, "cvd state sell")
            self._n = int(cur["trade_count"])
            partial = (self._buy - self._sell) * f
        # the open minute (if any) is the cursor's minute, so its day is the cursor's day
        self._cvd = last_cvd - partial
        self._session = last_session - partial
        self._session_day = self._cursor[0] // MS_PER_DAY if self._cursor[0] >= 0 else -1
        windows = state["open_windows"]
        self._open = []
        for tf, _ in self._higher:
            w = windows.get(tf)
            self._open.append(
                None
                if w is None
                else _Window(
                    parse_iso_ms(w["window_start_utc"]) // MS_PER_MINUTE,
                    parse_scaled(w["buy_volume"], dp),
                    parse_scaled(w["sell_volume"], dp),
                    int(w["trade_count"]),
                    parse_scaled(w["cvd_value"], dp),
                    parse_scaled(w["cvd_session"], dp),
                )
            )
