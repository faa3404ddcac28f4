"""Oracle tests: candles, CVD and rolling VWAP equal a straightforward `Fraction` computation.

The references below group raw trades directly (no rolling up, no deques, no scaled integers),
round with `round(Fraction, n)` (half-even) and format with `Decimal`, so they share nothing
with the implementation but the spec. Streams are hypothesis-generated: prices on a tick grid
(sometimes a sub-tick), sizes on a lot grid, both sides, repeated timestamps, empty minutes,
hour and day boundaries, for linear, inverse and spot instruments.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections import defaultdict
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rq_actors.core.derive import CandleBuilder, CvdCalculator, RollingVwap
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.timefmt import MS_PER_DAY, MS_PER_MINUTE, iso_s
from rq_actors.messages import Trade

# (meta, price centre in ticks)
INSTRUMENTS = [
    (InstrumentMeta("BTC-USDT-SWAP", "SWAP", "0.01", "1", "linear", "0.1", "0.01"), 1_000_000),
    (InstrumentMeta("ETH-USDT-SWAP", "SWAP", "0.1", "1", "linear", "0.01", "1"), 300_000),
    (InstrumentMeta("BTC-USD-SWAP", "SWAP", "100", "1", "inverse", "0.1", "1"), 1_000_000),
    (InstrumentMeta("ETH-USD-SWAP", "SWAP", "10", "1", "inverse", "0.01", "1"), 300_000),
    (InstrumentMeta("ETH-USDT", "SPOT", "1", "1", "spot", "0.01", "0.0001"), 300_000),
    (InstrumentMeta("PEPE-USDT-SWAP", "SWAP", "10000000", "1", "linear", "1E-10", "0.1"), 95_000),
]
DAY0 = 20_436 * MS_PER_DAY  # 2025-12-14T00:00:00Z
TF_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 1440}
SLOW = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOWER = settings(SLOW, max_examples=35)


def fstr(x: Fraction) -> str:
    """Independent canonical formatter: exact decimal, no exponent, no trailing zeros."""
    if x == 0:
        return "0"
    with localcontext() as ctx:
        ctx.prec = 500
        d = (Decimal(x.numerator) / Decimal(x.denominator)).normalize()
    assert Fraction(d) == x, "not a terminating decimal"
    return format(d, "f")


def ctv(meta: InstrumentMeta) -> Fraction:
    return Fraction(1) if meta.ct_type == "spot" else Fraction(meta.ct_val) * Fraction(meta.ct_mult)


def amounts(meta: InstrumentMeta, t: Trade) -> tuple[Fraction, Fraction, Fraction, Fraction]:
    """(px, qty, base, quote) of one trade, per SPEC §7 (inverse base: round half-even 12)."""
    px, qty = Fraction(t.px), Fraction(t.sz)
    if meta.ct_type == "inverse":
        quote = qty * ctv(meta)
        return px, qty, round(quote / px, 12), quote
    base = qty * ctv(meta)
    return px, qty, base, base * px


@st.composite
def streams(draw: st.DrawFn, max_trades: int = 60) -> tuple[InstrumentMeta, list[Trade]]:
    meta, centre = draw(st.sampled_from(INSTRUMENTS))
    tick, lot = Decimal(meta.tick_sz), Decimal(meta.lot_sz)
    small = st.one_of(
        st.integers(0, 3),
        st.integers(0, 3_000),
        st.integers(0, 70_000),
        st.integers(50_000, 20 * MS_PER_MINUTE),
        st.integers(0, 20 * MS_PER_MINUTE),
    )
    # long gaps (many empty minutes) are rarer: every emitted minute costs test time
    big = st.sampled_from([60 * MS_PER_MINUTE, 4 * 3_600_000 + 1, MS_PER_DAY + 7])
    step = st.integers(0, 29).flatmap(lambda r: big if r == 0 else small)
    ts = DAY0 - draw(st.integers(0, 3 * 3_600_000))
    tid = draw(st.integers(1, 10**12))
    trades = []
    for _ in range(draw(st.integers(1, max_trades))):
        ts += draw(step)
        tid += draw(st.integers(1, 3))
        px = (centre + draw(st.integers(-60, 60))) * tick
        if draw(st.integers(0, 9)) == 0:
            px += tick / 4  # finer than the tick: must still be exact (scale slack)
        sz = draw(st.one_of(st.integers(1, 30), st.integers(1, 10**6))) * lot
        text_px = format(px, "f") + ("0" if draw(st.booleans()) and "." in format(px, "f") else "")
        side = draw(st.sampled_from(["buy", "sell"]))
        trades.append(Trade(meta.inst_id, tid, ts, side, text_px, format(sz, "f")))
    return meta, trades


def recs(items: list[Any]) -> list[dict[str, Any]]:
    return [i.to_record() for i in items]


# -- references -------------------------------------------------------------------------------


def ref_candles(meta: InstrumentMeta, trades: list[Trade], tfs: list[str]) -> list[dict[str, Any]]:
    last_ts = trades[-1].ts_ms
    rows = []
    for tf in tfs:
        span = TF_MINUTES[tf] * MS_PER_MINUTE
        groups: dict[int, list[Trade]] = defaultdict(list)
        for t in trades:
            groups[t.ts_ms - t.ts_ms % span].append(t)
        for start, g in groups.items():
            if start + span > last_ts:
                continue  # no trade at or after its end yet: not final
            a = [amounts(meta, t) for t in g]
            base = sum(x[2] for x in a)
            buy = sum(x[2] for x, t in zip(a, g, strict=True) if t.side == "buy")
            pxs = [x[0] for x in a]
            rec = {
                "open_time_utc": iso_s(start),
                "instId": meta.inst_id,
                "timeframe": tf,
                "open": fstr(pxs[0]),
                "high": fstr(max(pxs)),
                "low": fstr(min(pxs)),
                "close": fstr(pxs[-1]),
                "volume_contracts": fstr(sum(x[1] for x in a)),
                "volume_base": fstr(base),
                "volume_quote": fstr(sum(x[3] for x in a)),
                "buy_volume_base": fstr(buy),
                "sell_volume_base": fstr(base - buy),
                "trade_count": len(g),
                "first_trade_id": str(g[0].trade_id),
                "last_trade_id": str(g[-1].trade_id),
                "vwap": fstr(round(sum(x[0] * x[2] for x in a) / base, 8)) if base else None,
            }
            rows.append((start + span, span, rec))
    return [r for *_, r in sorted(rows, key=lambda r: (r[0], r[1]))]


def unit_value(meta: InstrumentMeta, t: Trade, unit: str) -> Fraction:
    _, qty, base, quote = amounts(meta, t)
    v = {"contracts": qty, "base": base, "quote": quote}[unit]
    return v if t.side == "buy" else -v


def ref_cvd(
    meta: InstrumentMeta, trades: list[Trade], unit: str, tfs: list[str]
) -> list[dict[str, Any]]:
    last_ts = trades[-1].ts_ms
    vals = [unit_value(meta, t, unit) for t in trades]
    rows = []
    for tf in tfs:
        span = TF_MINUTES[tf] * MS_PER_MINUTE
        starts = sorted({t.ts_ms - t.ts_ms % span for t in trades})
        for start in starts:
            end = start + span
            if end > last_ts:
                continue
            inside = [(t, v) for t, v in zip(trades, vals, strict=True) if start <= t.ts_ms < end]
            day = start - start % MS_PER_DAY
            rec = {
                "window_start_utc": iso_s(start),
                "cvd_value": fstr(
                    sum(v for t, v in zip(trades, vals, strict=True) if t.ts_ms < end)
                ),
                "symbol": meta.symbol_canon,
                "exchange": "okx",
                "timeframe": tf,
                "instId": meta.inst_id,
                "unit": unit,
                "delta": fstr(sum(v for _, v in inside)),
                "buy_volume": fstr(sum(v for t, v in inside if t.side == "buy")),
                "sell_volume": fstr(-sum(v for t, v in inside if t.side == "sell")),
                "trade_count": len(inside),
                "cvd_session": fstr(
                    sum(v for t, v in zip(trades, vals, strict=True) if day <= t.ts_ms < end)
                ),
            }
            rows.append((end, span, rec))
    return [r for *_, r in sorted(rows, key=lambda r: (r[0], r[1]))]


def ref_std(var: Fraction) -> Fraction:
    """sqrt(var) rounded half-even to 8 places, decided by exact comparisons of squares: k is
    right iff (k − ½)·u ≤ sqrt(var) ≤ (k + ½)·u, a boundary only counting for even k."""
    with localcontext() as ctx:
        ctx.prec = 60
        approx = (Decimal(var.numerator) / Decimal(var.denominator)).sqrt()
    u, half = Fraction(1, 10**8), Fraction(1, 2)

    def fits(k: int) -> bool:
        lo, hi = (k - half) * u, (k + half) * u
        above = lo < 0 or var > lo * lo or (var == lo * lo and k % 2 == 0)
        below = var < hi * hi or (var == hi * hi and k % 2 == 0)
        return above and below

    k0 = int(approx * 10**8)
    found = [k for k in range(max(k0 - 2, 0), k0 + 3) if fits(k)]
    assert len(found) == 1, found
    return found[0] * u


def ref_vwap(
    meta: InstrumentMeta, trades: list[Trade], windows: list[int], weighting: str
) -> list[dict[str, Any]]:
    first = trades[0].ts_ms // MS_PER_MINUTE
    last = trades[-1].ts_ms // MS_PER_MINUTE  # minutes < last are final
    ts = [t.ts_ms for t in trades]
    # prefix sums over trades: Σw, Σw·p, Σw·p², Σbase
    pre = [(Fraction(0),) * 4]
    for t in trades:
        px, _, base, quote = amounts(meta, t)
        w = base if weighting == "base" else quote
        s = pre[-1]
        pre.append((s[0] + w, s[1] + w * px, s[2] + w * px * px, s[3] + base))
    labels = {60: "1h", 240: "4h"}
    out = []
    for m in range(first, last):
        rec: dict[str, Any] = {"window_start_utc": iso_s(m * MS_PER_MINUTE), "instId": meta.inst_id}
        cols: dict[str, dict[str, Any]] = {"vwap": {}, "trade_count": {}, "volume": {}, "std": {}}
        for w in sorted(windows):
            lab = labels.get(w, f"{w}m")
            i = bisect_left(ts, (m + 1 - w) * MS_PER_MINUTE)
            j = bisect_left(ts, (m + 1) * MS_PER_MINUTE)
            sw, swp, swp2, sb = (pre[j][k] - pre[i][k] for k in range(4))
            cols["trade_count"][lab] = j - i
            cols["volume"][lab] = fstr(sb)
            if j > i and sw:
                mean = swp / sw
                cols["vwap"][lab] = fstr(round(mean, 8))
                cols["std"][lab] = fstr(ref_std(swp2 / sw - mean * mean))
            else:
                cols["vwap"][lab] = cols["std"][lab] = None
        for name, by in cols.items():
            for lab, v in by.items():
                rec[f"{name}_{lab}"] = v
        out.append(rec)
    return out


# -- oracle tests ---------------------------------------------------------------------------


@SLOW
@given(streams(), st.sampled_from([["1m", "5m", "15m", "1h", "4h", "1d"], ["5m", "1h"], ["1m"]]))
def test_candles_equal_reference(
    stream: tuple[InstrumentMeta, list[Trade]], tfs: list[str]
) -> None:
    meta, trades = stream
    b = CandleBuilder(meta, tfs)
    assert recs(b.feed(trades)) == ref_candles(meta, trades, tfs)


@SLOW
@given(streams(), st.sampled_from(["quote", "base", "contracts"]))
def test_cvd_equals_reference(stream: tuple[InstrumentMeta, list[Trade]], unit: str) -> None:
    meta, trades = stream
    tfs = ["1m", "5m", "15m", "1h", "4h", "1d"]
    c = CvdCalculator(meta, unit, tfs)
    assert recs(c.feed(trades)) == ref_cvd(meta, trades, unit, tfs)


@pytest.mark.slow
@SLOW
@given(
    streams(),
    st.sampled_from([[60, 240], [1, 7, 60], [2, 240, 30]]),
    st.sampled_from(["base", "notional"]),
)
def test_vwap_equals_reference(
    stream: tuple[InstrumentMeta, list[Trade]], windows: list[int], weighting: str
) -> None:
    meta, trades = stream
    v = RollingVwap(meta, windows, weighting)
    assert recs(v.feed(trades)) == ref_vwap(meta, trades, windows, weighting)


# -- resume and batching ----------------------------------------------------------------------


def _calculators(meta: InstrumentMeta) -> list[tuple[type, dict[str, Any]]]:
    return [
        (CandleBuilder, {"timeframes": ["1m", "5m", "15m", "1h", "4h", "1d"]}),
        (CvdCalculator, {"unit": "quote", "timeframes": ["1m", "15m", "4h", "1d"]}),
        (CvdCalculator, {"unit": "base", "timeframes": ["5m", "1h"]}),
        (RollingVwap, {"windows_minutes": [60, 240, 3], "weighting": "base"}),
        (RollingVwap, {"windows_minutes": [60, 240], "weighting": "notional"}),
    ]


@pytest.mark.slow
@SLOWER
@given(streams(max_trades=80), st.data())
def test_resume_from_state_equals_one_run(
    stream: tuple[InstrumentMeta, list[Trade]], data: st.DataObject
) -> None:
    meta, trades = stream
    split = data.draw(st.integers(0, len(trades)))
    replay = data.draw(st.integers(0, split))  # overlap re-fed after restart: must be skipped
    cut = data.draw(st.integers(0, len(trades)))  # an extra batch boundary
    for cls, kw in _calculators(meta):
        whole = cls(meta, **kw)
        expected = recs(whole.feed(trades))
        first = cls(meta, **kw)
        got = recs(first.feed(trades[:split]))
        state = json.loads(json.dumps(first.state()))  # must survive JSON
        second = cls(meta, **kw, state=state)
        assert second.state() == state
        rest = trades[split - replay :]
        got += recs(second.feed(rest[: max(cut - split, 0)]))
        got += recs(second.feed(rest[max(cut - split, 0) :]))
        assert got == expected, cls.__name__
        assert second.state() == whole.state()
        assert second.cursor == whole.cursor == (trades[-1].ts_ms, trades[-1].trade_id)
        assert second.skipped == replay


@SLOW
@given(streams(max_trades=40))
def test_outputs_are_final_once_and_ordered(stream: tuple[InstrumentMeta, list[Trade]]) -> None:
    """Feeding one trade at a time: each window appears once, only after a trade at or past its
    end, and in (close time, timeframe) order."""
    meta, trades = stream
    b = CandleBuilder(meta)
    seen: list[tuple[int, int]] = []
    for t in trades:
        for c in b.feed([t]):
            assert c.close_time_ms <= t.ts_ms
            seen.append((c.close_time_ms, c.close_time_ms - c.open_time_ms))
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    v = RollingVwap(meta)
    minutes = []
    for t in trades:
        for m in v.feed([t]):
            assert m.window_start_ms + MS_PER_MINUTE <= t.ts_ms
            minutes.append(m.window_start_ms)
    first = trades[0].ts_ms - trades[0].ts_ms % MS_PER_MINUTE
    last = trades[-1].ts_ms - trades[-1].ts_ms % MS_PER_MINUTE
    assert minutes == list(range(first, last, MS_PER_MINUTE))
