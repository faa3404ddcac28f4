"""Properties of the backtest on random tapes: no look-ahead, consistent PnL, determinism."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rq_actors.core.backtest.engine import BacktestEngine
from rq_actors.core.backtest.options import Distance, ExitRules, RuleSet
from rq_actors.core.backtest.outcome import Outcome
from rq_actors.core.backtest.setup import Setup
from rq_actors.messages import Trade
from tests.helpers.backtest import META, random_walk

RULES = [RuleSet(age_min=3, age_max=12, min_touched_surrounding=2, surround_minutes=8)]
EXITS = [
    ExitRules(stop=Distance(Decimal(12), "t"), target=Distance(Decimal(2), "R"), time_stop_min=2),
    ExitRules(fill_rule="touch", stop=Distance(Decimal(1), "w"), target=Distance(Decimal(6), "t")),
]
TAPES = {seed: random_walk(seed, 90) for seed in range(6)}


def _run(trades: list[Trade], chunk: int = 500) -> tuple[list[Setup], list[Outcome]]:
    engine = BacktestEngine(META, RULES, EXITS, random_every_min=5, cvd_minutes=10, seed=3)
    for i in range(0, len(trades), chunk):
        engine.feed(trades[i : i + chunk])
    outcomes = engine.finish()
    return engine.setups, outcomes


FULL = {seed: _run(t) for seed, t in TAPES.items()}


def _rec(s: Setup) -> dict[str, object]:
    return s.record(META.tick)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(TAPES)), st.floats(0.2, 0.95))
def test_cutting_the_tape_changes_nothing_decided_before_the_cut(seed: int, frac: float) -> None:
    trades = TAPES[seed]
    full_setups, full_outcomes = FULL[seed]
    kept = trades[: int(len(trades) * frac)]
    cut_setups, cut_outcomes = _run(kept, chunk=337)  # a different chunking, too
    last = kept[-1].ts_ms
    # a setup exists iff a kept trade closed its minute; then every feature is the same
    want = [_rec(s) for s in full_setups if s.as_of_ms <= last]
    assert [_rec(s) for s in cut_setups] == want
    # every outcome finished (exit or cancel) by the last kept trade is the same
    done = {
        (o.setup.seq, o.exits): o.record(META.tick)
        for o in full_outcomes
        if o.status == "filled" and o.exit_ms is not None and o.exit_ms <= last
    }
    got = {(o.setup.seq, o.exits): o.record(META.tick) for o in cut_outcomes}
    for key, rec in done.items():
        assert got[key] == rec


def test_the_tapes_have_setups_of_every_group_and_exit() -> None:
    setups = [s for ss, _ in FULL.values() for s in ss]
    outcomes = [o for _, oo in FULL.values() for o in oo]
    assert {s.group for s in setups} == {"signal", "baseline", "random"}
    assert {o.reason for o in outcomes if o.reason} >= {"target", "stop", "time"}
    assert len({s.as_of_ms for s in setups if s.group == "signal"}) > 5


def test_pnl_is_consistent_with_prices_and_fees() -> None:
    for _, outcomes in FULL.values():
        for o in outcomes:
            if o.entry is None or o.exit_px is None:
                assert o.pnl_quote == 0 and o.status in ("unfilled", "skipped_overlap")
                continue
            sign = -1 if o.setup.fade == "short" else 1
            assert o.pnl_ticks == sign * (o.exit_px - o.entry)
            gross = Decimal(o.pnl_ticks) * META.tick * EXITS[o.exits].size_base
            assert o.pnl_quote == gross - o.fees_quote and o.fees_quote > 0
            assert (o.pnl_quote > 0) <= (o.pnl_ticks > 0)  # fees never turn a loss into a win
            assert o.mfe_ticks >= max(0, o.pnl_ticks) and o.mae_ticks >= max(0, -o.pnl_ticks)
            if o.reason == "target":
                assert o.pnl_ticks == o.target_ticks > 0
            if o.reason == "stop":
                assert o.pnl_ticks <= -o.stop_ticks
            assert (o.pnl_bps > 0) == (o.pnl_quote > 0) or o.pnl_bps == 0


def test_same_tape_same_result() -> None:
    setups, outcomes = _run(TAPES[0], chunk=10_000)
    assert [_rec(s) for s in setups] == [_rec(s) for s in FULL[0][0]]
    assert [o.record(META.tick) for o in outcomes] == [o.record(META.tick) for o in FULL[0][1]]


@pytest.mark.parametrize("seed", sorted(TAPES))
def test_feeding_the_tracker_only_possible_touches_changes_nothing(seed: int) -> None:
    engine = BacktestEngine(META, RULES, EXITS, random_every_min=5, cvd_minutes=10, seed=3,
                            feed_all=True)  # fmt: skip
    engine.feed(TAPES[seed])
    outcomes = engine.finish()
    setups, want = FULL[seed]
    assert [_rec(s) for s in engine.setups] == [_rec(s) for s in setups]
    assert [o.record(META.tick) for o in outcomes] == [o.record(META.tick) for o in want]
