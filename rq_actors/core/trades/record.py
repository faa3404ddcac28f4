"""The canonical trade line of the vault (SPEC §5), byte-for-byte stable.

Key order is the dict's insertion order (orjson keeps it); every number the exchange sent as a
decimal string stays that exact string; `count` (a JSON number) is the last key and appears only
for rows of the aggregated `trades` channel.
"""

from __future__ import annotations

from typing import Any

import orjson

from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.okx.trades import parse_positive_int
from rq_actors.core.timefmt import iso_ms, parse_iso_ms
from rq_actors.messages import Trade

EXCHANGE = "okx"


class TradeRecordError(ValueError):
    """A vault line that is not a trade record this module wrote."""


def record_dict(trade: Trade, meta: InstrumentMeta) -> dict[str, Any]:
    record: dict[str, Any] = {
        "timestamp_utc": iso_ms(trade.ts_ms),
        "exchange": EXCHANGE,
        "market": meta.market,
        "instId": trade.inst_id,
        "symbol_canon": meta.symbol_canon,
        "trade_id": str(trade.trade_id),
        "side": trade.side,
        "price": trade.px,
        "qty_contracts": trade.sz,
        "ctVal": meta.ct_val,
        "ctMult": meta.ct_mult,
        "ctType": meta.ct_type,
    }
    if trade.count is not None:
        record["count"] = trade.count
    return record


def encode_trade(trade: Trade, meta: InstrumentMeta) -> bytes:
    """One vault line, without the trailing newline."""
    return orjson.dumps(record_dict(trade, meta))


def trade_from_record(record: Any, trade_id: int | None = None) -> Trade:
    """The `Trade` a parsed vault record describes (the inverse of `record_dict`).

    `trade_id`: the record's id when the caller has already validated it (the vault reader
    does, to merge files), so it is not parsed twice."""
    try:
        if not isinstance(record, dict):
            raise TypeError(f"a JSON {type(record).__name__}, not an object")
        side = record["side"]
        if side not in ("buy", "sell"):
            raise ValueError(f"side {side!r}")
        count = record.get("count")
        if count is not None and (type(count) is not int or count < 1):
            raise ValueError(f"count {count!r}")
        # Exactly the form `record_dict` writes: `int()` alone would take 1.5, " 7" or "1_0".
        if trade_id is None:
            trade_id = parse_positive_int(record["trade_id"])
        if trade_id is None:
            raise ValueError(f"trade_id {record['trade_id']!r}")
        for key in ("instId", "timestamp_utc", "price", "qty_contracts"):
            if not isinstance(record[key], str):
                raise TypeError(f"{key} is not a string")
        return Trade(
            inst_id=record["instId"],
            trade_id=trade_id,
            ts_ms=parse_iso_ms(record["timestamp_utc"]),
            side="buy" if side == "buy" else "sell",
            px=record["price"],
            sz=record["qty_contracts"],
            count=count,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TradeRecordError(f"not a trade record ({exc!r}): {record!r:.300}") from exc


def decode_trade(line: bytes) -> Trade:
    """Parse one vault line (with or without its newline)."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise TradeRecordError(f"not JSON: {line[:300]!r}") from exc
    return trade_from_record(record)
