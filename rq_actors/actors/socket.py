"""The socket actor of one instrument (SPEC §3, §5): OKX WebSocket in, frames and connection events
out.

One endpoint runner per WebSocket URL it needs: `public` carries `books` (and `trades` when
`trades_channel = "trades"`), `business` carries `trades-all`. Each runner keeps one connection
up, reconnecting with jittered, capped exponential backoff forever, and switches connections
make-before-break on a `notice` 64008.

What the consumers see, per output channel and endpoint (the contract the trade writer and the
book actor rely on):
- `ConnectionEvent(up, epoch)` comes before any frame of that epoch, `down` after the last one;
- epochs only grow (they are process-wide, so they also grow across actor restarts);
- book frames come from one connection at a time: on a make-before-break switch the old
  connection's book stream stops just before `up` of the new epoch and the new snapshot, and no
  `down` is sent for the old one;
- trade frames of the old and the new connection may overlap during a switch (the trade writer
  de-duplicates by tradeId).
The actor never closes its output channels: they belong to the supervisor and outlive restarts.
"""

from __future__ import annotations

import itertools
from typing import Any

import trio

from rq_actors.actors._connection import Connect, Connection, DataFrame
from rq_actors.config import Config
from rq_actors.core.okx.socket_policy import Backoff as Backoff
from rq_actors.core.okx.socket_policy import Kind, Switchboard
from rq_actors.core.okx.socket_policy import ResubscribeGate as ResubscribeGate
from rq_actors.io.health import HealthReporter
from rq_actors.io.vault.quarantine import QuarantineLog
from rq_actors.io.ws_client import open_websocket
from rq_actors.messages import (
    BookFrame,
    BookInbox,
    ConnectionEvent,
    Endpoint,
    Resubscribe,
    TradeFrame,
    TradeInbox,
)

# Epochs are process-wide so that a restarted socket actor never reuses one a consumer has seen.
_EPOCHS = itertools.count(1)


class SocketActor:
    def __init__(
        self,
        inst_id: str,
        config: Config,
        trades_out: trio.MemorySendChannel[TradeInbox],
        book_out: trio.MemorySendChannel[BookInbox],
        resubscribe_in: trio.MemoryReceiveChannel[Resubscribe],
        quarantine: QuarantineLog,
        health: HealthReporter,
        *,
        connect: Connect = open_websocket,
    ) -> None:
        self.inst_id = inst_id
        self.connect = connect
        self.config = config
        self.quarantine = quarantine
        self.health = health
        self._trades_out = trades_out
        self._book_out = book_out
        self._resubscribe_in = resubscribe_in
        self._gate = ResubscribeGate(config.socket.resubscribe_min_interval_s)
        self._ever_running = False
        ex, sock = config.exchange, config.socket
        public = {ex.book_channel: sock.book_silence_s}
        if ex.trades_channel == "trades":
            public["trades"] = sock.trades_silence_s
        self.endpoints = [_EndpointRunner(self, "public", ex.ws_public_url, public)]
        if ex.trades_channel == "trades-all":
            business = {"trades-all": sock.trades_silence_s}
            self.endpoints.append(_EndpointRunner(self, "business", ex.ws_business_url, business))

    async def run(self) -> None:
        self.health.set_state("starting")
        async with trio.open_nursery() as nursery:
            for endpoint in self.endpoints:
                nursery.start_soon(endpoint.run)
            nursery.start_soon(self._resubscribe_loop, nursery)

    def kind_of(self, channel: str) -> Kind:
        return "books" if channel == self.config.exchange.book_channel else "trades"

    async def emit(self, kind: Kind, msg: ConnectionEvent | DataFrame) -> None:
        # Without a checkpoint while the channel has room (a batch of frames costs one task
        # switch, not one per frame); waits only when the consumer is behind (back-pressure).
        if kind == "books":
            assert not isinstance(msg, TradeFrame)
            out: trio.MemorySendChannel[Any] = self._book_out
        else:
            assert not isinstance(msg, BookFrame)
            out = self._trades_out
        try:
            out.send_nowait(msg)
        except trio.WouldBlock:
            await out.send(msg)

    def emit_nowait(self, kind: Kind, msg: ConnectionEvent) -> None:
        """Best effort while the actor is being cancelled: a `down` must not block shutdown."""
        out = self._book_out if kind == "books" else self._trades_out
        try:
            out.send_nowait(msg)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    def refresh_state(self) -> None:
        """running when every endpoint has a fully subscribed connection, else recovering."""
        if all(ep.ready for ep in self.endpoints):
            self._ever_running = True
            self.health.set_state("running")
        elif self._ever_running:
            self.health.set_state("recovering")

    async def _resubscribe_loop(self, nursery: trio.Nursery) -> None:
        async for req in self._resubscribe_in:
            endpoint = self._endpoint_for(req.channel)
            if req.inst_id != self.inst_id or endpoint is None:
                self.health.error(f"resubscribe of {req.inst_id}/{req.channel} ignored: not mine")
                continue
            at = self._gate.request(req.channel, trio.current_time())
            if at is None:
                self.health.incr("resubscribes_coalesced")
                continue
            nursery.start_soon(self._resubscribe_at, endpoint, req.channel, at)

    async def _resubscribe_at(self, endpoint: _EndpointRunner, channel: str, at: float) -> None:
        await trio.sleep_until(at)
        self._gate.fired(channel, trio.current_time())
        if await endpoint.resubscribe(channel):
            self.health.incr("resubscribes")
        else:
            # No open connection with that subscription active: the next subscribe (reconnect or
            # one already on its way) brings a fresh snapshot anyway.
            self.health.incr("resubscribes_skipped")

    def _endpoint_for(self, channel: str) -> _EndpointRunner | None:
        return next((ep for ep in self.endpoints if channel in ep.channels), None)


class _EndpointRunner:
    """Keeps one endpoint connected; owns the make-before-break switch and the switchboard."""

    def __init__(
        self, actor: SocketActor, name: Endpoint, url: str, channels: dict[str, float]
    ) -> None:
        sock = actor.config.socket
        self.name: Endpoint = name
        self.channels = channels
        self.active: Connection | None = None
        self.standby: Connection | None = None
        self._actor = actor
        self._url = url
        self._board = Switchboard(actor.inst_id, name)
        self._backoff = Backoff(sock.reconnect_initial_s, sock.reconnect_max_s)
        # A connection that stayed up as long as the longest backoff earns a fresh start.
        self._healthy_after_s = sock.reconnect_max_s
        self._lost = trio.Event()
        self._nursery: trio.Nursery | None = None

    @property
    def ready(self) -> bool:
        conn = self.active
        return conn is not None and conn.is_open and conn.table.all_active()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            while True:
                self._lost = trio.Event()
                self.active = self._open(standby=False)
                await self._lost.wait()
                self._actor.refresh_state()
                await trio.sleep(self._backoff.next_delay())
                self._actor.health.incr("reconnects")

    async def resubscribe(self, channel: str) -> bool:
        # During a switch, resubscribe on the connection whose stream the consumers get.
        current = self._board.current(self._actor.kind_of(channel))
        candidates = [c for c in (self.active, self.standby) if c is not None]
        conn = next((c for c in candidates if c.epoch == current), self.active)
        return conn is not None and await conn.resubscribe(channel)

    def _open(self, *, standby: bool) -> Connection:
        assert self._nursery is not None
        actor = self._actor
        conn = Connection(
            owner=self,
            endpoint=self.name,
            url=self._url,
            epoch=next(_EPOCHS),
            inst_id=actor.inst_id,
            silence_s=self.channels,
            book_channel=actor.config.exchange.book_channel,
            settings=actor.config.socket,
            quarantine=actor.quarantine,
            health=actor.health,
            standby=standby,
            connect=actor.connect,
        )
        self._nursery.start_soon(self._run_connection, conn)
        return conn

    async def _run_connection(self, conn: Connection) -> None:
        try:
            reason = await conn.run()
        except BaseException:
            for kind, event in self._board.closed(conn.epoch, "socket actor stopped"):
                self._actor.emit_nowait(kind, event)
            raise
        ready_at = conn.ready_at
        if ready_at is not None and trio.current_time() - ready_at >= self._healthy_after_s:
            self._backoff.reset()
        announced = self._board.announced_any(conn.epoch)
        pending = self._board.closed(conn.epoch, reason)
        try:
            while pending:
                await self._actor.emit(*pending[0])
                pending.pop(0)
        except BaseException:
            for kind, event in pending:  # stopped mid-way (a cancelled send sent nothing)
                self._actor.emit_nowait(kind, event)
            raise
        self._actor.health.incr("disconnects")
        if conn is self.active:
            self._active_closed(reason)
        elif conn is self.standby:
            self._standby_closed(conn, announced, reason)
        self._actor.refresh_state()

    def _active_closed(self, reason: str) -> None:
        standby = self.standby
        if standby is not None and standby.close_reason is None:
            # The old connection went first: the replacement carries on as the active one and
            # announces what it has not announced yet (its books with its first snapshot).
            self.active, self.standby = standby, None
            return
        self.active = None
        self._actor.health.error(f"{self.name} connection lost: {reason}")
        self._lost.set()

    def _standby_closed(self, conn: Connection, announced: bool, reason: str) -> None:
        self.standby = None
        self._actor.health.error(f"{self.name} replacement connection failed: {reason}")
        active = self.active
        if active is None:
            return
        if announced:
            # Consumers already saw the replacement's `up`; going back to the old epoch would
            # break the "epochs only grow" rule, so reconnect from scratch instead.
            active.close(f"replacement connection failed: {reason}")
        elif self._nursery is not None:
            self._nursery.start_soon(self._retry_standby, active)

    async def _retry_standby(self, old: Connection) -> None:
        await trio.sleep(self._backoff.next_delay())
        if self.active is old and old.is_open and self.standby is None:
            self._start_standby()

    def _start_standby(self) -> None:
        self._actor.health.incr("make_before_break")
        conn = self._open(standby=True)
        self.standby = conn
        assert self._nursery is not None
        self._nursery.start_soon(self._standby_deadline, conn)

    async def _standby_deadline(self, conn: Connection) -> None:
        # Connect + acks + first snapshot; each step may take up to subscribe_timeout_s.
        await trio.sleep(3 * self._actor.config.socket.subscribe_timeout_s)
        if conn is self.standby and conn.standby:
            conn.close("make-before-break: replacement not ready in time")

    async def _announce(self, kind: Kind, conn: Connection) -> None:
        event = self._board.announce(kind, conn.epoch)
        if event is not None:
            await self._actor.emit(kind, event)

    def _finish_switch_if_done(self, conn: Connection) -> None:
        if not conn.standby:
            return
        kinds: list[Kind] = []
        if conn.carries_trades:
            kinds.append("trades")
        if conn.carries_books:
            kinds.append("books")
        if any(self._board.current(k) != conn.epoch for k in kinds):
            return
        conn.standby = False
        self._actor.health.incr("switches")
        if self.standby is conn:
            old, self.active, self.standby = self.active, conn, None
            if old is not None:
                old.close("replaced after notice 64008")
        if conn.notice_seen:  # the replacement itself got a notice meanwhile
            self.on_notice(conn)

    # ---- ConnectionOwner -------------------------------------------------------------------

    async def on_subscribed(self, conn: Connection, channel: str) -> None:
        kind = self._actor.kind_of(channel)
        if conn.close_reason is not None:
            return  # a late ack on a connection that is already going away announces nothing
        if not (conn.standby and kind == "books"):  # a replacement's books wait for its snapshot
            await self._announce(kind, conn)
            self._finish_switch_if_done(conn)
        self._actor.refresh_state()

    async def on_frame(self, conn: Connection, frame: DataFrame) -> None:
        kind: Kind = "books" if isinstance(frame, BookFrame) else "trades"
        if (
            isinstance(frame, BookFrame)
            and conn.standby
            and self._board.current(kind) != conn.epoch
        ):
            if not (conn.books_acked and frame.action == "snapshot") or conn.close_reason:
                self._actor.health.incr("frames_held_back")
                return
            # The switch point: from here on the consumers get this connection's book stream,
            # starting with its snapshot; the old connection's book frames no longer pass.
            await self._announce("books", conn)
            self._finish_switch_if_done(conn)
        if self._board.passes(kind, conn.epoch):
            # No checkpoint between this check and the item entering the channel (or its FIFO
            # of waiting senders), so a switch cannot slip an old book frame in after `up`.
            await self._actor.emit(kind, frame)
        else:
            self._actor.health.incr("frames_not_routed")

    def on_subscribe_error(self, conn: Connection, channels: list[str]) -> None:
        if conn is self.standby:
            conn.close(f"replacement connection refused {', '.join(channels)}")

    def on_notice(self, conn: Connection) -> None:
        if conn is self.active and self.standby is None and conn.is_open:
            self._start_standby()
