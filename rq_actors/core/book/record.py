"""The L2 snapshot record of SPEC §6, with its exact key order.

Pure. `checksum` is computed over the levels actually written (their top 25), so any reader can
verify a record with nothing but the record itself.
"""

from __future__ import annotations

from typing import Any

import orjson

from rq_actors.core.book.model import BookModel
from rq_actors.core.meta import EXCHANGE, is_swap
from rq_actors.core.okx.checksum import CHECKSUM_LEVELS, book_checksum
from rq_actors.core.timefmt import iso_ms


def market_of(inst_id: str) -> str:
    return "perp" if is_swap(inst_id) else "spot"


def snapshot_record(
    model: BookModel,
    *,
    depth: int | None = None,
    inst_id: str,
    channel: str,
    ts_ms: int,
    seq_id: int,
    prev_seq_id: int,
    gap_detected: bool,
) -> dict[str, Any]:
    """The record as an ordered dict. `bids_top400`/`asks_top400` hold the top `depth` levels
    whatever the configured depth (the key names are part of the file format)."""
    bids = model.top_bids(depth)
    asks = model.top_asks(depth)
    best_bid = bids[0][0] if bids else None
    best_ask = asks[0][0] if asks else None
    return {
        "timestamp_utc": iso_ms(ts_ms),
        "exchange": EXCHANGE,
        "market": market_of(inst_id),
        "channel": channel,
        "instId": inst_id,
        "bids_top400": bids,
        "asks_top400": asks,
        "best_bid": best_bid,
        "best_ask": best_ask,
        "mid_price": model.mid_price(),
        "checksum": book_checksum(bids[:CHECKSUM_LEVELS], asks[:CHECKSUM_LEVELS]),
        "seqId": seq_id,
        "prevSeqId": prev_seq_id,
        "gap_detected": gap_detected,
    }


def encode_record(record: dict[str, Any]) -> bytes:
    """One JSONL line (without the newline). orjson keeps dict insertion order."""
    return orjson.dumps(record)


def verify_record(record: dict[str, Any]) -> bool:
    """True if a record's `checksum` matches its own levels (what a reader would check)."""
    bids = record["bids_top400"][:CHECKSUM_LEVELS]
    asks = record["asks_top400"][:CHECKSUM_LEVELS]
    return bool(book_checksum(bids, asks) == record["checksum"])
