"""The trade-acceptance prelude each calculator inlines (cursor skip, then price and size
parsing) against the one rule, `core.derive.common.accept_trade` (issue #16 item 7)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rq_actors.core.derive import CandleBuilder, CvdCalculator, RollingVwap
from rq_actors.core.derive.common import Quant, accept_trade
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.timefmt import MS_PER_MINUTE
from rq_actors.messages import Trade
from tests.helpers.strategies import numberish

METAS = [
    InstrumentMeta("BTC-USDT-SWAP", "SWAP", "0.01", "1", "linear", "0.1", "0.01"),
    InstrumentMeta("BTC-USD-SWAP", "SWAP", "100", "1", "inverse", "0.1", "1"),
    InstrumentMeta("ETH-USDT", "SPOT", "1", "1", "spot", "0.01", "0.0001"),
]
T0 = 1_765_756_800_000
# good prices and sizes, ones beyond the scale (3 places more than the tick/lot), zero and junk
PRICES = st.sampled_from(["100", "100.1", "99.99", "100.000001", "0"]) | numberish
SIZES = st.sampled_from(["1", "0.5", "2.25", "0.0000001", "0"]) | numberish


@st.composite
def _streams(draw: st.DrawFn) -> list[Trade]:
    """Mostly increasing `(ts, id)` with replays: a step back re-sends earlier keys."""
    out: list[Trade] = []
    ts, tid = T0, 1
    for _ in range(draw(st.integers(1, 60))):
        step = draw(st.sampled_from(["next", "next", "same_ts", "minute", "back"]))
        if step == "back" and out:
            old = draw(st.sampled_from(out))
            ts_i, id_i = old.ts_ms, old.trade_id
        else:
            ts += {"next": 250, "same_ts": 0, "minute": MS_PER_MINUTE}.get(step, 0)
            tid += 1
            ts_i, id_i = ts, tid
        side = draw(st.sampled_from(["buy", "sell"]))
        out.append(Trade("X", id_i, ts_i, side, draw(PRICES), draw(SIZES)))
    return out


def _reference(q: Quant, trades: list[Trade]) -> tuple[int, int, tuple[int, int]]:
    skipped = invalid = 0
    cursor = (-1, -1)
    for t in trades:
        verdict = accept_trade(q, cursor, t)
        if verdict == "skipped":
            skipped += 1
        elif verdict == "invalid":
            invalid += 1
        else:
            cursor = (t.ts_ms, t.trade_id)
    return skipped, invalid, cursor


def _calculators(meta: InstrumentMeta) -> list[Any]:
    return [
        CvdCalculator(meta, "base", ["1m", "5m"]),
        RollingVwap(meta, [60], "base"),
        CandleBuilder(meta, ["1m", "5m"]),
    ]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(METAS), _streams(), st.data())
def test_every_calculator_accepts_exactly_the_trades_the_rule_accepts(
    meta: InstrumentMeta, trades: list[Trade], data: st.DataObject
) -> None:
    trades = [Trade(meta.inst_id, t.trade_id, t.ts_ms, t.side, t.px, t.sz) for t in trades]
    want = _reference(Quant(meta), trades)
    for calc in _calculators(meta):
        i = 0
        while i < len(trades):  # in batches of any size: the rule is per trade
            j = i + data.draw(st.integers(1, 8))
            calc.feed(trades[i:j])
            i = j
        assert (calc.skipped, calc.invalid, calc.cursor) == want, type(calc).__name__


def test_the_rule_on_known_cases() -> None:
    q = Quant(METAS[0])  # tick 0.1, lot 0.01: 5 and 6 places with the slack of 4
    t = Trade("BTC-USDT-SWAP", 5, T0, "buy", "100.1", "0.5")
    assert accept_trade(q, (-1, -1), t) == (10010000, 500000)
    assert accept_trade(q, (T0, 5), t) == "skipped"  # at the cursor
    assert accept_trade(q, (T0, 4), t) == (10010000, 500000)  # same ts, higher id
    assert accept_trade(q, (T0 + 1, 0), t) == "skipped"
    for px, sz in (("100.000001", "1"), ("0", "1"), ("abc", "1"), ("100", "-1"), ("100", "")):
        bad = Trade("BTC-USDT-SWAP", 6, T0 + 1, "buy", px, sz)
        assert accept_trade(q, (T0, 5), bad) == "invalid", (px, sz)
