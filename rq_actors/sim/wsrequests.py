"""Parsing and routing of client WebSocket requests (okx-protocol.md §1.3, §1.4, §7.1).

Pure: the hub turns the results into acks, errors and subscriptions.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import attrs
import orjson

from rq_actors.sim.frames import unknown_inst_msg

# channel -> the endpoint that serves it
SERVED = {"books": "public", "trades": "public", "trades-all": "business"}
_LOGIN_ONLY = frozenset({"books-l2-tbt", "books50-l2-tbt"})


@attrs.frozen
class Request:
    op: str  # "subscribe" | "unsubscribe"
    req_id: str | None
    args: list[dict[str, Any]]


@attrs.frozen
class Refusal:
    code: str
    msg: str
    req_id: str | None = None


def parse_request(text: str) -> Request | Refusal:
    """A subscribe/unsubscribe request, or the error event the exchange answers with."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return Refusal("60012", f"Invalid request: {text}")
    if not isinstance(obj, dict):
        return Refusal("60012", f"Invalid request: {text}")
    raw_id = obj.get("id")
    req_id = raw_id if isinstance(raw_id, str) else None
    op = obj.get("op")
    if not isinstance(op, str):
        return Refusal("60012", f"Invalid request: {text}", req_id)
    if op not in ("subscribe", "unsubscribe"):
        return Refusal("60019", f"Invalid op: op : {op}", req_id)
    args = obj.get("args")
    if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
        return Refusal("60012", f"Invalid request: {text}", req_id)
    return Request(op, req_id, args)


def route_arg(
    arg: dict[str, Any], endpoint: str, instruments: Collection[str], req_id: str | None
) -> tuple[str, str] | Refusal:
    """`(channel, instId)` if this endpoint serves the arg, else the error to send."""
    channel = arg.get("channel")
    inst_id = arg.get("instId")
    if "uly" in arg:
        return Refusal("64000", "'uly' is no longer supported. Please use 'instFamily'.", req_id)
    if not isinstance(channel, str) or not channel:
        return Refusal("60012", f"Invalid request: {orjson.dumps(arg).decode()}", req_id)
    if not isinstance(inst_id, str) or not inst_id:
        return Refusal("60013", f"Invalid args: {orjson.dumps(arg).decode()}", req_id)
    if channel in _LOGIN_ONLY:
        return Refusal(
            "64003",
            f"Your trading fee tier doesn't meet the requirement to access this channel:{channel}",
            req_id,
        )
    if SERVED.get(channel) != endpoint or inst_id not in instruments:
        return Refusal("60018", unknown_inst_msg(channel, inst_id), req_id)
    return channel, inst_id
