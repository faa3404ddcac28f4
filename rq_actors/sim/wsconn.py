"""One simulated OKX WebSocket connection: send queue, text ping/pong, idle close, aborts.

Frames are queued without blocking so a slow client never stalls the market clock; a queue
that fills up closes the connection with 4005 as OKX does.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Protocol

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

_CLOSE_TIMEOUT_S = 5.0


class Hub(Protocol):
    idle_close_s: float
    pong_delay_s: float
    silent: bool
    silent_pong: bool

    def handle_request(self, conn: WsConn, text: str) -> None: ...

    def unregister(self, conn: WsConn) -> None: ...


class WsConn:
    def __init__(
        self,
        ws: WebSocketConnection,
        *,
        hub: Hub,
        endpoint: str,
        conn_id: str,
        stream: trio.SocketStream | None,
        queue_size: int,
    ) -> None:
        self.ws = ws
        self.endpoint = endpoint  # "public" | "business"
        self.conn_id = conn_id
        self.subs: dict[tuple[str, str], None] = {}
        self.ever_subscribed = False
        self.sent_frames = 0
        self._hub = hub
        self._stream = stream
        self._send, self._queue = trio.open_memory_channel[str](queue_size)
        self._connected_at = self._last_activity = trio.current_time()
        self._close_request: tuple[int, str] | None = None
        self._close_event = trio.Event()
        self._scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self.closed = False

    # ---- called by the hub (sync, from any task) ------------------------------------------

    def send(self, frame: str) -> None:
        """Queue a data/ack/error frame; dropped while the server plays dead."""
        if not self._hub.silent:
            self._push(frame)

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (clients see code 1006)."""
        if self.closed:
            return
        self.closed = True
        if self._stream is not None:
            self._stream.socket.close()
        if self._scope is not None:
            self._scope.cancel()

    def close(self, code: int, reason: str) -> None:
        """Close with a WebSocket close frame carrying `code`."""
        if self._close_request is None and not self.closed:
            self._close_request = (code, reason)
            self._close_event.set()

    # ---- lifetime -------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            with trio.CancelScope() as scope:
                self._scope = scope
                if self.closed:
                    scope.cancel()
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    nursery.start_soon(self._guard, self._reader)
                    nursery.start_soon(self._guard, self._sender)
                    nursery.start_soon(self._guard, self._watchdog)
                    nursery.start_soon(self._guard, self._closer)
        finally:
            self.closed = True
            self._hub.unregister(self)

    async def _guard(self, fn: Callable[[], Awaitable[None]]) -> None:
        try:
            await fn()
        except ConnectionClosed:
            pass
        finally:
            # Any one task ending (peer gone, close done) ends the connection.
            assert self._nursery is not None
            self._nursery.cancel_scope.cancel()

    def _push(self, frame: str) -> None:
        if self.closed:
            return
        try:
            self._send.send_nowait(frame)
        except trio.WouldBlock:
            self.close(4005, "Buffer is full, cannot write data.")

    async def _reader(self) -> None:
        while True:
            message = await self.ws.get_message()
            self._last_activity = trio.current_time()
            text = message if isinstance(message, str) else message.decode("utf-8", "replace")
            if text == "ping":
                self._on_ping()
            else:
                self._hub.handle_request(self, text)

    def _on_ping(self) -> None:
        hub = self._hub
        if hub.silent and not hub.silent_pong:
            return
        if hub.pong_delay_s > 0 and self._nursery is not None:
            self._nursery.start_soon(self._delayed_pong, hub.pong_delay_s)
        else:
            self._push("pong")

    async def _delayed_pong(self, delay: float) -> None:
        await trio.sleep(delay)
        self._push("pong")

    async def _sender(self) -> None:
        async for frame in self._queue:
            await self.ws.send_message(frame)
            self.sent_frames += 1
            self._last_activity = trio.current_time()

    async def _watchdog(self) -> None:
        while True:
            idle = self._hub.idle_close_s
            if idle <= 0 or math.isinf(idle):
                await trio.sleep_forever()
            deadline = self._last_activity + idle
            if not self.ever_subscribed:
                deadline = min(deadline, self._connected_at + idle)
            if trio.current_time() >= deadline:
                self.close(4004, "No data received in 30s.")
                await trio.sleep_forever()  # the closer ends the connection
            await trio.sleep_until(deadline)

    async def _closer(self) -> None:
        await self._close_event.wait()
        assert self._close_request is not None
        code, reason = self._close_request
        # Shielded: the other tasks end (and cancel the rest) as soon as the close starts, and
        # the close frame must still go out.
        with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_TIMEOUT_S):
            await self.ws.aclose(code, reason)
