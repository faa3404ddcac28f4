"""BookModel: absolute sizes, deletes, truncation, views, and a property test vs a naive book."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rq_actors.core.book.model import BookModel, LevelError, mid_price, prepare_levels
from rq_actors.core.okx.checksum import book_checksum


def lv(px: str, sz: str, orders: str = "1") -> list[str]:
    return [px, sz, "0", orders]


def P(levels: list[list[str]], side: str = "bids") -> list:
    return prepare_levels(levels, side)


def book(bids: list[list[str]], asks: list[list[str]], depth: int = 400) -> BookModel:
    m = BookModel(depth)
    m.load_snapshot(P(bids), P(asks, "asks"))
    return m


def test_snapshot_sorted_best_first_and_zero_sizes_skipped() -> None:
    m = book(
        [lv("99.5", "1"), lv("100", "2"), lv("98", "0")],
        [lv("101.5", "3"), lv("101", "4"), lv("102", "0.000")],
    )
    assert m.top_bids() == [lv("100", "2"), lv("99.5", "1")]
    assert m.top_asks() == [lv("101", "4"), lv("101.5", "3")]
    assert m.best_bid() == lv("100", "2")
    assert m.best_ask() == lv("101", "4")
    assert (m.bid_count, m.ask_count) == (2, 2)


def test_update_absolute_sizes_deletes_and_unknown_deletes() -> None:
    m = book([lv("100", "2"), lv("99", "1")], [lv("101", "4")])
    changed = m.apply_update(
        P([lv("100", "7", "3"), lv("99", "0"), lv("50", "0")]),  # replace, delete, unknown delete
        P([lv("102", "1")], "asks"),  # insert
    )
    assert changed
    assert m.top_bids() == [lv("100", "7", "3")]
    assert m.top_asks() == [lv("101", "4"), lv("102", "1")]
    # Only unknown deletes and identical levels: nothing changed.
    assert not m.apply_update(P([lv("42", "0"), lv("100", "7", "3")]), [])


def test_delete_with_decimal_zero_forms() -> None:
    m = book([lv("100", "2"), lv("99", "1"), lv("98", "1")], [])
    m.apply_update(P([lv("100", "0.0"), lv("99", "0.00000000"), lv("98", "00")]), [])
    assert m.top_bids() == []


def test_same_price_different_strings_is_one_level_latest_strings_kept() -> None:
    m = book([lv("100.50", "2")], [lv("101", "1")])
    m.apply_update(P([lv("100.5", "3")]), [])
    assert m.top_bids() == [lv("100.5", "3")]
    m.apply_update(P([lv("100.500", "0")]), [])
    assert m.top_bids() == []


def test_truncation_after_snapshot_and_after_each_update() -> None:
    m = book(
        [lv(str(100 - i), "1") for i in range(5)], [lv(str(200 + i), "1") for i in range(5)], 3
    )
    assert [b[0] for b in m.top_bids()] == ["100", "99", "98"]
    assert [a[0] for a in m.top_asks()] == ["200", "201", "202"]
    # A better level pushes the worst one out of the window.
    assert m.apply_update(P([lv("100.5", "1")]), P([lv("199.5", "1")], "asks"))
    assert [b[0] for b in m.top_bids()] == ["100.5", "100", "99"]
    assert [a[0] for a in m.top_asks()] == ["199.5", "200", "201"]
    # A level worse than the window is inserted then cut again: the view is unchanged.
    m.apply_update(P([lv("1", "1")]), [])
    assert [b[0] for b in m.top_bids()] == ["100.5", "100", "99"]


def test_top_n_views() -> None:
    m = book([lv("100", "1"), lv("99", "1"), lv("98", "1")], [lv("101", "1"), lv("102", "1")])
    assert [b[0] for b in m.top_bids(2)] == ["100", "99"]
    assert [a[0] for a in m.top_asks(1)] == ["101"]
    assert m.top_bids(0) == [] and m.top_asks(0) == []
    assert len(m.top_asks(10)) == 2


def test_mid_price_exact_plain_strings() -> None:
    assert mid_price("43250.5", "43251.0") == "43250.75"
    assert mid_price("43251.0", "43251.0") == "43251"
    assert mid_price("0.00000001", "0.00000002") == "0.000000015"
    assert mid_price("100", "200") == "150"
    assert mid_price("123456789012345678901234.1", "123456789012345678901234.2") == (
        "123456789012345678901234.15"
    )
    m = book([lv("43250.5", "1")], [lv("43251.0", "1")])
    assert m.mid_price() == "43250.75"
    assert book([lv("1", "1")], []).mid_price() is None


def test_crossed_detection() -> None:
    m = book([lv("100", "1")], [lv("101", "1")])
    assert not m.is_crossed()
    m.apply_update(P([lv("101", "1")]), [])
    assert m.is_crossed()  # equal is crossed too
    assert not book([], [lv("1", "1")]).is_crossed()


def test_checksum_matches_okx_doc_examples() -> None:
    m = book([lv("3366.1", "7"), lv("3366", "6")], [lv("3366.8", "9"), lv("3368", "8")])
    assert m.checksum() == -1881014294
    m = book([lv("3366.1", "7")], [lv("3366.8", "9"), lv("3368", "8"), lv("3372", "8")])
    assert m.checksum() == 831078360


def test_clear() -> None:
    m = book([lv("1", "1")], [lv("2", "1")])
    m.clear()
    assert m.is_empty() and m.best_bid() is None and m.mid_price() is None


@pytest.mark.parametrize(
    "level",
    [
        "x",
        ["1", "1", "0"],
        ["1", "1", "0", 5],
        [1.5, "1", "0", "1"],
        ["1e5", "1", "0", "1"],
        ["-1", "1", "0", "1"],
        [" 1", "1", "0", "1"],
        ["1_0", "1", "0", "1"],
        ["NaN", "1", "0", "1"],
        ["0", "1", "0", "1"],
        ["0.000", "1", "0", "1"],
        ["1", "-2", "0", "1"],
        ["1", "", "0", "1"],
        ["1.", "1", "0", "1"],
    ],
)
def test_prepare_rejects_malformed_levels(level: object) -> None:
    with pytest.raises(LevelError):
        prepare_levels([level], "bids")


def test_prepare_rejects_non_list_side() -> None:
    with pytest.raises(LevelError):
        prepare_levels({"a": 1}, "asks")


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError):
        BookModel(0)


# -- property test against a naive dict book -------------------------------------------------


class NaiveBook:
    """Re-sorts everything on every message: obviously right, obviously slow."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.bids: dict[Decimal, list[str]] = {}
        self.asks: dict[Decimal, list[str]] = {}

    def snapshot(self, bids: list[list[str]], asks: list[list[str]]) -> None:
        self.bids = {Decimal(b[0]): b for b in bids if Decimal(b[1]) != 0}
        self.asks = {Decimal(a[0]): a for a in asks if Decimal(a[1]) != 0}
        self._cut()

    def update(self, bids: list[list[str]], asks: list[list[str]]) -> None:
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for level in levels:
                if Decimal(level[1]) == 0:
                    side.pop(Decimal(level[0]), None)
                else:
                    side[Decimal(level[0])] = level
        self._cut()

    def _cut(self) -> None:
        self.bids = dict(sorted(self.bids.items(), reverse=True)[: self.depth])
        self.asks = dict(sorted(self.asks.items())[: self.depth])

    def top_bids(self) -> list[list[str]]:
        return [self.bids[k] for k in sorted(self.bids, reverse=True)]

    def top_asks(self) -> list[list[str]]:
        return [self.asks[k] for k in sorted(self.asks)]


def _price_text(ticks: int, extra_zeros: int) -> str:
    # ticks of 0.5 on a small grid, written with a varying number of trailing zeros
    text = str(Decimal(ticks) / 2)
    if extra_zeros:
        text += ("" if "." in text else ".") + "0" * extra_zeros
    return text


levels_st = st.lists(
    st.builds(
        lambda t, z, sz, n: [_price_text(t, z), sz, "0", str(n)],
        st.integers(1, 60),
        st.integers(0, 2),
        st.sampled_from(["0", "0.0", "1", "2.5", "10", "0.001"]),
        st.integers(0, 9),
    ),
    max_size=12,
)
message_st = st.tuples(st.booleans(), levels_st, levels_st)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(depth=st.integers(1, 8), messages=st.lists(message_st, min_size=1, max_size=25))
def test_model_matches_naive_book(
    depth: int, messages: list[tuple[bool, list[list[str]], list[list[str]]]]
) -> None:
    model, naive = BookModel(depth), NaiveBook(depth)
    for is_snapshot, bids, asks in messages:
        if is_snapshot:
            model.load_snapshot(P(bids), P(asks, "asks"))
            naive.snapshot(bids, asks)
        else:
            model.apply_update(P(bids), P(asks, "asks"))
            naive.update(bids, asks)
        assert model.top_bids() == naive.top_bids()
        assert model.top_asks() == naive.top_asks()
        nb, na = naive.top_bids(), naive.top_asks()
        assert model.best_bid() == (nb[0] if nb else None)
        assert model.best_ask() == (na[0] if na else None)
        assert model.is_crossed() == bool(nb and na and Decimal(nb[0][0]) >= Decimal(na[0][0]))
        assert model.checksum() == book_checksum(nb[:25], na[:25])


def test_shallow_written_depth_keeps_the_deep_levels() -> None:
    """Writing 2 levels must not cut the book to 2: deleting the top brings level 3 up."""
    from rq_actors.core.book.parse import parse_row
    from rq_actors.core.book.sync import BookSync

    sync = BookSync("BTC-USDT-SWAP", depth=2)
    bids = [[f"{100 - i}", "1", "0", "1"] for i in range(5)]
    asks = [[f"{101 + i}", "1", "0", "1"] for i in range(5)]
    snap = {"bids": bids, "asks": asks, "ts": "1", "checksum": 0, "prevSeqId": -1, "seqId": 10}
    sync.on_message(parse_row(snap, "snapshot"))
    upd = {"bids": [["100", "0", "0", "0"], ["99", "0", "0", "0"]], "asks": [], "ts": "2",
           "checksum": 0, "prevSeqId": 10, "seqId": 11}  # fmt: skip
    sync.on_message(parse_row(upd, "update"))
    record = sync.record()
    assert record is not None
    assert record["bids_top400"] == [["98", "1", "0", "1"], ["97", "1", "0", "1"]]
    assert len(record["asks_top400"]) == 2
