"""The socket actor through its `connect=` seam: an in-memory exchange under MockClock.

No sockets and no real time: keepalive, reconnect backoff, overflow and batching are checked in
virtual time (`autojump_clock`), deterministically. The loopback tests (`test_socket_actor.py`,
`test_socket_sim.py`) keep proving the real network path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import orjson
import trio
import trio.testing
from trio_websocket import CloseReason, ConnectionClosed

from rq_actors.actors.socket import SocketActor
from rq_actors.config import Config, SocketConfig, parse_config
from rq_actors.io.health import HealthReporter, null_reporter
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.io.vault.quarantine import QuarantineLog
from rq_actors.messages import BookInbox, ConnectionEvent, Resubscribe, TradeFrame, TradeInbox

INST = "BTC-USDT-SWAP"


@attrs.define(eq=False)
class MemSocket:
    """One client connection of the in-memory exchange."""

    url: str
    exchange: MemExchange
    opened_at: float
    sent: list[Any] = attrs.Factory(list)
    subs: set[str] = attrs.Factory(set)
    closed: bool = False
    _send: trio.MemorySendChannel[str] = attrs.field(init=False)
    _recv: trio.MemoryReceiveChannel[str] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._send, self._recv = trio.open_memory_channel[str](10_000)

    async def get_messages(self) -> list[str | bytes]:
        try:
            batch: list[str | bytes] = [await self._recv.receive()]
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise ConnectionClosed(CloseReason(1000, "closed by the exchange")) from None
        while True:  # like the real client: everything already waiting, after one wait
            try:
                batch.append(self._recv.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                return batch

    async def send_message(self, message: str | bytes) -> None:
        if self.closed:
            raise ConnectionClosed(CloseReason(1006, "gone"))
        assert isinstance(message, str)
        if message == "ping":
            self.sent.append("ping")
            if self.exchange.pong:
                self.push_text("pong")
            return
        req = orjson.loads(message)
        self.sent.append(req)
        for arg in req["args"]:
            if req["op"] == "subscribe":
                self.subs.add(arg["channel"])
            ack = {"id": req.get("id"), "event": req["op"], "arg": arg, "connId": "mem"}
            self.push_text(orjson.dumps(ack).decode())

    def push_text(self, text: str) -> None:
        self._send.send_nowait(text)

    def push(self, channel: str, rows: list[dict[str, Any]]) -> None:
        self.push_text(
            orjson.dumps({"arg": {"channel": channel, "instId": INST}, "data": rows}).decode()
        )

    def close(self) -> None:
        self._send.close()


@attrs.define(eq=False)
class MemExchange:
    pong: bool = True
    conns: list[MemSocket] = attrs.Factory(list)

    @asynccontextmanager
    async def connect(self, url: str, settings: SocketConfig) -> AsyncIterator[MemSocket]:
        sock = MemSocket(url, self, trio.current_time())
        self.conns.append(sock)
        try:
            yield sock
        finally:
            sock.closed = True

    def on(self, endpoint: str) -> list[MemSocket]:
        return [c for c in self.conns if c.url.endswith(endpoint)]


def _config(**socket: Any) -> Config:
    settings = {
        "ping_after_s": 5.0,
        "pong_timeout_s": 3.0,
        "subscribe_timeout_s": 2.0,
        "reconnect_initial_s": 1.0,
        "reconnect_max_s": 1.0,
        **socket,
    }
    return parse_config(
        {
            "instruments": [INST],
            "exchange": {
                "ws_public_url": "wss://mem.invalid/ws/v5/public",
                "ws_business_url": "wss://mem.invalid/ws/v5/business",
            },
            "socket": settings,
        }
    )


@attrs.define(eq=False)
class Run:
    exchange: MemExchange
    health: HealthReporter
    trades: trio.MemoryReceiveChannel[TradeInbox]
    books: list[BookInbox]


@asynccontextmanager
async def running(tmp_path: Path, *, trades_capacity: int = 10_000, **socket: Any) -> Any:
    exchange = MemExchange()
    trades_send, trades_recv = trio.open_memory_channel[TradeInbox](trades_capacity)
    book_send, book_recv = trio.open_memory_channel[BookInbox](10_000)
    _resub_send, resub_recv = trio.open_memory_channel[Resubscribe](10)
    health = null_reporter("socket", INST)
    paths = VaultPaths(tmp_path)
    actor = SocketActor(
        INST,
        _config(**socket),
        trades_send,
        book_send,
        resub_recv,
        QuarantineLog(paths, INST),
        health,
        connect=exchange.connect,
    )
    run = Run(exchange, health, trades_recv, [])

    async def collect_books() -> None:
        async for msg in book_recv:
            run.books.append(msg)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(collect_books)
        nursery.start_soon(actor.run)
        yield run
        nursery.cancel_scope.cancel()


async def _until(cond: Any) -> None:
    with trio.fail_after(600):
        while not cond():
            await trio.sleep(0.01)


def _drain(recv: trio.MemoryReceiveChannel[TradeInbox]) -> list[TradeInbox]:
    out: list[TradeInbox] = []
    while True:
        try:
            out.append(recv.receive_nowait())
        except trio.WouldBlock:
            return out


def _fill(i: int) -> dict[str, str]:
    return {
        "instId": INST,
        "tradeId": str(i),
        "px": "100",
        "sz": "1",
        "side": "buy",
        "ts": str(1_700_000_000_000 + i),
        "source": "0",
    }


async def test_a_burst_of_frames_arrives_whole_in_order_after_up(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with running(tmp_path) as run:
        await _until(lambda: any("trades-all" in c.subs for c in run.exchange.on("business")))
        conn = run.exchange.on("business")[0]
        await _until(lambda: run.health.counters.get("acks", 0) >= 2)
        for i in range(1, 301):  # all waiting at once: the parser takes them as one batch
            conn.push("trades-all", [_fill(i)])
        await _until(lambda: run.health.counters.get("frames_trades_all", 0) == 300)
        out = _drain(run.trades)
        assert isinstance(out[0], ConnectionEvent) and out[0].state == "up"
        frames = [m for m in out[1:] if isinstance(m, TradeFrame)]
        assert [int(f.rows[0]["tradeId"]) for f in frames] == list(range(1, 301))
        assert {f.epoch for f in frames} == {out[0].epoch}


async def test_no_pong_ends_the_connection_and_backs_off_before_reconnecting(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with running(tmp_path) as run:
        run.exchange.pong = False
        await _until(lambda: len(run.exchange.on("business")) == 2)
        first, second = run.exchange.on("business")
        assert "ping" in first.sent
        # silent for ping_after_s, then no pong within pong_timeout_s, then >= half the backoff
        assert second.opened_at - first.opened_at >= 5.0 + 3.0 + 0.5
        assert run.health.counters["pong_timeouts"] >= 1
        events = [m for m in _drain(run.trades) if isinstance(m, ConnectionEvent)]
        assert [e.state for e in events[:3]] == ["up", "down", "up"]
        assert events[0].epoch < events[2].epoch
        assert "no pong" in events[1].reason


async def test_a_full_inbound_queue_reconnects_instead_of_blocking_the_reader(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The trade writer stops reading: the parser waits on its full channel, the reader's
    bounded queue fills, and the connection is dropped instead of memory growing; what was
    queued is still routed, then `down` (the trade writer back-fills after the next `up`)."""
    async with running(tmp_path, trades_capacity=1, queue_size=8) as run:
        await _until(lambda: run.health.counters.get("acks", 0) >= 2)
        conn = run.exchange.on("business")[0]
        for i in range(1, 101):
            conn.push("trades-all", [_fill(i)])
        await _until(lambda: run.health.counters.get("queue_overflows", 0) >= 1)
        got: list[TradeInbox] = []
        while len(run.exchange.on("business")) < 2:  # the writer reads again
            got.append(await run.trades.receive())
        ids = [int(m.rows[0]["tradeId"]) for m in got if isinstance(m, TradeFrame)]
        assert ids == list(range(1, len(ids) + 1)) and len(ids) < 100  # a prefix, in order
        states = [m.state for m in got if isinstance(m, ConnectionEvent)]
        assert states[:2] == ["up", "down"]
        assert conn.closed
