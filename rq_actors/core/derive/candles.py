"""OHLCV candles (SPEC §7.3): 1m from trades, higher timeframes rolled up from final 1m candles.

`CandleBuilder.feed(trades)` returns the candles that became FINAL through those trades, of
every configured timeframe, ordered by `(close time, timeframe length)`: a trade at or after a
window's end closes it (event time only, never the wall clock). A minute without trades has no
candle; a higher-timeframe window holds the 1m candles inside it (aligned to 00:00 UTC).

Record (`Candle.to_record()`), keys in this order:
`open_time_utc` (window start, `YYYY-MM-DDTHH:MM:SSZ`), `instId`, `timeframe`, `open`, `high`,
`low`, `close`, `volume_contracts`, `volume_base`, `volume_quote`, `buy_volume_base`,
`sell_volume_base` (decimal strings, see `exact.py`), `trade_count` (number of trade records,
a JSON number), `first_trade_id`, `last_trade_id` (strings, like the trade record), `vwap`
(`Σ(px × base) / Σ(base)` rounded half-even to 8 places, or null if `Σ base` is 0, which only a
dust inverse trade can cause). Base and quote follow `common.py` (inverse base is rounded per
trade).
"""

from __future__ import annotations

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
    sorted_timeframes,
    state_header,
)
from rq_actors.core.derive.exact import (
    div_half_even,
    exact_div,
    fmt_decimal,
    fmt_scaled,
    parse_scaled,
    to_decimal,
)
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.timefmt import MS_PER_MINUTE, iso_s, parse_iso_ms
from rq_actors.messages import Trade

DEFAULT_TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")


@attrs.frozen(slots=True)
class Candle:
    """One final candle; decimals exact (`vwap` rounded as documented above)."""

    inst_id: str
    timeframe: str
    open_time_ms: int
    close_time_ms: int  # open_time_ms + timeframe length (the wick's `created_at`)
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume_contracts: Decimal
    volume_base: Decimal
    volume_quote: Decimal
    buy_volume_base: Decimal
    sell_volume_base: Decimal
    trade_count: int
    first_trade_id: int
    last_trade_id: int
    vwap: Decimal | None

    def to_record(self) -> dict[str, Any]:
        return {
            "open_time_utc": iso_s(self.open_time_ms),
            "instId": self.inst_id,
            "timeframe": self.timeframe,
            "open": fmt_decimal(self.open),
            "high": fmt_decimal(self.high),
            "low": fmt_decimal(self.low),
            "close": fmt_decimal(self.close),
            "volume_contracts": fmt_decimal(self.volume_contracts),
            "volume_base": fmt_decimal(self.volume_base),
            "volume_quote": fmt_decimal(self.volume_quote),
            "buy_volume_base": fmt_decimal(self.buy_volume_base),
            "sell_volume_base": fmt_decimal(self.sell_volume_base),
            "trade_count": self.trade_count,
            "first_trade_id": str(self.first_trade_id),
            "last_trade_id": str(self.last_trade_id),
            "vwap": None if self.vwap is None else fmt_decimal(self.vwap),
        }


class _Agg:
    """An open window's sums. `w` is the weight: qty (sz_dp) for linear/spot, whose base is
    `qty × ct` — multiplying by the constant `ct` once per candle instead of once per trade —
    and the rounded base (INVERSE_BASE_DP) for inverse. `xw = Σ w·px`, `bw` = Σ buy w."""

    __slots__ = ("bw", "c", "fid", "hi", "lid", "lo", "n", "o", "start", "vc", "w", "xw")

    def __init__(
        self,
        start: int,
        o: int,
        hi: int,
        lo: int,
        c: int,
        vc: int,
        w: int,
        xw: int,
        bw: int,
        n: int,
        fid: int,
        lid: int,
    ) -> None:
        self.start, self.o, self.hi, self.lo, self.c = start, o, hi, lo, c
        self.vc, self.w, self.xw, self.bw, self.n, self.fid, self.lid = vc, w, xw, bw, n, fid, lid

    def rolled(self, start: int) -> _Agg:
        return _Agg(start, self.o, self.hi, self.lo, self.c, self.vc, self.w, self.xw, self.bw,
                    self.n, self.fid, self.lid)  # fmt: skip

    def merge(self, later: _Agg) -> None:
        if later.hi > self.hi:
            self.hi = later.hi
        if later.lo < self.lo:
            self.lo = later.lo
        self.c, self.lid = later.c, later.lid
        self.vc += later.vc
        self.w += later.w
        self.xw += later.xw
        self.bw += later.bw
        self.n += later.n


class CandleBuilder:
    """Pure candle builder for one instrument; see the module docstring."""

    KIND = "candles"

    def __init__(
        self,
        meta: InstrumentMeta,
        timeframes: Iterable[str] = DEFAULT_TIMEFRAMES,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        self._q = shared_quant(meta)
        self._tfs = sorted_timeframes(tuple(timeframes))
        self._emit_1m = any(k == 1 for _, k in self._tfs)
        self._higher = [(tf, k) for tf, k in self._tfs if k > 1]
        self._open: list[_Agg | None] = [None] * len(self._higher)
        self._cur: _Agg | None = None  # the open 1m window
        self._cursor = (-1, -1)
        # the base of linear/spot is qty × ct: folded in per candle (see _Agg)
        self._base_factor = 1 if self._q.inverse else self._q.ct
        self.skipped = 0  # trades at or before the cursor
        self.invalid = 0  # unparseable or non-positive price/size
        if state is not None:
            self._restore(state)

    @property
    def cursor(self) -> tuple[int, int]:
        """`(ts_ms, trade_id)` of the last trade processed; `(-1, -1)` before the first."""
        return self._cursor

    def feed(self, trades: Iterable[Trade]) -> list[Candle]:
        out: list[Candle] = []
        q = self._q
        pxc, szc, px_miss, sz_miss = q.px_cache, q.sz_cache, q.px, q.sz
        inverse, inv_base = q.inverse, q.inverse_base
        cur_ts, cur_id = self._cursor
        a = self._cur
        if a is None:
            minute = -1
            o = hi = lo = c = vc = w = xw = bw = n = fid = lid = 0
        else:
            minute, o, hi, lo, c = a.start, a.o, a.hi, a.lo, a.c
            vc, w, xw, bw, n, fid, lid = a.vc, a.w, a.xw, a.bw, a.n, a.fid, a.lid
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
                    done = _Agg(minute, o, hi, lo, c, vc, w if inverse else vc, xw, bw, n, fid, lid)
                    self._close_minute(done, m, out)
                minute, o, hi, lo = m, p, p, p
                vc = w = xw = bw = n = 0
                fid = tid
            elif p > hi:
                hi = p
            elif p < lo:
                lo = p
            c, lid = p, tid
            n += 1
            vc += z
            if inverse:
                b = inv_base(z, p)
                w += b
                xw += b * p
                if t.side == "buy":
                    bw += b
            else:
                xw += z * p
                if t.side == "buy":
                    bw += z
        if minute >= 0:
            self._cur = _Agg(minute, o, hi, lo, c, vc, w if inverse else vc, xw, bw, n, fid, lid)
        self._cursor = (cur_ts, cur_id)
        self.skipped += skipped
        self.invalid += invalid
        return out

    def _close_minute(self, done: _Agg, next_minute: int, out: list[Candle]) -> None:
        """`done` (a 1m window) is final because a trade of `next_minute` arrived: emit it,
        roll it into each higher window, and emit the higher windows that end by then."""
        if self._emit_1m:
            out.append(self._candle("1m", 1, done))
        for i, (tf, k) in enumerate(self._higher):
            start = done.start - done.start % k
            agg = self._open[i]
            if agg is None:
                agg = done.rolled(start)
            else:
                agg.merge(done)
            if next_minute >= start + k:
                out.append(self._candle(tf, k, agg))
                agg = None
            self._open[i] = agg

    def _candle(self, tf: str, minutes: int, a: _Agg) -> Candle:
        q = self._q
        px_dp, f = q.px_dp, self._base_factor
        quote = a.xw * q.ct if not q.inverse else a.vc * q.ct
        vwap = None
        if a.w:
            vwap = to_decimal(div_half_even(a.xw * 10**VALUE_DP, a.w * 10**px_dp), VALUE_DP)
        return Candle(
            inst_id=q.inst_id,
            timeframe=tf,
            open_time_ms=a.start * MS_PER_MINUTE,
            close_time_ms=(a.start + minutes) * MS_PER_MINUTE,
            open=to_decimal(a.o, px_dp),
            high=to_decimal(a.hi, px_dp),
            low=to_decimal(a.lo, px_dp),
            close=to_decimal(a.c, px_dp),
            volume_contracts=to_decimal(a.vc, q.sz_dp),
            volume_base=to_decimal(a.w * f, q.base_dp),
            volume_quote=to_decimal(quote, q.quote_dp),
            buy_volume_base=to_decimal(a.bw * f, q.base_dp),
            sell_volume_base=to_decimal((a.w - a.bw) * f, q.base_dp),
            trade_count=a.n,
            first_trade_id=a.fid,
            last_trade_id=a.lid,
            vwap=vwap,
        )

    # -- state -------------------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        return {"timeframes": [tf for tf, _ in self._tfs]}

    def state(self) -> dict[str, Any]:
        """JSON-serialisable resume point: cursor, the open 1m window and the open higher
        windows (`open_windows`, by timeframe), decimals as canonical strings."""
        doc = state_header(self.KIND, self._q, self._settings())
        doc |= cursor_to_state(*self._cursor)
        doc["open_1m"] = None if self._cur is None else self._agg_to_state(self._cur)
        doc["open_windows"] = {
            tf: None if a is None else self._agg_to_state(a)
            for (tf, _), a in zip(self._higher, self._open, strict=True)
        }
        return doc

    def _agg_to_state(self, a: _Agg) -> dict[str, Any]:
        q, f = self._q, self._base_factor
        return {
            "open_time_utc": iso_s(a.start * MS_PER_MINUTE),
            "open": fmt_scaled(a.o, q.px_dp),
            "high": fmt_scaled(a.hi, q.px_dp),
            "low": fmt_scaled(a.lo, q.px_dp),
            "close": fmt_scaled(a.c, q.px_dp),
            "volume_contracts": fmt_scaled(a.vc, q.sz_dp),
            "volume_base": fmt_scaled(a.w * f, q.base_dp),
            "buy_volume_base": fmt_scaled(a.bw * f, q.base_dp),
            "price_x_base": fmt_scaled(a.xw * f, q.base_dp + q.px_dp),  # Σ px·base
            "trade_count": a.n,
            "first_trade_id": str(a.fid),
            "last_trade_id": str(a.lid),
        }

    def _agg_from_state(self, d: Mapping[str, Any]) -> _Agg:
        q, f = self._q, self._base_factor

        def weight(key: str, dp: int) -> int:
            return exact_div(parse_scaled(d[key], dp), f, f"candle state {key}")

        return _Agg(
            parse_iso_ms(d["open_time_utc"]) // MS_PER_MINUTE,
            parse_scaled(d["open"], q.px_dp),
            parse_scaled(d["high"], q.px_dp),
            parse_scaled(d["low"], q.px_dp),
            parse_scaled(d["close"], q.px_dp),
            parse_scaled(d["volume_contracts"], q.sz_dp),
            weight("volume_base", q.base_dp),
            weight("price_x_base", q.base_dp + q.px_dp),
            weight("buy_volume_base", q.base_dp),
            int(d["trade_count"]),
            int(d["first_trade_id"]),
            int(d["last_trade_id"]),
        )

    def _restore(self, state: Mapping[str, Any]) -> None:
        check_state(state, self.KIND, self._q, self._settings())
        self._cursor = cursor_from_state(state)
        cur = state["open_1m"]
        self._cur = None if cur is None else self._agg_from_state(cur)
        windows = state["open_windows"]
        self._open = [
            None if windows.get(tf) is None else self._agg_from_state(windows[tf])
            for tf, _ in self._higher
        ]
