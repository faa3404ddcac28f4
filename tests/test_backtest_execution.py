"""The execution model alone (`ExecutionBook`) on hand-made setups and trades (prices in ticks)."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from rq_actors.core.backtest.execution import ExecutionBook
from rq_actors.core.backtest.options import Distance, ExitRules, OptionError, RuleSet
from rq_actors.core.backtest.outcome import Outcome
from rq_actors.core.backtest.stats import edge, summarize, wilson
from tests.helpers.backtest import make_setup

TICK = Decimal("0.1")


def _play(book: ExecutionBook, trades: list[tuple[int, int]]) -> list[Outcome]:
    for ts, px in trades:
        if px >= book.hi_gate or px <= book.lo_gate or ts >= book.t_gate:
            book.on_trade(ts, px)
    book.finish(trades[-1][0], trades[-1][1])
    return sorted(book.outcomes, key=lambda o: (o.setup.seq, o.exits))


def test_no_overlap_skips_a_setup_while_one_is_alive() -> None:
    for no_overlap, want in ((True, ["filled", "skipped_overlap"]), (False, ["filled", "filled"])):
        book = ExecutionBook(
            [ExitRules(stop=Distance(Decimal(3), "t"), no_overlap=no_overlap)], TICK
        )
        book.place(make_setup(1))
        book.place(make_setup(2))
        got = _play(book, [(1, 1001), (2, 990)])  # both fill at 1000; target 997 reached through
        assert [o.status for o in got] == want


def test_the_fill_trade_itself_can_stop_the_position() -> None:
    book = ExecutionBook([ExitRules(stop=Distance(Decimal(2), "t"))], TICK)
    book.place(make_setup(1))
    (o,) = _play(book, [(1, 1005), (2, 1000)])  # a sweep to 1005: filled at 1000, stop at 1002
    assert (o.reason, o.entry, o.exit_px, o.pnl_ticks, o.fill_ms, o.exit_ms) == (
        "stop", 1000, 1005, -5, 1, 1,
    )  # fmt: skip


def test_an_order_past_its_time_is_cancelled_before_the_trade_could_fill_it() -> None:
    book = ExecutionBook([ExitRules()], TICK)
    book.place(make_setup(1, until=100))
    (o,) = _play(book, [(50, 990), (101, 1010)])
    assert o.status == "unfilled"
    book = ExecutionBook([ExitRules()], TICK)
    book.place(make_setup(1, until=100))
    (o,) = _play(book, [(50, 990), (100, 1010), (200, 1010)])  # at the limit instant: still valid
    assert o.status == "filled"


def test_an_open_position_at_the_end_is_marked_not_counted() -> None:
    book = ExecutionBook([ExitRules()], TICK)
    book.place(make_setup(1))
    (o,) = _play(book, [(1, 1001), (2, 998)])
    assert (o.status, o.reason, o.exit_px) == ("open_at_end", "end_of_data", 998)
    s = summarize([o])
    assert (s["filled"], s["trades"], s["open_at_end"]) == (1, 0, 1)


def test_target_in_wick_sizes_and_r() -> None:
    rules = ExitRules(stop=Distance(Decimal("1.5"), "w"), target=Distance(Decimal(2), "R"))
    book = ExecutionBook([rules], TICK)
    book.place(make_setup(1))  # size 2: stop 3 ticks, target 6 ticks
    (o,) = _play(book, [(1, 1001), (2, 993)])
    assert (o.stop_ticks, o.target_ticks, o.reason, o.exit_px) == (3, 6, "target", 994)


def test_bad_knobs_are_refused() -> None:
    with pytest.raises(OptionError):
        Distance.parse("1R", "stop", allow_r=False)
    with pytest.raises(OptionError):
        Distance.parse("1.5t", "stop")
    with pytest.raises(OptionError):
        ExitRules(time_stop_min=0)
    with pytest.raises(OptionError):
        RuleSet(age_min=30, age_max=20)


def test_wilson_interval_matches_the_formula() -> None:
    assert wilson(0, 0) is None
    assert wilson(5, 10) == ("0.2366", "0.7634")  # the textbook value for 5/10
    assert wilson(10, 10) == ("0.7225", "1.0000")


def test_edge_needs_the_interval_above_zero() -> None:
    book = ExecutionBook([ExitRules(maker_fee_bps=Decimal(0))], TICK)
    wins = []
    for i in range(30):
        book.place(attrs.evolve(make_setup(i + 1), as_of_ms=i * 10, order_until_ms=i * 10 + 5))
        book.on_trade(i * 10 + 1, 1001)
        book.on_trade(i * 10 + 2, 989)
    wins = sorted(book.outcomes, key=lambda o: o.setup.seq)
    assert all(o.reason == "target" for o in wins)
    assert edge(wins, None, seed=1)["edge"] is True
    assert edge(wins, wins, seed=1)["edge"] is False
