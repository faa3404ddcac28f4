"""Pure encoders of OKX WebSocket text frames, in the shapes of okx-protocol.md §1–§3.

Every function returns the frame as `str` (WebSocket text frames); key order follows the
documented examples. Prices and sizes are the decimal strings the market produced.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from rq_actors.sim.events import BookMessage, Fill, TradeGroup

NOTICE_MSG = "The connection will soon be closed for a service upgrade. Please reconnect."


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def new_conn_id(rng: random.Random) -> str:
    """An 8-hex-digit connection id, as OKX puts in acks and errors."""
    return f"{rng.getrandbits(32):08x}"


def encode_book(msg: BookMessage, *, channel: str = "books", checksum: int | None = None) -> str:
    """A books push; `checksum` overrides the message's own value (fault injection)."""
    return _dumps(
        {
            "arg": {"channel": channel, "instId": msg.inst_id},
            "action": msg.action,
            "data": [
                {
                    "asks": msg.asks,
                    "bids": msg.bids,
                    "ts": str(msg.ts_ms),
                    "checksum": msg.checksum if checksum is None else checksum,
                    "prevSeqId": msg.prev_seq_id,
                    "seqId": msg.seq_id,
                }
            ],
        }
    )


def encode_trades(group: TradeGroup) -> str:
    """An aggregated `trades` push: one taker order at one price."""
    return _dumps(
        {
            "arg": {"channel": "trades", "instId": group.inst_id},
            "data": [
                {
                    "instId": group.inst_id,
                    "tradeId": str(group.trade_id),
                    "px": group.px,
                    "sz": group.sz,
                    "side": group.side,
                    "ts": str(group.ts_ms),
                    "count": str(group.count),
                    "source": "0",
                    "seqId": group.seq_id,
                }
            ],
        }
    )


def encode_trades_all(fill: Fill) -> str:
    """A `trades-all` push: exactly one fill, no `count`, no `seqId`."""
    return _dumps(
        {
            "arg": {"channel": "trades-all", "instId": fill.inst_id},
            "data": [
                {
                    "instId": fill.inst_id,
                    "tradeId": str(fill.trade_id),
                    "px": fill.px,
                    "sz": fill.sz,
                    "side": fill.side,
                    "source": "0",
                    "ts": str(fill.ts_ms),
                }
            ],
        }
    )


def encode_ack(event: str, arg: dict[str, Any], conn_id: str, req_id: str | None = None) -> str:
    """A subscribe/unsubscribe ack for one arg; `id` only when the request carried one."""
    out: dict[str, Any] = {}
    if req_id is not None:
        out["id"] = req_id
    out["event"] = event
    out["arg"] = arg
    out["connId"] = conn_id
    return _dumps(out)


def encode_error(code: str, msg: str, conn_id: str, req_id: str | None = None) -> str:
    """An error event. It never carries `arg` (okx-protocol.md §1.4)."""
    out: dict[str, Any] = {}
    if req_id is not None:
        out["id"] = req_id
    out.update({"event": "error", "code": code, "msg": msg, "connId": conn_id})
    return _dumps(out)


def encode_notice(conn_id: str) -> str:
    """The 64008 service-upgrade notice sent about 60 s before a forced close."""
    return _dumps({"event": "notice", "code": "64008", "msg": NOTICE_MSG, "connId": conn_id})


def unknown_inst_msg(channel: str, inst_id: str) -> str:
    return (
        f"Wrong URL or channel:{channel},instId:{inst_id} doesn't exist. "
        "Please use the correct URL, channel and parameters referring to API document."
    )


def malformed(frame: str) -> str:
    """A frame cut short mid-object: what a broken relay or truncated write looks like."""
    return frame[: max(1, len(frame) // 2)]
