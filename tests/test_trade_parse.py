"""Validation of trade rows (pure): every reject reason, and what an accepted row keeps."""

from __future__ import annotations

from typing import Any

import pytest

from rq_actors.core.okx.trades import (
    MAX_TS_MS,
    Reject,
    is_positive_decimal,
    parse_positive_int,
    parse_trade_row,
)
from rq_actors.messages import Trade
from tests.helpers.trades import INST, fill_row


def _with(**changes: Any) -> dict[str, Any]:
    row = fill_row(1850021904, ts=1755850000123, px="64012.3", sz="3", side="sell")
    for key, value in changes.items():
        if value is _DROP:
            del row[key]
        else:
            row[key] = value
    return row


_DROP = object()


def test_valid_trades_all_row_keeps_exact_strings() -> None:
    parsed = parse_trade_row(_with(px="64012.30", sz="0.010"), INST)
    assert parsed == Trade(INST, 1850021904, 1755850000123, "sell", "64012.30", "0.010", None)


def test_aggregated_row_keeps_count() -> None:
    parsed = parse_trade_row(_with(count="4", seqId=88123456), INST, aggregated=True)
    assert isinstance(parsed, Trade) and parsed.count == 4


def test_count_is_ignored_on_single_fill_rows() -> None:
    parsed = parse_trade_row(_with(count="4"), INST)
    assert isinstance(parsed, Trade) and parsed.count is None


@pytest.mark.parametrize("field", ["ts", "instId", "tradeId", "px", "sz", "side"])
@pytest.mark.parametrize("how", ["absent", "empty", "null"])
def test_missing_field(field: str, how: str) -> None:
    value = {"absent": _DROP, "empty": "", "null": None}[how]
    parsed = parse_trade_row(_with(**{field: value}), INST)
    assert isinstance(parsed, Reject)
    assert parsed.reason == f"missing field(s): {field}"


def test_several_missing_fields_are_all_named_and_ts_kept_for_filing() -> None:
    parsed = parse_trade_row(_with(px=_DROP, side=_DROP), INST)
    assert parsed == Reject("missing field(s): px, side", 1755850000123)


def test_missing_count_on_aggregated_channel() -> None:
    parsed = parse_trade_row(_with(), INST, aggregated=True)
    assert isinstance(parsed, Reject) and parsed.reason == "missing field(s): count"


@pytest.mark.parametrize(
    "bad",
    ["1e5", "1E5", "NaN", "nan", "inf", "-1", "+1", "0", "0.0", "000", "01", ".5", "5.", " 5",
     "5 ", "1_000", "0x10", "١٢", 5, 5.0, True, [], {}],
)  # fmt: skip
@pytest.mark.parametrize("field", ["px", "sz"])
def test_bad_numbers(field: str, bad: Any) -> None:
    parsed = parse_trade_row(_with(**{field: bad}), INST)
    assert isinstance(parsed, Reject)
    assert parsed.reason.startswith(f"bad {field} ")
    assert "not a positive plain decimal" in parsed.reason


@pytest.mark.parametrize("good", ["1", "0.01", "64012.3", "100000", "0.00000001", "10.50"])
def test_positive_decimals(good: str) -> None:
    assert is_positive_decimal(good)


@pytest.mark.parametrize("side", ["BUY", "Sell", "bid", "x", 1])
def test_unknown_side(side: Any) -> None:
    parsed = parse_trade_row(_with(side=side), INST)
    assert isinstance(parsed, Reject) and parsed.reason == f"unknown side {side!r}"


def test_other_instrument() -> None:
    parsed = parse_trade_row(_with(instId="ETH-USDT-SWAP"), INST)
    assert isinstance(parsed, Reject)
    assert parsed.reason == "instId 'ETH-USDT-SWAP' is not the configured 'BTC-USDT-SWAP'"


@pytest.mark.parametrize("bad", ["0", "-5", "12a", "1.0", "01", " 1", 1850021904, "1e3"])
def test_bad_trade_id(bad: Any) -> None:
    parsed = parse_trade_row(_with(tradeId=bad), INST)
    assert isinstance(parsed, Reject)
    assert parsed.reason.startswith("bad tradeId")


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", 1755850000123, str(MAX_TS_MS + 1)])
def test_bad_ts(bad: Any) -> None:
    parsed = parse_trade_row(_with(ts=bad), INST)
    assert isinstance(parsed, Reject)
    assert parsed.reason.startswith("bad ts") and parsed.ts_ms is None


@pytest.mark.parametrize("bad", ["0", "-1", "x", "2.0"])
def test_bad_count(bad: str) -> None:
    parsed = parse_trade_row(_with(count=bad), INST, aggregated=True)
    assert isinstance(parsed, Reject) and parsed.reason.startswith("bad count")


def test_count_larger_than_trade_id() -> None:
    parsed = parse_trade_row(_with(tradeId="3", count="4"), INST, aggregated=True)
    assert isinstance(parsed, Reject) and parsed.reason == "count 4 exceeds tradeId 3"


@pytest.mark.parametrize("row", [None, "text", 42, ["1"]])
def test_row_not_an_object(row: Any) -> None:
    parsed = parse_trade_row(row, INST)
    assert isinstance(parsed, Reject) and parsed.reason.startswith("row is not a JSON object")


def test_parse_positive_int() -> None:
    assert parse_positive_int("1850021904") == 1850021904
    assert parse_positive_int("0") is None
    assert parse_positive_int(7) is None
