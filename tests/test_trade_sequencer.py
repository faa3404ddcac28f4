"""The pure ordering/de-duplication core and the REST backfill helpers."""

from __future__ import annotations

from typing import Any

import trio

from rq_actors.core.trades.sequencer import NO_WAIT, Hole, TradeSequencer
from rq_actors.io.backfill import aggregate_fills, drop_covered, fetch_history, uncovered
from tests.helpers.trades import INST, FakeHistory, fill_row, trade


def _ids(trades: Any) -> list[int]:
    return [t.trade_id for t in trades]


def test_contiguous_trades_flow_and_duplicates_are_counted() -> None:
    seq = TradeSequencer(10)
    assert seq.offer([trade(11), trade(12), trade(10), trade(9), trade(12)], 0.0) == 3
    released = seq.release()
    assert _ids(released.trades) == [11, 12] and released.backfilled == 0
    assert seq.last_id == 12 and seq.hole() is None


def test_reordered_trades_inside_the_window_are_put_in_order() -> None:
    seq = TradeSequencer(10, window_s=1.0)
    seq.offer([trade(13), trade(12)], 5.0)
    assert seq.release().trades == []
    assert seq.hole() == Hole(11, 11, 5.0) and seq.deadline() == 6.0
    seq.offer([trade(11)], 5.5)
    assert _ids(seq.release().trades) == [11, 12, 13]
    assert seq.deadline() is None


def test_empty_vault_starts_at_the_first_trade() -> None:
    seq = TradeSequencer(None)
    seq.offer([trade(501), trade(500)], 0.0)
    assert _ids(seq.release().trades) == [500, 501]
    seq.offer([trade(499)], 0.0)
    assert seq.release().trades == [] and seq.last_id == 501


def test_aggregated_rows_cover_count_ids() -> None:
    seq = TradeSequencer(100)
    seq.offer([trade(104, count=4), trade(110, count=3)], 0.0)
    assert _ids(seq.release().trades) == [104]
    assert seq.hole() == Hole(105, 107, 0.0)


def test_settled_range_lets_held_trades_pass_missing_ids() -> None:
    seq = TradeSequencer(10)
    seq.offer([trade(20)], 0.0)
    seq.offer([trade(12), trade(15)], NO_WAIT, from_rest=True)
    assert _ids(seq.release().trades) == []
    seq.settle_through(19)
    released = seq.release()
    assert _ids(released.trades) == [12, 15, 20] and released.backfilled == 2


def test_hole_starts_above_the_settled_range() -> None:
    seq = TradeSequencer(10)
    seq.settle_through(14)
    seq.offer([trade(30)], 2.0)
    released = seq.release()  # 11..14 settled, 15..29 still open
    assert released.trades == [] and seq.hole() == Hole(15, 29, 2.0)


def test_drop_held() -> None:
    seq = TradeSequencer(1)
    seq.offer([trade(5), trade(6)], 0.0)
    assert seq.drop_held() == 2 and seq.held_count == 0


def test_aggregate_fills_groups_same_taker_order() -> None:
    fills = [
        trade(1, ts_ms=100, px="10", sz="0.1", side="buy"),
        trade(2, ts_ms=100, px="10", sz="0.25", side="buy"),
        trade(3, ts_ms=100, px="10.5", sz="1", side="buy"),  # next price level
        trade(4, ts_ms=101, px="10.5", sz="1", side="buy"),  # next order
        trade(5, ts_ms=101, px="10.5", sz="2", side="sell"),
        trade(7, ts_ms=101, px="10.5", sz="2", side="sell"),  # id 6 missing: not consecutive
    ]
    rows = aggregate_fills(fills)
    assert [(r.trade_id, r.count, r.sz) for r in rows] == [
        (2, 2, "0.35"),
        (3, 1, "1"),
        (4, 1, "1"),
        (5, 1, "2"),
        (7, 1, "2"),
    ]


def test_aggregate_sum_is_exact() -> None:
    fills = [trade(i, ts_ms=1, sz="0.00000001") for i in range(1, 11)]
    (row,) = aggregate_fills(fills)
    assert (row.sz, row.count) == ("0.00000010", 10)


def test_drop_covered_prefers_live_groups() -> None:
    fills = [trade(i) for i in range(1, 9)]
    held = [trade(5, count=3), trade(8)]
    assert _ids(drop_covered(fills, held)) == [1, 2, 6, 7]


def test_uncovered() -> None:
    held = [trade(5, count=2), trade(9), trade(30)]
    assert uncovered(1, 12, held) == [(1, 3), (6, 8), (10, 12)]
    assert uncovered(4, 5, held) == []
    assert uncovered(1, 12, []) == [(1, 12)]


async def test_fetch_history_pages_down_to_the_floor() -> None:
    history = FakeHistory([fill_row(i) for i in range(1, 400)])
    async with history.rest() as rest:
        fetched = await fetch_history(rest, INST, floor=50, upper=300, deadline=1e9)
    assert _ids(fetched.fills) == list(range(51, 301))
    assert fetched.complete and fetched.error is None and fetched.requests == 3
    assert [c.get("after") for c in history.calls] == ["301", "201", "101"]


async def test_fetch_history_open_ended_starts_at_newest() -> None:
    history = FakeHistory([fill_row(i) for i in range(1, 151)])
    async with history.rest() as rest:
        fetched = await fetch_history(rest, INST, floor=100, upper=None, deadline=1e9)
    assert _ids(fetched.fills) == list(range(101, 151)) and fetched.top == 150
    assert fetched.complete and history.calls[0].get("after") is None


async def test_fetch_history_that_does_not_reach_back() -> None:
    history = FakeHistory([fill_row(i) for i in range(80, 200)])
    async with history.rest() as rest:
        fetched = await fetch_history(rest, INST, floor=50, upper=190, deadline=1e9)
    assert not fetched.complete and fetched.lowest == 80
    assert _ids(fetched.fills) == list(range(80, 191))
    assert fetched.error == "history ends before the hole"


async def test_fetch_history_reports_rest_failure(autojump_clock: Any) -> None:
    history = FakeHistory([fill_row(i) for i in range(1, 200)])
    history.fail = "error"
    async with history.rest(max_attempts=2) as rest:
        fetched = await fetch_history(rest, INST, floor=50, upper=190, deadline=1e9)
    assert not fetched.complete and fetched.fills == [] and fetched.lowest is None
    assert fetched.error is not None and "50001" in fetched.error


async def test_fetch_history_deadline(autojump_clock: Any) -> None:
    history = FakeHistory([fill_row(i) for i in range(1, 5000)])
    async with history.rest() as rest:  # 20 requests / 2 s: pages at t=0 and t=2, not t=4
        deadline = trio.current_time() + 3.0
        fetched = await fetch_history(rest, INST, floor=0, upper=4999, deadline=deadline)
    assert not fetched.complete and fetched.error == "time limit reached"
    assert fetched.lowest == 1000  # 40 pages of 100 below 5000
    assert _ids(fetched.fills) == list(range(fetched.lowest, 5000))


async def test_fetch_history_rejects_bad_rows() -> None:
    rows = [fill_row(i) for i in range(1, 20)]
    rows[5] = {**rows[5], "px": "1e3"}
    history = FakeHistory(rows)
    async with history.rest() as rest:
        fetched = await fetch_history(rest, INST, floor=0, upper=19, deadline=1e9)
    assert fetched.complete and 6 not in _ids(fetched.fills)
    assert [reason for _, reason in fetched.rejects] == [
        "REST history row: bad px '1e3': not a positive plain decimal"
    ]
