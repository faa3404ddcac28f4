"""Frame shapes (okx-protocol.md §1.3–§3.2) and the checksum worked examples (§3.5)."""

from __future__ import annotations

import random

import orjson
import pytest

from rq_actors.core.okx.checksum import book_checksum
from rq_actors.sim.events import BookMessage, Fill, TradeGroup
from rq_actors.sim.frames import (
    encode_ack,
    encode_book,
    encode_error,
    encode_notice,
    encode_trades,
    encode_trades_all,
    malformed,
    new_conn_id,
)

_FILLS = (
    Fill("BTC-USDT-SWAP", 121, 1_755_850_000_123, "64012.3", "3", "sell"),
    Fill("BTC-USDT-SWAP", 122, 1_755_850_000_123, "64012.3", "9.25", "sell"),
    Fill("BTC-USDT-SWAP", 123, 1_755_850_000_123, "64012.3", "0.25", "sell"),
)


def test_checksum_worked_examples() -> None:
    assert book_checksum([["3366.1", "7"], ["3366", "6"]], [["3366.8", "9"], ["3368", "8"]]) == (
        -1881014294
    )
    assert book_checksum([["3366.1", "7"]], [["3366.8", "9"], ["3368", "8"], ["3372", "8"]]) == (
        831078360
    )


def test_book_frame_shape() -> None:
    msg = BookMessage(
        "BTC-USDT-SWAP", "update", 335226848602, 335226848531, 1_755_850_000_200,
        [], [["64012.4", "0", "0", "0"], ["64013", "5", "0", "2"]],
    )  # fmt: skip
    frame = orjson.loads(encode_book(msg))
    assert list(frame) == ["arg", "action", "data"]
    assert frame["arg"] == {"channel": "books", "instId": "BTC-USDT-SWAP"}
    data = frame["data"][0]
    assert list(data) == ["asks", "bids", "ts", "checksum", "prevSeqId", "seqId"]
    assert data["ts"] == "1755850000200" and data["checksum"] == 0
    assert data["seqId"] == 335226848602 and data["prevSeqId"] == 335226848531
    assert orjson.loads(encode_book(msg, checksum=-5))["data"][0]["checksum"] == -5


def test_trades_is_aggregated_and_trades_all_is_per_fill() -> None:
    group = TradeGroup(
        "BTC-USDT-SWAP", _FILLS[0].ts_ms, "64012.3", "12.5", "sell", 88123456, _FILLS
    )
    agg = orjson.loads(encode_trades(group))["data"][0]
    assert agg == {
        "instId": "BTC-USDT-SWAP", "tradeId": "123", "px": "64012.3", "sz": "12.5",
        "side": "sell", "ts": "1755850000123", "count": "3", "source": "0", "seqId": 88123456,
    }  # fmt: skip
    one = orjson.loads(encode_trades_all(_FILLS[1]))
    assert one["arg"] == {"channel": "trades-all", "instId": "BTC-USDT-SWAP"}
    assert one["data"] == [
        {
            "instId": "BTC-USDT-SWAP", "tradeId": "122", "px": "64012.3", "sz": "9.25",
            "side": "sell", "source": "0", "ts": "1755850000123",
        }
    ]  # fmt: skip


def test_ack_error_notice_shapes() -> None:
    arg = {"channel": "books", "instId": "BTC-USDT-SWAP"}
    ack = orjson.loads(encode_ack("subscribe", arg, "9f3c21ab", "s1"))
    assert ack == {"id": "s1", "event": "subscribe", "arg": arg, "connId": "9f3c21ab"}
    assert "id" not in orjson.loads(encode_ack("unsubscribe", arg, "9f3c21ab"))
    err = orjson.loads(encode_error("60018", "nope", "9f3c21ab"))
    assert err == {"event": "error", "code": "60018", "msg": "nope", "connId": "9f3c21ab"}
    assert orjson.loads(encode_error("60012", "bad", "9f3c21ab", "7"))["id"] == "7"
    notice = orjson.loads(encode_notice("9f3c21ab"))
    assert notice["event"] == "notice" and notice["code"] == "64008" and "arg" not in notice
    conn_id = new_conn_id(random.Random(1))
    assert len(conn_id) == 8 and int(conn_id, 16) >= 0


def test_malformed_is_not_json() -> None:
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(malformed(encode_trades_all(_FILLS[0])))
