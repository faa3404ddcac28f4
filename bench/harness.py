"""The live pipeline of `rq-run`, in process, fed with frame texts instead of WebSockets.

For every instrument the group is built by the project's own wiring
(`rq_actors.actors.group.build_group`, metadata through a stand-in REST client that answers
the instruments request from the corpus
sidecar) and its actors run unchanged: book, trade writer, and the CVD, VWAP and candles derived
actors. The retention actor is not started (one pass per 5 min; nothing to do in a short run).

The socket actor is built by its factory too, but no WebSocket is opened. Per endpoint a real
`Connection` object is made for its `_EndpointRunner` (so the switchboard, epochs and up/down
events are the actor's own) and subscribed by feeding it subscribe acks. From there frames
follow the code path of a live connection *after* `ws.get_message()`: the bench's feeder does
what `Connection._read_loop` does (puts `(text, monotonic_ns)` on the connection's bounded
queue), and the connection's own `_parse_loop` classifies, validates and routes each frame
(`classify` → `_handle_push` → `on_frame` → `emit` → the actor's output channels). The only glue
is that feeder, which replaces the socket read; it uses `await send` (back-pressure) where
`_read_loop` would drop the connection on a full queue, and counts how often that happened.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import trio

from rq_actors.actors._connection import Connection
from rq_actors.actors.book import BookActor
from rq_actors.actors.group import build_group
from rq_actors.actors.socket import _EPOCHS, SocketActor
from rq_actors.actors.trade_writer import TradeWriterActor
from rq_actors.config import Config, parse_config
from rq_actors.io.health import HealthLog, HealthReporter
from rq_actors.io.rest import TransientRestError
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import BookFrame, DurableTrades, TradeFrame
from rq_actors.supervisor import ActorSpec

Queue = trio.MemorySendChannel[tuple[str | bytes, int]]


class FakeRest:
    """Answers the instruments request from known rows; anything else is 'unreachable'."""

    def __init__(self, rows: dict[str, dict[str, Any]]) -> None:
        self._rows = rows

    async def instruments(self, inst_type: str, inst_id: str | None = None) -> list[Any]:
        return [r for i, r in self._rows.items() if inst_id in (None, i)]

    async def history_trades(self, *args: Any, **kwargs: Any) -> list[Any]:
        raise TransientRestError("history-trades", "network", "bench: no network")

    async def recent_trades(self, *args: Any, **kwargs: Any) -> list[Any]:
        raise TransientRestError("trades", "network", "bench: no network")


class Probes:
    """Latency probes: frame received → trades flushed to the vault, and → book updated.

    `received_ns` is the stamp the feeder put on the frame (what `_read_loop` stamps); samples
    are `(received_ns, latency_ns)` so a warm-up period can be told apart."""

    def __init__(self) -> None:
        self.trade_ns: list[tuple[int, int]] = []
        self.book_ns: list[tuple[int, int]] = []
        self._pending: dict[tuple[str, int], int] = {}

    def attach_book(self, actor: BookActor) -> None:
        original = actor._on_frame
        sink = self.book_ns

        def on_frame(frame: BookFrame) -> None:
            original(frame)
            sink.append((frame.received_ns, time.monotonic_ns() - frame.received_ns))

        actor._on_frame = on_frame  # type: ignore[method-assign]

    def attach_trades(self, actor: TradeWriterActor) -> None:
        original = actor._validate
        pending = self._pending

        def validate(frame: TradeFrame) -> list[Any]:
            trades = original(frame)
            for t in trades:
                pending[(t.inst_id, t.trade_id)] = frame.received_ns
            return trades

        actor._validate = validate  # type: ignore[method-assign]
        actor._feeds.append(_FlushProbe(self))  # offered right after the append + flush


class _FlushProbe:
    """A 'derived actor' that only notes when each trade became durable."""

    name = "bench-probe"
    lagging = False

    def __init__(self, probes: Probes) -> None:
        self._probes = probes

    def offer(self, batch: DurableTrades) -> bool:
        now = time.monotonic_ns()
        pending, out = self._probes._pending, self._probes.trade_ns
        for t in batch.trades:
            received = pending.pop((t.inst_id, t.trade_id), None)
            if received is not None:
                out.append((received, now - received))
        return True


def bench_config(instruments: list[str], vault: Path, trades_channel: str) -> Config:
    return parse_config(
        {
            "instruments": instruments,
            "vault": {"root": str(vault)},
            "exchange": {"trades_channel": trades_channel},
            "health": {"stderr": False, "interval_s": 3600},
        }
    )


_DERIVED = ("cvd", "vwap", "wicks")


class Pipeline:
    """Every instrument's actor group, started in `nursery`; `route()` gives a frame's queue."""

    def __init__(
        self,
        rows: dict[str, dict[str, Any]],
        vault: Path,
        *,
        trades_channel: str = "trades-all",
        probes: Probes | None = None,
        capture_only: bool = False,
    ) -> None:
        self.instruments = list(rows)
        self.capture_only = capture_only  # socket, book and trade writer; no derived actors
        self.config = bench_config(self.instruments, vault, trades_channel)
        self.paths = VaultPaths(vault)
        self.rest = FakeRest(rows)
        self.probes = probes
        self.health = HealthLog(None, stderr=None)
        self.reporters: list[HealthReporter] = []
        self.queues: dict[tuple[str, str], Queue] = {}  # (channel, instId) -> connection queue
        self.overflows = 0
        self._parse_done: dict[str, int] = {}

    def route(self, channel: str, inst_id: str) -> Queue | None:
        return self.queues.get((channel, inst_id))

    async def start(self, nursery: trio.Nursery) -> None:
        for inst in self.instruments:
            specs = await build_group(
                inst,
                self.health,
                config=self.config,
                paths=self.paths,
                rest=self.rest,  # type: ignore[arg-type]
            )
            for spec in specs:
                if spec.name == "retention" or (self.capture_only and spec.name in _DERIVED):
                    continue
                rep = self.health.reporter(spec.name, inst)
                self.reporters.append(rep)
                actor = spec.factory(rep)
                if isinstance(actor, SocketActor):
                    await self._connect(nursery, inst, actor, spec)
                    continue
                if self.probes is not None and isinstance(actor, BookActor):
                    self.probes.attach_book(actor)
                if self.capture_only and isinstance(actor, TradeWriterActor):
                    actor._feeds.clear()  # nobody reads them: offering would only drop
                if self.probes is not None and isinstance(actor, TradeWriterActor):
                    self.probes.attach_trades(actor)
                nursery.start_soon(_run_actor, actor, spec)
        # let the derived actors finish their (empty) vault replay before frames arrive
        await self.wait_running(() if self.capture_only else _DERIVED)

    async def wait_running(self, names: tuple[str, ...], timeout_s: float = 60.0) -> None:
        with trio.move_on_after(timeout_s):
            while any(r.actor in names and r.state != "running" for r in self.reporters):
                await trio.sleep(0.01)

    async def _connect(
        self, nursery: trio.Nursery, inst: str, actor: SocketActor, spec: ActorSpec
    ) -> None:
        self._parse_done[inst] = len(actor.endpoints)
        for endpoint in actor.endpoints:
            conn = Connection(
                owner=endpoint,
                endpoint=endpoint.name,
                url=endpoint._url,
                epoch=next(_EPOCHS),
                inst_id=inst,
                silence_s=endpoint.channels,
                book_channel=self.config.exchange.book_channel,
                settings=self.config.socket,
                quarantine=actor.quarantine,
                health=actor.health,
            )
            endpoint.active = conn
            send_q, recv_q = trio.open_memory_channel[tuple[str | bytes, int]](
                self.config.socket.queue_size
            )
            conn.table.start(trio.current_time())
            for channel in endpoint.channels:
                ack = {"event": "subscribe", "arg": {"channel": channel, "instId": inst}}
                await conn._handle(orjson.dumps(ack | {"connId": "bench"}).decode(), 0)
                self.queues[(channel, inst)] = send_q
            nursery.start_soon(self._parse, inst, conn, recv_q, spec)

    async def _parse(
        self,
        inst: str,
        conn: Connection,
        recv_q: trio.MemoryReceiveChannel[tuple[str | bytes, int]],
        spec: ActorSpec,
    ) -> None:
        await conn._parse_loop(recv_q)
        self._parse_done[inst] -= 1
        if self._parse_done[inst] == 0:  # the socket actor's outputs end, as on shutdown
            for channel in spec.closes:
                await channel.aclose()

    async def finish(self) -> None:
        """End of input: close every connection queue; the actors drain, flush and stop."""
        for queue in set(self.queues.values()):
            await queue.aclose()

    def counter(self, actor: str, name: str) -> int:
        return sum(r.counters.get(name, 0) for r in self.reporters if r.actor == actor)

    def errors(self) -> list[str]:
        return [f"{r.inst_id}/{r.actor}: {r.last_error}" for r in self.reporters if r.last_error]


async def _run_actor(actor: Any, spec: ActorSpec) -> None:
    try:
        await actor.run()
    finally:
        with trio.CancelScope(shield=True):
            for channel in spec.closes:
                await channel.aclose()


def counters(pipe: Pipeline) -> dict[str, int]:
    return {
        "book_frames": pipe.counter("book", "messages_in"),
        "snapshots_written": pipe.counter("book", "snapshots_written"),
        "trade_frames": pipe.counter("trade_writer", "messages_in"),
        "trades_written": pipe.counter("trade_writer", "trades_written"),
        "derived_records": sum(
            pipe.counter(a, "records_written") for a in ("cvd", "vwap", "wicks")
        ),
        "derived_lagged": sum(pipe.counter(a, "lagged") for a in ("cvd", "vwap", "wicks")),
        "quarantined": pipe.counter("socket", "quarantined")
        + pipe.counter("book", "quarantined")
        + pipe.counter("trade_writer", "quarantined"),
        "book_gaps": pipe.counter("book", "gaps"),
        "queue_overflows": pipe.overflows,
    }


def percentiles(samples_ns: list[int], since_ns: int | None = None) -> dict[str, float]:
    """p50 / p99 / max in milliseconds (nearest-rank). Samples may be `(stamp, value)` pairs;
    with `since_ns`, only those stamped at or after it count."""
    if samples_ns and isinstance(samples_ns[0], tuple):
        cut = since_ns if since_ns is not None else -1
        samples_ns = [v for stamp, v in samples_ns if stamp >= cut]  # type: ignore[misc]
    if not samples_ns:
        return {"n": 0, "p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    s = sorted(samples_ns)

    def rank(q: float) -> float:
        return s[min(len(s) - 1, int(q * len(s)))] / 1e6

    return {"n": len(s), "p50_ms": rank(0.50), "p99_ms": rank(0.99), "max_ms": s[-1] / 1e6}
