"""The threshold study: grid parsing, one replay for every point, and the out-of-sample pick."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from rq_actors.core.backtest.engine import BacktestEngine
from rq_actors.core.backtest.options import Distance, ExitRules, OptionError, RuleSet
from rq_actors.core.backtest.outcome import Outcome
from rq_actors.core.backtest.sweep import expand, parse_sweep, study
from tests.helpers.backtest import META, make_setup, random_walk

BASE_RULES = RuleSet(age_min=3, age_max=12, min_touched_surrounding=2, surround_minutes=8)
BASE_EXITS = ExitRules(stop=Distance(Decimal(6), "t"))


def test_grid_is_parsed_and_expanded_with_the_base_first() -> None:
    grid = parse_sweep(["age_min=3,4", "min-touched-surrounding=2,3", "target=1R,2R"])
    rules, exits = expand(grid, BASE_RULES, BASE_EXITS)
    assert rules[0] == BASE_RULES and exits[0] == BASE_EXITS
    assert len(rules) == 4 and len(exits) == 2  # the base (3, 2) and 1R appear once
    assert {(r.age_min, r.min_touched_surrounding) for r in rules} == {
        (3, 2),
        (3, 3),
        (4, 2),
        (4, 3),
    }
    sized, _ = expand(parse_sweep(["max_size_ticks=0,2"]), BASE_RULES, BASE_EXITS)
    assert [r.max_size_ticks for r in sized] == [None, 2]  # 0: the median, the base
    for bad in (["age_min"], ["age_min=x"], ["nope=1"], ["stop=1R"], ["age_min=50"]):
        with pytest.raises(OptionError):
            expand(parse_sweep(bad), BASE_RULES, BASE_EXITS)


def test_every_point_of_one_replay_equals_its_own_replay() -> None:
    trades = random_walk(11, 80)
    rules, exits = expand(parse_sweep(["min_touched_surrounding=1,2", "target=1R,2R"]),
                          BASE_RULES, BASE_EXITS)  # fmt: skip
    together = BacktestEngine(META, rules, exits, baselines=False)
    together.feed(trades)
    all_outcomes = together.finish()
    for ri, r in enumerate(rules):
        for ei, e in enumerate(exits):
            alone = BacktestEngine(META, [r], [e], baselines=False)
            alone.feed(trades)
            want = [o.record(META.tick) for o in alone.finish()]
            got = [
                {**o.record(META.tick), "rules": 0, "exits": 0}
                for o in all_outcomes
                if o.setup.rules == ri and o.exits == ei
            ]
            assert [{**w, "seq": 0} for w in want] == [{**g, "seq": 0} for g in got]
            assert want, (ri, ei)


def _won(seq: int, rules: int, as_of: int, bps: int) -> Outcome:
    s = attrs.evolve(make_setup(seq), rules=rules, as_of_ms=as_of)
    return Outcome(
        s, 0, "filled", fill_ms=as_of, entry=1000, exit_ms=as_of + 1, exit_px=990,
        reason="target", pnl_ticks=10, pnl_quote=Decimal(bps), pnl_bps=bps * 10**4,
    )  # fmt: skip


def test_the_pick_is_chosen_in_sample_and_judged_out_of_sample() -> None:
    rules = [BASE_RULES, attrs.evolve(BASE_RULES, age_min=4)]
    outs = [_won(i, 0, i, 1) for i in range(12)] + [_won(100 + i, 1, i, 5) for i in range(12)]
    outs += [_won(200 + i, 1, 1000 + i, -3) for i in range(5)]  # rule set 1 fails later on
    doc = study(outs, rules, [BASE_EXITS], split_ms=1000, min_trades=10)
    assert doc["pick"]["rules"] == 1
    held_out = doc["pick"]["out_of_sample"]
    assert held_out["trades"] == 5 and held_out["expectancy_bps"] == "-3"
    assert doc["pick"]["out_of_sample_vs_zero"]["edge"] is False
    assert "2 combinations" in doc["warning"]
