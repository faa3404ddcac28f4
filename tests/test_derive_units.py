"""Hand-checked examples of candles, CVD and VWAP: finality, key order, units, ties, state."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rq_actors.core.derive import CandleBuilder, CvdCalculator, RollingVwap
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.timefmt import MS_PER_DAY, MS_PER_MINUTE
from rq_actors.messages import Trade

LINEAR = InstrumentMeta("BTC-USDT-SWAP", "SWAP", "0.01", "1", "linear", "0.1", "0.01")
INVERSE = InstrumentMeta("BTC-USD-SWAP", "SWAP", "100", "1", "inverse", "0.1", "1")
SPOT = InstrumentMeta("ETH-USDT", "SPOT", "1", "1", "spot", "0.01", "0.0001")
FINE = InstrumentMeta("PEPE-USDT-SWAP", "SWAP", "1", "1", "linear", "1E-10", "1")
T0 = 20_436 * MS_PER_DAY  # 2025-12-14T00:00:00Z
_ids = iter(range(1000, 10**9))


def tr(meta: InstrumentMeta, ts: int, side: str, px: str, sz: str) -> Trade:
    return Trade(meta.inst_id, next(_ids), ts, side, px, sz)  # type: ignore[arg-type]


def test_window_is_final_only_after_a_trade_at_or_after_its_end() -> None:
    b = CandleBuilder(LINEAR, ["1m", "5m"])
    assert b.feed([tr(LINEAR, T0, "buy", "100", "1")]) == []
    assert b.feed([tr(LINEAR, T0 + MS_PER_MINUTE - 1, "sell", "101", "2")]) == []
    out = b.feed([tr(LINEAR, T0 + MS_PER_MINUTE, "buy", "99", "1")])  # exactly the end
    assert [(c.timeframe, c.open_time_ms) for c in out] == [("1m", T0)]
    out = b.feed([tr(LINEAR, T0 + 5 * MS_PER_MINUTE - 1, "buy", "99", "1")])
    assert [(c.timeframe, c.open_time_ms) for c in out] == [("1m", T0 + MS_PER_MINUTE)]
    out = b.feed([tr(LINEAR, T0 + 5 * MS_PER_MINUTE, "buy", "98", "1")])
    assert [(c.timeframe, c.open_time_ms) for c in out] == [
        ("1m", T0 + 4 * MS_PER_MINUTE),
        ("5m", T0),
    ]
    five = out[-1]
    assert (five.open, five.high, five.low, five.close) == tuple(
        map(Decimal, ["100", "101", "99", "99"])
    )
    assert five.trade_count == 4 and five.close_time_ms == T0 + 5 * MS_PER_MINUTE


def test_linear_candle_record() -> None:
    b = CandleBuilder(LINEAR, ["1m"])
    trades = [
        tr(LINEAR, T0 + 1, "buy", "100000.5", "45"),
        tr(LINEAR, T0 + 2, "sell", "100001.0", "5"),
        tr(LINEAR, T0 + MS_PER_MINUTE, "buy", "1", "1"),
    ]
    (c,) = b.feed(trades)
    assert c.to_record() == {
        "open_time_utc": "2025-12-14T00:00:00Z",
        "instId": "BTC-USDT-SWAP",
        "timeframe": "1m",
        "open": "100000.5",
        "high": "100001",
        "low": "100000.5",
        "close": "100001",
        "volume_contracts": "50",
        "volume_base": "0.5",
        "volume_quote": "50000.275",  # 0.45 × 100000.5 + 0.05 × 100001
        "buy_volume_base": "0.45",
        "sell_volume_base": "0.05",
        "trade_count": 2,
        "first_trade_id": str(trades[0].trade_id),
        "last_trade_id": str(trades[1].trade_id),
        "vwap": "100000.55",
    }


def test_cvd_units_for_inverse_and_spot() -> None:
    inv = [
        tr(INVERSE, T0, "buy", "30000", "3"),  # 300 USD, 0.01 BTC
        tr(INVERSE, T0 + 5, "sell", "40000", "1"),  # 100 USD, 0.0025 BTC
        tr(INVERSE, T0 + MS_PER_MINUTE, "buy", "1", "1"),
    ]
    got = {
        unit: CvdCalculator(INVERSE, unit, ["1m"]).feed(inv)[0].to_record()
        for unit in ("quote", "base", "contracts")
    }
    assert (got["quote"]["delta"], got["quote"]["buy_volume"]) == ("200", "300")
    assert (got["base"]["delta"], got["base"]["sell_volume"]) == ("0.0075", "0.0025")
    assert (got["contracts"]["cvd_value"], got["contracts"]["trade_count"]) == ("2", 2)
    spot = [
        tr(SPOT, T0, "sell", "2000.01", "0.5"),
        tr(SPOT, T0 + MS_PER_MINUTE, "buy", "1", "1"),
    ]
    rec = CvdCalculator(SPOT, "quote", ["1m"]).feed(spot)[0].to_record()
    assert list(rec) == [
        "window_start_utc", "cvd_value", "symbol", "exchange", "timeframe", "instId", "unit",
        "delta", "buy_volume", "sell_volume", "trade_count", "cvd_session",
    ]  # fmt: skip
    assert (rec["cvd_value"], rec["buy_volume"], rec["symbol"]) == ("-1000.005", "0", "ETH/USDT")
    assert CvdCalculator(SPOT, "base", ["1m"]).feed(spot)[0].delta == Decimal("-0.5")


def test_cvd_session_resets_at_midnight_but_cvd_does_not() -> None:
    c = CvdCalculator(LINEAR, "contracts", ["1m", "1d"])
    out = c.feed(
        [
            tr(LINEAR, T0 - 1, "buy", "1", "7"),
            tr(LINEAR, T0 + 1, "sell", "1", "2"),
            tr(LINEAR, T0 + MS_PER_DAY, "sell", "1", "1"),
        ]
    )
    rows = [(r.timeframe, r.cvd_value, r.cvd_session, r.delta) for r in out]
    d = Decimal
    assert rows == [
        ("1m", d(7), d(7), d(7)),
        ("1d", d(7), d(7), d(7)),  # the previous day, closed by the trade at 00:00:00.001
        ("1m", d(5), d(-2), d(-2)),
        ("1d", d(5), d(-2), d(-2)),
    ]


def test_vwap_empty_minutes_labels_and_nulls() -> None:
    v = RollingVwap(LINEAR, [2, 60], "base")
    out = v.feed(
        [
            tr(LINEAR, T0, "buy", "100", "1"),
            tr(LINEAR, T0 + 3 * MS_PER_MINUTE, "sell", "200", "1"),
        ]
    )
    recs = [m.to_record() for m in out]
    assert [r["window_start_utc"][11:16] for r in recs] == ["00:00", "00:01", "00:02"]
    assert list(recs[0]) == [
        "window_start_utc", "instId", "vwap_2m", "vwap_1h", "trade_count_2m", "trade_count_1h",
        "volume_2m", "volume_1h", "std_2m", "std_1h",
    ]  # fmt: skip
    assert recs[1]["vwap_2m"] == "100" and recs[1]["std_2m"] == "0"
    assert recs[2]["vwap_2m"] is None and recs[2]["std_2m"] is None
    assert (recs[2]["trade_count_2m"], recs[2]["volume_2m"]) == (0, "0")
    assert (recs[2]["vwap_1h"], recs[2]["volume_1h"]) == ("100", "0.01")


def test_vwap_and_std_ties_round_half_even() -> None:
    def minute(*pxs: str) -> dict[str, object]:
        v = RollingVwap(FINE, [60], "base")
        trades = [tr(FINE, T0 + i, "buy", px, "1") for i, px in enumerate(pxs)]
        (m,) = v.feed([*trades, tr(FINE, T0 + MS_PER_MINUTE, "buy", "1", "1")])
        return m.to_record()

    # mean 1.000000015 → 1.00000002 (even); std = 0.5e-8 → 0 (even)
    assert (r := minute("1.00000001", "1.00000002"))["vwap_1h"] == "1.00000002"
    assert r["std_1h"] == "0"
    # mean 1.000000025 → 1.00000002; std = 1.5e-8 → 0.00000002
    assert (r := minute("1.00000001", "1.00000004"))["vwap_1h"] == "1.00000002"
    assert r["std_1h"] == "0.00000002"


def test_notional_weighting_is_the_seed_formula() -> None:
    trades = [
        tr(LINEAR, T0, "buy", "100", "100"),  # base 1, notional 100
        tr(LINEAR, T0 + 1, "sell", "300", "100"),  # base 1, notional 300
        tr(LINEAR, T0 + MS_PER_MINUTE, "buy", "1", "1"),
    ]
    base = RollingVwap(LINEAR, [60], "base").feed(trades)[0].to_record()
    notional = RollingVwap(LINEAR, [60], "notional").feed(trades)[0].to_record()
    assert (base["vwap_1h"], base["std_1h"], base["volume_1h"]) == ("200", "100", "2")
    # (100·100 + 300·300) / 400 = 250; std = sqrt(0.25·150² + 0.75·50²) = 86.60254037…
    assert (notional["vwap_1h"], notional["volume_1h"]) == ("250", "2")
    assert notional["std_1h"] == "86.60254038"


def test_duplicates_and_invalid_trades_are_skipped_and_counted() -> None:
    good = tr(LINEAR, T0, "buy", "100", "1")
    bad_px = tr(LINEAR, T0 + 1, "buy", "100.000001", "1")  # beyond the price scale
    bad_sz = tr(LINEAR, T0 + 2, "buy", "100", "abc")
    later = tr(LINEAR, T0 + MS_PER_MINUTE, "buy", "100", "1")
    for calc in (CandleBuilder(LINEAR, ["1m"]), CvdCalculator(LINEAR), RollingVwap(LINEAR)):
        out = calc.feed([good, good, bad_px, bad_sz, later, good])
        assert (calc.skipped, calc.invalid) == (2, 2)
        assert calc.cursor == (later.ts_ms, later.trade_id)
        assert len(out) == 1
        rec = out[0].to_record()
        assert rec.get("open_time_utc", rec.get("window_start_utc")) == "2025-12-14T00:00:00Z"


def test_state_from_other_settings_is_refused() -> None:
    c = CvdCalculator(LINEAR, "quote")
    c.feed([tr(LINEAR, T0, "buy", "100", "1")])
    with pytest.raises(ValueError, match="unit"):
        CvdCalculator(LINEAR, "base", state=c.state())
    with pytest.raises(ValueError, match="instId"):
        CvdCalculator(SPOT, "quote", state=c.state())
    v = RollingVwap(LINEAR, [60, 240])
    with pytest.raises(ValueError, match="windows_minutes"):
        RollingVwap(LINEAR, [60], state=v.state())
    with pytest.raises(ValueError, match="kind"):
        CandleBuilder(LINEAR, state=v.state())


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        CvdCalculator(LINEAR, "usd")
    with pytest.raises(ValueError):
        RollingVwap(LINEAR, [60], "volume")
    with pytest.raises(ValueError):
        RollingVwap(LINEAR, [60, 60])
    with pytest.raises(ValueError):
        CandleBuilder(LINEAR, ["1m", "7m"])
