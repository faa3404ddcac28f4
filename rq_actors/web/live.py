"""Live push: a WebSocket fed from a `LiveBus` subscription, one per open page.

Each viewer has its own bounded subscription (`VIEWER_CAPACITY` records). Publishing never waits
for a viewer: when a slow browser lets its buffer fill, the bus drops records for that viewer
only and counts them; the viewer's stale buffer is then skipped and the page is told how many it
missed (`gap`), so it reloads its history from the vault. Capture and derivation never notice.

Without a bus (`rq web` over a vault, no capture in this process) the socket says so (`live:
false`) and pushes nothing; the page then refreshes its history now and then instead.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
import trio
from starlette.websockets import WebSocket, WebSocketDisconnect

from rq_actors.io.live_bus import BusFull, LiveBus
from rq_actors.messages import LiveRecord
from rq_actors.web.auth import authorized, same_origin, trusted_host
from rq_actors.web.health_view import WebStats

VIEWER_CAPACITY = 512
_POLICY_VIOLATION = 1008
_TRY_AGAIN_LATER = 1013


async def live_socket(
    ws: WebSocket,
    *,
    instruments: list[str],
    bus: LiveBus | None,
    token: str | None,
    stats: WebStats,
) -> None:
    inst_id = ws.query_params.get("instId")
    allowed = trusted_host(ws, token) and same_origin(ws) and authorized(ws, token)
    if not allowed or inst_id not in instruments:
        await ws.close(code=_POLICY_VIOLATION)
        return
    if bus is None:
        await ws.accept()
        await ws.send_text(orjson.dumps({"type": "hello", "live": False}).decode())
        await _until_closed(ws)
        return
    try:
        with bus.subscribe(VIEWER_CAPACITY) as sub:
            await ws.accept()
            stats.live_clients += 1
            try:
                await ws.send_text(orjson.dumps({"type": "hello", "live": True}).decode())
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_cancel_when_closed, ws, nursery.cancel_scope)
                    await _forward(ws, sub.receive, inst_id, lambda: sub.dropped, stats)
            finally:
                stats.live_clients -= 1
    except BusFull:
        await ws.close(code=_TRY_AGAIN_LATER)
    except WebSocketDisconnect:
        pass


async def _forward(
    ws: WebSocket,
    receive: trio.MemoryReceiveChannel[LiveRecord],
    inst_id: str,
    dropped: Callable[[], int],
    stats: WebStats,
) -> None:
    seen_dropped = 0
    async for rec in receive:
        if dropped() != seen_dropped:
            # The page reloads from the vault on a gap, so what is still buffered is stale too:
            # skip it rather than send it to a viewer that is already behind.
            while True:
                try:
                    receive.receive_nowait()
                except trio.WouldBlock:
                    break
            stats.live_dropped += dropped() - seen_dropped
            seen_dropped = dropped()
            await ws.send_text(orjson.dumps({"type": "gap", "dropped": seen_dropped}).decode())
            continue
        if rec.inst_id != inst_id:
            continue
        msg = {
            "type": "record",
            "kind": rec.kind,
            "stream": rec.stream,
            "time_ms": rec.time_ms,
            "record": rec.record,
        }
        await ws.send_text(orjson.dumps(msg).decode())
        stats.live_sent += 1


async def _cancel_when_closed(ws: WebSocket, scope: trio.CancelScope) -> None:
    await _until_closed(ws)
    scope.cancel()


async def _until_closed(ws: WebSocket) -> None:
    try:
        while True:
            await ws.receive_text()  # the page sends nothing that matters; wait for the close
    except (WebSocketDisconnect, RuntimeError):
        return
