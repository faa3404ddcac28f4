"""One WebSocket connection of the socket actor: connect, subscribe, drain, parse, keep alive.

Three tasks do the I/O and one parses:
- the reader moves every frame off the socket into a bounded queue at once, a batch per
  wake-up (`io.ws_client`: everything decoded from one TCP read), so the library's reader
  never stalls and keepalive works even while a consumer is slow (SPEC §3);
- the keepalive sends a text `ping` after `ping_after_s` without any frame and ends the
  connection when nothing (a `pong` or anything else) follows within `pong_timeout_s`;
- the subscription task sends the subscribe requests and does what the `SubscriptionTable`
  says: ack timeouts end the connection, refused subscriptions are retried, silent ones are
  resubscribed;
- the parser classifies frames in arrival order and hands data to the owner (the endpoint),
  which decides what reaches the consumers.

When the connection ends for any reason the I/O tasks stop, the parser still routes what was
already received, and `run` returns the reason. The owner announces up/down events, using the
pure `Switchboard` (`rq_actors.core.okx.socket_policy`) to decide which connection's frames
pass. The network is reached through `connect=` (default: trio-websocket), so tests can put an
in-memory socket there and run under `MockClock`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import trio
from trio_websocket import ConnectionClosed, HandshakeError

from rq_actors.config import SocketConfig
from rq_actors.core.okx.socket_policy import Switchboard as Switchboard
from rq_actors.core.okx.ws_protocol import (
    NOTICE_SERVICE_UPGRADE,
    PING,
    PONG,
    Ack,
    ErrorEvent,
    Invalid,
    Notice,
    OtherEvent,
    Push,
    SubscriptionTable,
    classify,
    newest_ts_ms,
)
from rq_actors.io.health import HealthReporter
from rq_actors.io.vault.quarantine import QuarantineLog
from rq_actors.io.ws_client import open_websocket
from rq_actors.messages import BookFrame, Endpoint, TradeFrame

DataFrame = TradeFrame | BookFrame
_Queued = tuple[str | bytes, int]


class WebSocket(Protocol):
    """What a connection needs of a WebSocket (`rq_actors.io.ws_client.BatchingWebSocket`). A
    peer that closes makes `get_messages`/`send_message` raise `trio_websocket.ConnectionClosed`."""

    async def get_messages(self) -> list[str | bytes]:
        """Every message waiting, at least one (waits for it)."""
        ...

    async def send_message(self, message: str | bytes) -> None: ...


# The seam to the network (like httpx's transport): `(url, settings)` → an async context
# manager yielding the open socket. Tests pass an in-memory one and run under MockClock.
Connect = Callable[[str, SocketConfig], AbstractAsyncContextManager[WebSocket]]


class ConnectionOwner(Protocol):
    """What a connection reports to (the endpoint of the socket actor)."""

    async def on_subscribed(self, conn: Connection, channel: str) -> None: ...

    async def on_frame(self, conn: Connection, frame: DataFrame) -> None: ...

    def on_subscribe_error(self, conn: Connection, channels: list[str]) -> None: ...

    def on_notice(self, conn: Connection) -> None: ...


class Connection:
    def __init__(
        self,
        *,
        owner: ConnectionOwner,
        endpoint: Endpoint,
        url: str,
        epoch: int,
        inst_id: str,
        silence_s: Mapping[str, float],
        book_channel: str,
        settings: SocketConfig,
        quarantine: QuarantineLog,
        health: HealthReporter,
        standby: bool = False,
        connect: Connect = open_websocket,
    ) -> None:
        self.endpoint = endpoint
        self.epoch = epoch
        self.standby = standby  # opened for a make-before-break switch that is not done yet
        self.notice_seen = False
        self.books_acked = False
        self.ready_at: float | None = None  # when every subscription was first active
        self.close_reason: str | None = None
        self.table = SubscriptionTable(
            inst_id,
            silence_s,
            ack_timeout_s=settings.subscribe_timeout_s,
            retry_initial_s=settings.reconnect_initial_s,
            retry_max_s=settings.reconnect_max_s,
        )
        self._owner = owner
        self._url = url
        self._inst_id = inst_id
        self._book_channel = book_channel
        self._settings = settings
        self._quarantine = quarantine
        self._health = health
        self._connect = connect
        self._ws: WebSocket | None = None
        self._outer_scope = trio.CancelScope()
        self._io_scope = trio.CancelScope()
        self._wake = trio.Event()
        self._last_rx = 0.0
        self._rx_count = 0

    @property
    def carries_books(self) -> bool:
        return self._book_channel in self.table.channels

    @property
    def carries_trades(self) -> bool:
        return any(ch != self._book_channel for ch in self.table.channels)

    @property
    def is_open(self) -> bool:
        return self._ws is not None and self.close_reason is None

    def close(self, reason: str) -> None:
        """End this connection (from any task); frames already received are still routed."""
        self._set_reason(reason)
        self._io_scope.cancel()
        if self._ws is None:  # still connecting: abandon the attempt
            self._outer_scope.cancel()

    async def resubscribe(self, channel: str) -> bool:
        """Unsubscribe + subscribe one channel. False if it is not active on an open socket."""
        if not self.is_open or channel not in self.table.channels:
            return False
        requests = self.table.resubscribe(channel, trio.current_time())
        self._wake.set()
        for request in requests:
            if not await self._send(request):
                return False
        return bool(requests)

    async def run(self) -> str:
        """Connect, subscribe and serve until the connection ends; return why it ended."""
        self._last_rx = trio.current_time()
        with self._outer_scope:
            try:
                await self._serve()
            except HandshakeError as exc:
                self._set_reason(f"connect/close failed: {exc!r}")
            except (ConnectionClosed, OSError, trio.BrokenResourceError) as exc:
                self._set_reason(f"socket error: {exc!r}")
        return self.close_reason or "closed"

    async def _serve(self) -> None:
        async with self._connect(self._url, self._settings) as ws:
            self._ws = ws
            self._last_rx = trio.current_time()
            self._health.incr("connections")
            send_q, recv_q = trio.open_memory_channel[_Queued](self._settings.queue_size)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._parse_loop, recv_q)
                async with send_q:  # closed when the I/O ends: the parser drains, then stops
                    with self._io_scope:
                        async with trio.open_nursery() as io:
                            io.start_soon(self._read_loop, ws, send_q)
                            io.start_soon(self._keepalive)
                            io.start_soon(self._subscriptions)

    def _set_reason(self, reason: str) -> None:
        if self.close_reason is None:
            self.close_reason = reason

    def _fail(self, reason: str) -> None:
        self._set_reason(reason)
        self._io_scope.cancel()

    async def _send(self, text: str) -> bool:
        ws = self._ws
        if ws is None or self.close_reason is not None:
            return False
        try:
            await ws.send_message(text)
        except ConnectionClosed as exc:
            self._fail(f"send failed, socket closed: {exc.reason}")
            return False
        return True

    # ---- I/O tasks ---------------------------------------------------------------------------

    async def _read_loop(self, ws: WebSocket, queue: trio.MemorySendChannel[_Queued]) -> None:
        while True:
            try:
                messages = await ws.get_messages()
            except ConnectionClosed as exc:
                self._fail(f"closed by peer: {exc.reason}")
                return
            self._last_rx = trio.current_time()
            self._rx_count += len(messages)
            self._health.incr("messages_in", len(messages))
            received_ns = time.monotonic_ns()
            for message in messages:
                if message == PONG:
                    self._health.incr("pongs")
                    continue
                try:
                    queue.send_nowait((message, received_ns))
                except trio.WouldBlock:
                    # Data is being lost either way; a reconnect makes the loss visible to the
                    # consumers (down/up: the trade writer backfills, the book resyncs).
                    self._health.incr("queue_overflows")
                    self._fail(f"inbound queue full ({self._settings.queue_size} frames)")
                    return

    async def _keepalive(self) -> None:
        ping_after = self._settings.ping_after_s
        while True:
            await trio.sleep_until(self._last_rx + ping_after)
            if trio.current_time() < self._last_rx + ping_after:
                continue  # something arrived meanwhile
            seen = self._rx_count
            sent_at = trio.current_time()
            if not await self._send(PING):
                return
            self._health.incr("pings_sent")
            await trio.sleep_until(sent_at + self._settings.pong_timeout_s)
            if self._rx_count == seen:
                self._health.incr("pong_timeouts")
                self._fail(f"no pong within {self._settings.pong_timeout_s}s")
                return

    async def _subscriptions(self) -> None:
        for request in self.table.start(trio.current_time()):
            if not await self._send(request):
                return
        while True:
            with trio.move_on_at(self.table.next_deadline()):
                await self._wake.wait()
            self._wake = trio.Event()
            todo = self.table.poll(trio.current_time())
            if todo.timed_out:
                self._health.incr("subscribe_timeouts")
                self._fail(
                    f"no ack for {', '.join(todo.timed_out)} "
                    f"within {self._settings.subscribe_timeout_s}s"
                )
                return
            self._health.incr("silence_resubscribes", len(todo.silent))
            self._health.incr("resubscribes", len(todo.silent))
            self._health.incr("subscribe_retries", len(todo.retried))
            for request in todo.requests:
                if not await self._send(request):
                    return

    # ---- parsing -----------------------------------------------------------------------------

    async def _parse_loop(self, queue: trio.MemoryReceiveChannel[_Queued]) -> None:
        # Every frame already waiting is parsed and routed in one step: a task switch per
        # frame was most of the shell's cost. Routing sends without a checkpoint unless a
        # consumer's channel is full, so a batch costs one wake-up, however many frames.
        async with queue:
            while True:
                try:
                    batch = [await queue.receive()]
                except trio.EndOfChannel:
                    return
                while len(batch) < self._settings.queue_size:
                    try:
                        batch.append(queue.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                for message, received_ns in batch:
                    if isinstance(message, bytes):
                        raw = message.decode("utf-8", "replace")
                        self._quarantine.write(raw, "binary WebSocket frame", health=self._health)
                        continue
                    await self._handle(message, received_ns)

    async def _handle(self, text: str, received_ns: int) -> None:
        frame = classify(text)
        now = trio.current_time()
        if isinstance(frame, Push):
            await self._handle_push(frame, text, received_ns, now)
        elif isinstance(frame, Ack):
            channel = self.table.on_ack(frame, now)
            self._wake.set()
            if channel is not None:
                self._health.incr("acks")
                if channel == self._book_channel:
                    self.books_acked = True
                if self.ready_at is None and self.table.all_active():
                    self.ready_at = now
                await self._owner.on_subscribed(self, channel)
        elif isinstance(frame, ErrorEvent):
            self._wake.set()
            failed = self.table.on_error(frame, now)
            self._health.incr("subscribe_errors")
            what = ", ".join(failed) or "no pending subscription"
            self._health.error(f"{self.endpoint} error {frame.code} ({what}): {frame.msg}")
            if failed:
                self._owner.on_subscribe_error(self, failed)
        elif isinstance(frame, Notice):
            self._health.incr("notices")
            if frame.code == NOTICE_SERVICE_UPGRADE:
                self.notice_seen = True
                self._owner.on_notice(self)
            else:
                self._health.error(f"{self.endpoint} notice {frame.code}: {frame.msg}")
        elif isinstance(frame, OtherEvent):
            self._health.incr("events_ignored")
        elif isinstance(frame, Invalid):
            self._quarantine.write(text, frame.reason, health=self._health)
        # Pong: the reader already counted it (only a pong split oddly could get here).

    async def _handle_push(self, push: Push, text: str, received_ns: int, now: float) -> None:
        arg = push.arg
        if arg.inst_id != self._inst_id:
            reason = f"push for instId {arg.inst_id!r} on the {self._inst_id} socket"
            self._quarantine.write(text, reason, health=self._health)
            return
        if arg.channel not in self.table.channels:
            reason = f"push for channel {arg.channel!r}, not subscribed on {self.endpoint}"
            self._quarantine.write(text, reason, health=self._health)
            return
        self.table.on_data(arg.channel, now)
        self._health.incr(f"frames_{arg.channel.replace('-', '_')}")
        ts = newest_ts_ms(push.rows)
        if ts is not None:
            self._health.observe_event_time(ts)
        frame: DataFrame
        if arg.channel == self._book_channel:
            if push.action is None:
                self._quarantine.write(text, "books push without action", health=self._health)
                return
            frame = BookFrame(
                self._inst_id, arg.channel, push.action, push.rows, text, received_ns, self.epoch
            )
        else:
            frame = TradeFrame(self._inst_id, arg.channel, push.rows, text, received_ns, self.epoch)
        await self._owner.on_frame(self, frame)
