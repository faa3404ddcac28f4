"""A planted edge is found, and a plain walk claims none (fees 0, target = stop: 50 % is even).

The tape (`tests.helpers.backtest.planted_walk`) turns at the tip of untouched 1m wicks aged
20–40 minutes with probability 0.8 after trading 1 tick through it; the fills of wicks that
were not planted (reached inside another wick's run) dilute it a little.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rq_actors.core.backtest.analysis import summary
from rq_actors.core.backtest.engine import BacktestEngine
from rq_actors.core.backtest.options import Distance, ExitRules, RuleSet
from tests.helpers.backtest import META, planted_walk

RULES = [RuleSet(min_touched_surrounding=5)]
EXITS = [
    ExitRules(
        stop=Distance(Decimal(10), "t"),
        target=Distance(Decimal(1), "R"),
        maker_fee_bps=Decimal(0),
        taker_fee_bps=Decimal(0),
    )
]


def _backtest(p_turn: float | None) -> dict[str, Any]:
    engine = BacktestEngine(META, RULES, EXITS)
    engine.feed(planted_walk(1, 1500, p_turn))
    outcomes = engine.finish()
    assert engine.first_ms is not None and engine.last_ms is not None
    return summary(outcomes, RULES, EXITS, cvd_key="cvd_30m",
                   first_ms=engine.first_ms, last_ms=engine.last_ms)  # fmt: skip


def test_the_planted_turn_is_found() -> None:
    doc = _backtest(0.8)
    sig = doc["groups"]["signal"]
    lo, hi = (Decimal(x) for x in sig["win_rate_ci95"])
    assert sig["trades"] >= 20
    assert lo > Decimal("0.5") and hi >= Decimal("0.75"), sig  # near the planted 0.8
    assert doc["edge"]["signal_vs_zero"]["edge"] is True
    assert doc["edge"]["signal_vs_random"]["edge"] is True


def test_the_plain_walk_claims_no_edge() -> None:
    doc = _backtest(None)
    assert doc["groups"]["signal"]["trades"] >= 20
    assert not any(e["edge"] for e in doc["edge"].values()), doc["edge"]
