"""Shared helpers for the simulator tests: an independent OKX client-side book and a launcher.

Nothing here imports the simulator's own book code: the consumer is written from the protocol
document, so a bug in the generator cannot hide itself.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import trio
from trio_websocket import WebSocketConnection

from rq_actors.sim.server import SimOptions, Simulator

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


async def start_sim(nursery: trio.Nursery, **kwargs: Any) -> Simulator:
    kwargs.setdefault("start_ms", START_MS)
    sim = Simulator(SimOptions(**kwargs))
    started: Simulator = await nursery.start(sim.serve)
    return started


async def subscribe(
    ws: WebSocketConnection, *args: tuple[str, str], req_id: str | None = None
) -> None:
    req: dict[str, Any] = {
        "op": "subscribe",
        "args": [{"channel": c, "instId": i} for c, i in args],
    }
    if req_id is not None:
        req["id"] = req_id
    await ws.send_message(orjson.dumps(req).decode())


async def next_json(ws: WebSocketConnection, *, skip_pong: bool = True) -> dict[str, Any]:
    while True:
        msg = await ws.get_message()
        if skip_pong and msg == "pong":
            continue
        obj: dict[str, Any] = orjson.loads(msg)
        return obj


class ClientBook:
    """A books consumer per okx-protocol.md §3.3: snapshot, absolute updates, prevSeqId links."""

    def __init__(self) -> None:
        self.bids: dict[str, list[str]] = {}
        self.asks: dict[str, list[str]] = {}
        self.last: int | None = None
        self.gaps = 0
        self.resets = 0
        self.heartbeats = 0

    def apply(self, frame: dict[str, Any]) -> bool:
        """Apply one push; False when it does not link (a gap)."""
        for data in frame["data"]:
            if frame["action"] == "snapshot":
                assert data["prevSeqId"] == -1
                self.bids = {lvl[0]: lvl for lvl in data["bids"]}
                self.asks = {lvl[0]: lvl for lvl in data["asks"]}
                self.last = data["seqId"]
                continue
            if data["prevSeqId"] != self.last:
                self.gaps += 1
                return False
            if data["seqId"] < data["prevSeqId"]:
                self.resets += 1
            if data["seqId"] == data["prevSeqId"] and not data["bids"] and not data["asks"]:
                self.heartbeats += 1
            for side, levels in ((self.bids, data["bids"]), (self.asks, data["asks"])):
                for lvl in levels:
                    if lvl[1] == "0":
                        side.pop(lvl[0], None)
                    else:
                        side[lvl[0]] = lvl
            self.last = data["seqId"]
        return True

    def sorted_bids(self) -> list[list[str]]:
        return [self.bids[p] for p in sorted(self.bids, key=Decimal, reverse=True)]

    def sorted_asks(self) -> list[list[str]]:
        return [self.asks[p] for p in sorted(self.asks, key=Decimal)]
