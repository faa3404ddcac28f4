"""A small scripted OKX stand-in on loopback (`FakeOkx`) and a socket-actor harness around it.

The stand-in does exactly what a test tells it, which makes protocol corner cases (refused
subscriptions, missing acks, silent pongs, a notice at a chosen moment) deterministic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import orjson
import trio
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    WebSocketRequest,
    serve_websocket,
)

from rq_actors.actors.socket import SocketActor
from rq_actors.config import Config, parse_config
from rq_actors.io.health import HealthReporter, null_reporter
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.io.vault.quarantine import QuarantineLog
from rq_actors.messages import (
    BookInbox,
    ConnectionEvent,
    Resubscribe,
    TradeInbox,
)

INST = "BTC-USDT-SWAP"


@attrs.define(eq=False)
class FakeConn:
    ws: WebSocketConnection
    endpoint: str
    subs: set[str] = attrs.field(factory=set)
    received: list[Any] = attrs.field(factory=list)
    closed: trio.Event = attrs.field(factory=trio.Event)

    def ops(self, op: str) -> list[str]:
        return [m["args"][0]["channel"] for m in self.received if m != "ping" and m["op"] == op]

    async def send(self, msg: Any) -> None:
        text = msg if isinstance(msg, str) else orjson.dumps(msg).decode()
        try:
            await self.ws.send_message(text)
        except ConnectionClosed:
            pass


class FakeOkx:
    """Acks one subscription per arg (echoing `id`), answers `ping`, fans pushes out to every
    connection subscribed to the channel, sends a books snapshot after each books ack."""

    def __init__(self) -> None:
        self.conns: list[FakeConn] = []
        self.refuse: dict[str, str] = {}  # channel -> error code
        self.ack = True
        self.pong = True
        self.snapshots = True  # send a books snapshot right after each books ack
        self.seq = 1000
        self.trade_id = 5000
        self.port = 0
        # a snapshot must not slip between an update's seq bump and its fan-out
        self._book_lock = trio.Lock()

    async def serve(
        self, port: int = 0, *, task_status: trio.TaskStatus[FakeOkx] = trio.TASK_STATUS_IGNORED
    ) -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve_websocket, self._handle, "127.0.0.1", port, None)
            self.port = server.port
            task_status.started(self)

    def url(self, endpoint: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/v5/{endpoint}"

    def on(self, endpoint: str) -> list[FakeConn]:
        return [c for c in self.conns if c.endpoint == endpoint]

    async def _handle(self, request: WebSocketRequest) -> None:
        ws = await request.accept()
        conn = FakeConn(ws, request.path.rsplit("/", 1)[-1])
        self.conns.append(conn)
        try:
            while True:
                text = await ws.get_message()
                if text == "ping":
                    conn.received.append("ping")
                    if self.pong:
                        await conn.send("pong")
                    continue
                req = orjson.loads(text)
                conn.received.append(req)
                for arg in req["args"]:
                    await self._op(conn, req["op"], req.get("id"), arg)
        except ConnectionClosed:
            pass
        finally:
            conn.closed.set()

    async def _op(self, conn: FakeConn, op: str, req_id: str | None, arg: dict[str, str]) -> None:
        channel = arg["channel"]
        if op == "subscribe" and channel in self.refuse:
            code = self.refuse[channel]
            await conn.send({"id": req_id, "event": "error", "code": code, "msg": "refused"})
            return
        if not self.ack:
            return
        ack = {"id": req_id, "event": op, "arg": arg, "connId": "c0ffee01"}
        if op == "unsubscribe":
            conn.subs.discard(channel)
            await conn.send(ack)
            return
        async with self._book_lock:
            conn.subs.add(channel)  # before the ack: a client may act on the ack at once
            await conn.send(ack)
            if channel == "books" and self.snapshots:
                await self.send_snapshot(conn)

    async def send_snapshot(self, conn: FakeConn) -> None:
        await conn.send(self._book("snapshot", -1, self.seq))

    def _book(self, action: str, prev: int, seq: int) -> dict[str, Any]:
        row = {"asks": [], "bids": [], "ts": "1700000000000", "checksum": 0}
        return {
            "arg": {"channel": "books", "instId": INST},
            "action": action,
            "data": [{**row, "prevSeqId": prev, "seqId": seq}],
        }

    async def publish_book(self) -> None:
        async with self._book_lock:
            prev, self.seq = self.seq, self.seq + 7
            for conn in list(self.conns):
                if "books" in conn.subs:
                    await conn.send(self._book("update", prev, self.seq))

    async def publish_trade(self, channel: str = "trades-all") -> int:
        self.trade_id += 1
        row = {"instId": INST, "tradeId": str(self.trade_id), "px": "1", "sz": "1"}
        msg = {
            "arg": {"channel": channel, "instId": INST},
            "data": [{**row, "ts": "1700000000001"}],
        }
        for conn in list(self.conns):
            if channel in conn.subs:
                await conn.send(msg)
        return self.trade_id


@attrs.define(eq=False)
class Harness:
    actor: SocketActor
    fake: FakeOkx
    health: HealthReporter
    resubscribe: trio.MemorySendChannel[Resubscribe]
    paths: VaultPaths
    trades: list[TradeInbox] = attrs.field(factory=list)
    books: list[BookInbox] = attrs.field(factory=list)

    def events(self, out: list[Any]) -> list[tuple[str, int]]:
        return [(m.state, m.epoch) for m in out if isinstance(m, ConnectionEvent)]

    def quarantined(self) -> list[dict[str, Any]]:
        files = sorted((self.paths.root / "quarantine").rglob("*.jsonl"))
        return [orjson.loads(line) for f in files for line in f.read_bytes().splitlines()]


def make_config(fake: FakeOkx, **socket: Any) -> Config:
    trades_channel = socket.pop("trades_channel", "trades-all")
    settings = {
        "ping_after_s": 5.0,
        "pong_timeout_s": 5.0,
        "subscribe_timeout_s": 2.0,
        "reconnect_initial_s": 0.05,
        "reconnect_max_s": 0.2,
        "resubscribe_min_interval_s": 0.0,
        **socket,
    }
    return parse_config(
        {
            "instruments": [INST],
            "exchange": {
                "ws_public_url": fake.url("public"),
                "ws_business_url": fake.url("business"),
                "trades_channel": trades_channel,
            },
            "socket": settings,
        }
    )


@asynccontextmanager
async def running(tmp_path: Path, **socket: Any) -> AsyncIterator[Harness]:
    async with trio.open_nursery() as nursery:
        fake = await nursery.start(FakeOkx().serve)
        config = make_config(fake, **socket)
        trades_send, trades_recv = trio.open_memory_channel[TradeInbox](1000)
        book_send, book_recv = trio.open_memory_channel[BookInbox](1000)
        resub_send, resub_recv = trio.open_memory_channel[Resubscribe](10)
        paths = VaultPaths(tmp_path)
        health = null_reporter("socket", INST)
        quarantine = QuarantineLog(paths, INST)
        actor = SocketActor(INST, config, trades_send, book_send, resub_recv, quarantine, health)
        h = Harness(actor, fake, health, resub_send, paths)

        async def collect(recv: trio.MemoryReceiveChannel[Any], into: list[Any]) -> None:
            async for msg in recv:
                into.append(msg)

        nursery.start_soon(collect, trades_recv, h.trades)
        nursery.start_soon(collect, book_recv, h.books)
        nursery.start_soon(actor.run)
        yield h
        nursery.cancel_scope.cancel()
    quarantine.close()


async def wait_until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    with trio.fail_after(timeout):
        while not cond():
            await trio.sleep(0.01)
