"""`run_backtest` on hand-built vaults whose outcomes are worked out by hand.

The base tape (tick 0.1, one line per minute):
  m0  100.0 101.0 100.0   upper wick W0: tip 101.0, size 10
  m1  100.0 101.2 100.0   upper wick W1: tip 101.2, size 12; touches W0
  m2   99.0  99.2  99.0   upper wick W2: tip 99.2, size 2 (the candidate)
  m3   98.5               flat
  m4   98.5               flat
With age 2..10 min, ≥ 1 touched surrounding within ±5 min: at the close of m4 (11:05) W2 is
2 minutes old, W0 around it is touched and W2 (2) is below the surrounding median (10, 12 → 11):
a signal, faded short at 99.2. W1 (12 > median of 10 and 2) is a candidate that fails the
filter: the baseline (at 11:04, when it is 2 minutes old). The scenarios append minutes m5…
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from rq_actors.core.backtest.outcome import Outcome
from rq_actors.io.backtest.run import BacktestResult, run_backtest
from tests.helpers.backtest import BASE, INST, RULES, T0, W1, W2, tape, write_vault

MIN = 60_000


def _mirror(minutes: list[list[str]]) -> list[list[str]]:
    return [[str(Decimal(200) - Decimal(p)) for p in m] for m in minutes]


def _run(
    tmp_path: Path, scenario: list[list[str]], mirror: bool = False, **kw: Any
) -> BacktestResult:
    minutes = BASE + scenario
    config = write_vault(tmp_path / "vault", tape(_mirror(minutes) if mirror else minutes))
    return run_backtest(config, INST, overrides={**RULES, **kw})


def _only(res: BacktestResult, wick_id: str) -> Outcome:
    mine = [o for o in res.outcomes if o.setup.id == wick_id]
    assert len(mine) == 1, [o.setup.id for o in res.outcomes]
    return mine[0]


def test_the_setup_is_found_when_it_first_qualifies(tmp_path: Path) -> None:
    res = _run(tmp_path, [["98.5"]])
    s = _only(res, W2).setup
    assert (s.group, s.as_of_ms, s.age_min, s.fade, s.tip) == (
        "signal",
        T0 + 5 * MIN,
        2,
        "short",
        992,
    )
    assert (s.touched_surrounding, s.surrounding, s.median_size_ticks) == (1, 2, "11")
    assert (s.tier, s.distance_ticks, s.price) == ("WATCH", 7, 985)


def test_target_hit_through_and_touch(tmp_path: Path) -> None:
    scenario = [["99.2", "99.3", "98.9"], ["98.7", "98.6", "98.8"]]
    through = _only(_run(tmp_path / "a", scenario), W2)
    touch = _only(_run(tmp_path / "b", scenario, fill_rule="touch"), W2)
    # through: filled by the 99.3 trade, target 98.7 reached through by the 98.6 trade
    assert (through.fill_ms, through.exit_ms) == (T0 + 5 * MIN + 2000, T0 + 6 * MIN + 2000)
    # touch: filled by the 99.2 trade, target filled by the 98.7 trade
    assert (touch.fill_ms, touch.exit_ms) == (T0 + 5 * MIN + 1000, T0 + 6 * MIN + 1000)
    for o in (through, touch):
        assert (o.status, o.reason, o.entry, o.exit_px, o.pnl_ticks) == (
            "filled",
            "target",
            992,
            987,
            5,
        )
        # maker both ways: 99.2 × 2 bps + 98.7 × 2 bps = 0.01984 + 0.01974
        assert o.fees_quote == Decimal("0.03958")
        assert o.pnl_quote == Decimal("0.46042")
        assert o.record(Decimal("0.1"))["pnl_bps"] == "46.4133"  # 0.46042 / 99.2 × 10 000
        assert o.record(Decimal("0.1"))["pnl_r"] == "0.9208"  # over the 5-tick risk (0.5)
    assert (through.mfe_ticks, through.mae_ticks) == (6, 1)  # low 98.6, high 99.3
    assert (touch.mfe_ticks, touch.mae_ticks) == (5, 1)  # low 98.7, high 99.3


def test_a_trade_at_the_tip_fills_only_under_touch(tmp_path: Path) -> None:
    scenario = [["99.2", "99.1", "99.0"], *[["98.0"]] * 10]
    through = _only(_run(tmp_path / "a", scenario), W2)
    assert through.status == "unfilled"
    touch = _only(_run(tmp_path / "b", scenario, fill_rule="touch"), W2)
    assert (touch.status, touch.fill_ms, touch.entry) == ("filled", T0 + 5 * MIN + 1000, 992)


def test_stop_fills_at_the_first_trade_through_it_at_that_price(tmp_path: Path) -> None:
    o = _only(_run(tmp_path, [["99.3", "99.9", "99.5"]]), W2)
    assert (o.reason, o.entry, o.exit_px, o.pnl_ticks, o.stop_ticks) == ("stop", 992, 999, -7, 5)
    # maker in at 99.2 (2 bps), taker out at 99.9 (5 bps): 0.01984 + 0.04995
    assert o.fees_quote == Decimal("0.06979")
    assert o.pnl_quote == Decimal("-0.76979")
    assert o.record(Decimal("0.1"))["pnl_r"] == "-1.5396"
    assert not o.win


def test_time_stop_exits_at_market(tmp_path: Path) -> None:
    scenario = [["99.3", "99.1"], ["99.0"], ["99.1", "99.0"], ["99.0"]]
    o = _only(_run(tmp_path, scenario, time_stop_min=2), W2)
    # filled 11:05:01; due 11:07:01: the trade at exactly that time exits, taker, at 99.1
    assert (o.reason, o.exit_ms, o.exit_px, o.pnl_ticks) == ("time", T0 + 7 * MIN + 1000, 991, 1)
    assert o.fees_quote == Decimal("0.01984") + Decimal("0.04955")


def test_fees_are_knobs(tmp_path: Path) -> None:
    scenario = [["99.3"], ["98.6"]]
    o = _only(_run(tmp_path, scenario, maker_fee_bps="0", taker_fee_bps="0", size_base="2"), W2)
    assert (o.reason, o.fees_quote, o.pnl_quote) == ("target", Decimal(0), Decimal("1.0"))


def test_the_long_side_mirrors_the_short(tmp_path: Path) -> None:
    lower = f"{INST}:1m:2025-12-14T11:02:00Z:lower"
    scenario = [["99.2", "99.3", "98.9"], ["98.7", "98.6", "98.8"]]
    o = _only(_run(tmp_path, scenario, mirror=True), lower)
    assert (o.setup.fade, o.setup.tip, o.entry, o.exit_px) == ("long", 1008, 1008, 1013)
    assert (o.reason, o.pnl_ticks, o.mfe_ticks, o.mae_ticks) == ("target", 5, 6, 1)


def test_baseline_is_the_candidate_that_fails_the_filter(tmp_path: Path) -> None:
    res = _run(tmp_path, [["98.5"]] * 3, baselines=True, random_every_min=1_000_000)
    b = _only(res, W1).setup
    assert (b.group, b.as_of_ms, b.size_ticks, b.median_size_ticks) == (
        "baseline",
        T0 + 4 * MIN,
        12,
        "6",
    )
    assert _only(res, W2).setup.group == "signal"


def test_order_ttl_cancels_early(tmp_path: Path) -> None:
    scenario = [["98.5"], ["98.5"], ["99.3"], ["98.0"]]
    late = _only(_run(tmp_path / "a", scenario), W2)
    assert (late.status, late.fill_ms) == ("filled", T0 + 7 * MIN + 1000)
    cut = _only(_run(tmp_path / "b", scenario, order_ttl_min=1), W2)
    assert (cut.status, cut.order_until_ms) == ("unfilled", T0 + 6 * MIN)
    assert cut.record(Decimal("0.1"))["order_until_utc"] == "2025-12-14T11:06:00.000Z"


def test_from_and_to_pick_trade_files_by_date(tmp_path: Path) -> None:
    day2 = T0 + 86_400_000
    minutes = [*BASE, ["98.5"]]
    trades = tape(minutes) + tape(minutes, start_ms=day2, first_id=100)
    config = write_vault(tmp_path / "vault", trades)
    both = run_backtest(config, INST, overrides=RULES)
    second = run_backtest(config, INST, start_day="2025-12-15", overrides=RULES)
    first = run_backtest(config, INST, end_day="2025-12-14", overrides=RULES)
    assert (both.trades, second.trades, first.trades) == (24, 12, 12)
    assert second.first_ms > day2 and first.last_ms < day2


def test_features_are_those_of_the_instant_even_after_quiet_minutes(tmp_path: Path) -> None:
    busy = _only(_run(tmp_path / "a", [["98.5"]]), W2).setup
    quiet = _only(_run(tmp_path / "b", [[], [], ["98.5"]]), W2).setup  # the close comes late
    assert busy.as_of_ms == quiet.as_of_ms == T0 + 5 * MIN
    # eleven equal-size trades before 11:05: the VWAP is their mean, 1096.4 / 11
    assert busy.context["vwap_1h"] == quiet.context["vwap_1h"] == "99.67272727"
    assert busy.context == quiet.context
    assert busy.context["cvd_30m"] is None  # the tape is younger than 30 minutes
