"""The WebSocket client of the socket actor: trio-websocket, handing over messages in batches.

trio-websocket's reader task passes each decoded message to its consumer with
`await channel.send(msg)`, a checkpoint per message: a burst of fifty frames from one TCP read
costs fifty scheduler rounds, and every task downstream steps once per round. That per-frame
round was two thirds of the live shell's CPU (docs/PERFORMANCE.md). Here the library does
everything it did (TLS, handshake, framing, ping/pong, close, size limits); only the hand-over
changes: the reader's side of its channel is wrapped so a message goes in without a checkpoint
while the channel has room (it still waits when full: the library's own back-pressure), and
`get_messages()` returns every message waiting after one wait.

This relies on two attributes of trio-websocket's `WebSocketConnection` (`_send_channel`,
`_recv_channel`, both trio memory channels since 0.9). Should a release drop either, the wrapper
falls back to one message per wait: slower, never wrong.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from rq_actors.config import SocketConfig

# trio-websocket waits up to 60 s for the close handshake by default; a peer that went silent
# must not keep a dead connection (and the reconnect behind it) hanging that long.
DISCONNECT_TIMEOUT_S = 2.0
# One TCP read is decoded into messages at once; 64 KiB holds a burst of small pushes (the
# library's default, 4 KiB, is one or two book updates).
RECEIVE_BUFFER_BYTES = 1 << 16
# Messages the library holds decoded for us (its default is 1, which would make its reader
# wait, a checkpoint, at the second message of a burst). The connection moves them on at once
# into its own bounded queue, so this fills only while the whole process stalls: at most this
# many frames of at most `max_message_bytes` each, per connection.
MESSAGE_QUEUE = 256


class _EagerSend:
    """The reader's side of the library's message channel: `send` without a checkpoint while
    there is room; when full, the channel's own waiting `send`."""

    def __init__(self, inner: trio.MemorySendChannel[str | bytes]) -> None:
        self._inner = inner

    async def send(self, message: str | bytes) -> None:
        try:
            self._inner.send_nowait(message)
        except trio.WouldBlock:
            await self._inner.send(message)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def close(self) -> None:
        self._inner.close()

    async def __aenter__(self) -> _EagerSend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class BatchingWebSocket:
    """A trio-websocket connection whose messages are read in batches."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self._ws = ws
        self._queued: trio.MemoryReceiveChannel[str | bytes] | None = None
        inner = getattr(ws, "_send_channel", None)
        queued = getattr(ws, "_recv_channel", None)
        if isinstance(inner, trio.MemorySendChannel) and isinstance(
            queued, trio.MemoryReceiveChannel
        ):
            # The reader looks the attribute up at every message, so the swap takes effect
            # at once; the original object stays the one its `async with` closes.
            ws._send_channel = _EagerSend(inner)  # type: ignore[assignment]
            self._queued = queued

    async def get_messages(self) -> list[str | bytes]:
        """Every message waiting (at least one; waits for it). Raises `ConnectionClosed` like
        `get_message` once the peer has closed and nothing is left."""
        batch = [await self._ws.get_message()]
        queued = self._queued
        if queued is not None:
            while len(batch) <= MESSAGE_QUEUE:
                try:
                    batch.append(queued.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                    break
        return batch

    async def send_message(self, message: str | bytes) -> None:
        await self._ws.send_message(message)


@asynccontextmanager
async def open_websocket(url: str, settings: SocketConfig) -> AsyncIterator[BatchingWebSocket]:
    """The real network: trio-websocket (TLS for wss://), messages read in batches."""
    async with open_websocket_url(
        url,
        max_message_size=settings.max_message_bytes,
        connect_timeout=settings.subscribe_timeout_s,
        disconnect_timeout=DISCONNECT_TIMEOUT_S,
        message_queue_size=MESSAGE_QUEUE,
        receive_buffer_size=RECEIVE_BUFFER_BYTES,
    ) as ws:
        yield BatchingWebSocket(ws)
