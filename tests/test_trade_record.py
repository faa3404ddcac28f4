"""The canonical vault line: exact bytes against hand-written golden lines (SPEC §5)."""

from __future__ import annotations

import pytest

from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.trades.record import (
    TradeRecordError,
    decode_trade,
    encode_trade,
    record_dict,
    trade_from_record,
)
from rq_actors.messages import Trade

SWAP = InstrumentMeta("BTC-USDT-SWAP", "SWAP", "0.01", "1", "linear", "0.1", "0.01")
SPOT = InstrumentMeta("BTC-USDT", "SPOT", "1", "1", "spot", "0.1", "0.00000001")
TS = 1_765_748_096_123  # 2025-12-14T21:34:56.123Z


def test_swap_golden_line() -> None:
    trade = Trade("BTC-USDT-SWAP", 1234567890, TS, "buy", "101250.5", "45")
    golden = (
        b'{"timestamp_utc":"2025-12-14T21:34:56.123Z","exchange":"okx","market":"perp",'
        b'"instId":"BTC-USDT-SWAP","symbol_canon":"BTC/USDT","trade_id":"1234567890",'
        b'"side":"buy","price":"101250.5","qty_contracts":"45","ctVal":"0.01","ctMult":"1",'
        b'"ctType":"linear"}'
    )
    assert encode_trade(trade, SWAP) == golden


def test_aggregated_line_has_count_last_as_number() -> None:
    trade = Trade("BTC-USDT-SWAP", 1850021907, 1755850000123, "sell", "64012.3", "12.5", 4)
    golden = (
        b'{"timestamp_utc":"2025-08-22T08:06:40.123Z","exchange":"okx","market":"perp",'
        b'"instId":"BTC-USDT-SWAP","symbol_canon":"BTC/USDT","trade_id":"1850021907",'
        b'"side":"sell","price":"64012.3","qty_contracts":"12.5","ctVal":"0.01","ctMult":"1",'
        b'"ctType":"linear","count":4}'
    )
    assert encode_trade(trade, SWAP) == golden


def test_spot_golden_line() -> None:
    trade = Trade("BTC-USDT", 7, 1_700_000_000_005, "sell", "37000.10", "0.00012000")
    golden = (
        b'{"timestamp_utc":"2023-11-14T22:13:20.005Z","exchange":"okx","market":"spot",'
        b'"instId":"BTC-USDT","symbol_canon":"BTC/USDT","trade_id":"7","side":"sell",'
        b'"price":"37000.10","qty_contracts":"0.00012000","ctVal":"1","ctMult":"1",'
        b'"ctType":"spot"}'
    )
    assert encode_trade(trade, SPOT) == golden


def test_inverse_meta_is_injected() -> None:
    inverse = InstrumentMeta("BTC-USD-SWAP", "SWAP", "100", "1", "inverse", "0.1", "1")
    record = record_dict(Trade("BTC-USD-SWAP", 1, TS, "buy", "1", "2"), inverse)
    assert (record["symbol_canon"], record["ctVal"], record["ctType"]) == (
        "BTC/USD",
        "100",
        "inverse",
    )


def test_key_order() -> None:
    keys = list(record_dict(Trade("BTC-USDT-SWAP", 1, TS, "buy", "1", "2", 3), SWAP))
    assert keys == [
        "timestamp_utc", "exchange", "market", "instId", "symbol_canon", "trade_id", "side",
        "price", "qty_contracts", "ctVal", "ctMult", "ctType", "count",
    ]  # fmt: skip


@pytest.mark.parametrize("count", [None, 3])
def test_round_trip(count: int | None) -> None:
    trade = Trade("BTC-USDT-SWAP", 99, TS, "sell", "0.0001", "10.50", count)
    assert decode_trade(encode_trade(trade, SWAP)) == trade
    assert decode_trade(encode_trade(trade, SWAP) + b"\n") == trade


@pytest.mark.parametrize(
    "line",
    [b"not json", b"{}", b'{"trade_id":"x"}', b"[1,2]"],
)
def test_decode_rejects_foreign_lines(line: bytes) -> None:
    with pytest.raises(TradeRecordError):
        decode_trade(line)


def test_trade_from_record_rejects_bad_count() -> None:
    record = record_dict(Trade("BTC-USDT-SWAP", 1, TS, "buy", "1", "2"), SWAP)
    with pytest.raises(TradeRecordError):
        trade_from_record({**record, "count": "3"})
