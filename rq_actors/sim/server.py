"""The local OKX simulator: WebSocket (public, business) and REST on loopback.

Everything is scheduled on trio time, so `trio.testing.MockClock(autojump_threshold=0)` runs it
as fast as the CPU allows. Market time is `start_ms + (trio time − t0) × 1000 × speed`.
"""

from __future__ import annotations

import random
import time
import zlib
from typing import Any

import trio
from trio_websocket import WebSocketRequest, WebSocketServer

from rq_actors.sim.events import BookMessage, TradeGroup
from rq_actors.sim.faults import WireFaults
from rq_actors.sim.frames import new_conn_id
from rq_actors.sim.history import FillHistory
from rq_actors.sim.http11 import serve_http
from rq_actors.sim.hub import WsHub
from rq_actors.sim.market import Market
from rq_actors.sim.options import FaultOptions, SimOptions
from rq_actors.sim.recorder import Recorder
from rq_actors.sim.restapi import REST_FAILURE_MODES, RestApi
from rq_actors.sim.wsconn import WsConn

__all__ = ["FaultOptions", "SimOptions", "Simulator"]

_PATHS = {"/ws/v5/public": "public", "/ws/v5/business": "business"}
_LIST_TIME_MS = 1_573_557_408_000


class _TrackingListener(trio.abc.Listener[trio.SocketStream]):
    """Remembers each accepted stream by peer address, so a connection can be cut abruptly."""

    def __init__(self, inner: trio.SocketListener) -> None:
        self.inner = inner
        self.streams: dict[tuple[str, int], trio.SocketStream] = {}

    async def accept(self) -> trio.SocketStream:
        stream = await self.inner.accept()
        # Forget streams whose handshake never reached the handler (their socket is closed).
        for key in [k for k, v in self.streams.items() if v.socket.fileno() == -1]:
            del self.streams[key]
        try:
            peer = stream.socket.getpeername()
            self.streams[(str(peer[0]), int(peer[1]))] = stream
        except OSError:
            pass
        return stream

    async def aclose(self) -> None:
        await self.inner.aclose()


class Simulator:
    def __init__(self, options: SimOptions | None = None) -> None:
        self.options = options or SimOptions()
        self._recorder = Recorder(self.options.record_limit)
        self._history = FillHistory(self.options.history_limit)
        self._fault_rng = random.Random(self.options.seed * 7919 + 17)
        self._wire = WireFaults(self.options.faults, self._fault_rng)
        self.markets: dict[str, Market] = {}
        self._hub: WsHub | None = None
        self._rest: RestApi | None = None
        self._nursery: trio.Nursery | None = None
        self._ws_url = self._rest_url = ""
        self._t0 = 0.0
        self._start_ms = 0
        self._next_reset_ms: int | None = None
        self._ws_listener: _TrackingListener | None = None

    # ---- properties valid after start ----------------------------------------------------

    @property
    def ws_public_url(self) -> str:
        return f"{self._ws_url}/ws/v5/public"

    @property
    def ws_business_url(self) -> str:
        return f"{self._ws_url}/ws/v5/business"

    @property
    def rest_url(self) -> str:
        return self._rest_url

    @property
    def recorder(self) -> Recorder:
        return self._recorder

    @property
    def start_ms(self) -> int:
        return self._start_ms

    def market_now_ms(self) -> int:
        """Current market (event) time in ms."""
        elapsed = (trio.current_time() - self._t0) * 1000.0 * self.options.speed
        return self._start_ms + int(elapsed + 1e-6)

    # ---- serving -------------------------------------------------------------------------

    async def serve(
        self,
        *,
        host: str = "127.0.0.1",
        ws_port: int = 0,
        rest_port: int = 0,
        task_status: trio.TaskStatus[Simulator] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        opts = self.options
        ws_listener = _TrackingListener((await trio.open_tcp_listeners(ws_port, host=host))[0])
        rest_listeners = await trio.open_tcp_listeners(rest_port, host=host)
        self._t0 = trio.current_time()
        self._start_ms = opts.start_ms if opts.start_ms is not None else int(time.time() * 1000)
        self._create_markets()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._hub = WsHub(
                self.markets,
                self._wire,
                idle_close_s=opts.idle_close_s,
                pong_delay_s=opts.faults.pong_delay_s,
                pump=self._pump,
                spawn=nursery.start_soon,
            )
            self._rest = RestApi(
                {m.inst_id: m.spec for m in self.markets.values()},
                self._history,
                lambda inst, depth: self.markets[inst].snapshot(depth),
                list_time_ms=_LIST_TIME_MS,
                rng=self._fault_rng,
                error_prob=opts.faults.rest_error_prob,
                rate_limit=opts.faults.rest_rate_limit,
                clock=trio.current_time,
            )
            server = WebSocketServer(
                self._ws_handler,
                [ws_listener],  # type: ignore[list-item]
                handler_nursery=nursery,
                connect_timeout=10,
                disconnect_timeout=5,
            )
            await nursery.start(server.run)
            await nursery.start(serve_http, rest_listeners, self._rest_handler)
            ws_addr = ws_listener.inner.socket.getsockname()
            rest_addr = rest_listeners[0].socket.getsockname()
            self._ws_url = f"ws://{_host(ws_addr[0])}:{ws_addr[1]}"
            self._rest_url = f"http://{_host(rest_addr[0])}:{rest_addr[1]}"
            self._ws_listener = ws_listener
            self._pump()
            nursery.start_soon(self._clock)
            self._start_fault_schedules(nursery)
            task_status.started(self)

    def _create_markets(self) -> None:
        opts = self.options
        if opts.faults.reset_every_s:
            self._next_reset_ms = self._start_ms + int(opts.faults.reset_every_s * 1000)
        for inst_id in opts.instruments:
            # Each instrument gets its own stream; adding one never changes another's data.
            seed = opts.seed * 1_000_003 + zlib.crc32(inst_id.encode())
            self.markets[inst_id] = Market(
                inst_id,
                seed=seed,
                start_ms=self._start_ms,
                trades_per_s=opts.trades_per_s,
                book_interval_ms=opts.book_interval_ms,
                vol_scale=opts.vol_scale,
                heartbeat_ms=int(opts.heartbeat_s * 1000),
                checksums=opts.nonzero_checksums,
                id_origin=opts.id_origin,
            )

    def _pump(self) -> None:
        """Advance every market to now and publish what happened. Never blocks."""
        now_ms = self.market_now_ms()
        if self._next_reset_ms is not None and now_ms >= self._next_reset_ms:
            for market in self.markets.values():
                market.trigger_reset()
            period = max(1, int((self.options.faults.reset_every_s or 1) * 1000))
            while self._next_reset_ms <= now_ms:
                self._next_reset_ms += period
        hub = self._hub
        for market in self.markets.values():
            for event in market.advance_to(now_ms):
                self._recorder.record(event)
                if isinstance(event, TradeGroup):
                    self._history.add(event.fills)
                if hub is not None:
                    hub.publish(event)

    def _trio_time_for(self, market_ms: int) -> float:
        return self._t0 + (market_ms - self._start_ms) / (1000.0 * self.options.speed)

    async def _clock(self) -> None:
        while True:
            self._pump()
            next_ms = min(m.next_event_ms() for m in self.markets.values())
            if self._next_reset_ms is not None:
                next_ms = min(next_ms, self._next_reset_ms)
            target = self._trio_time_for(next_ms)
            now = trio.current_time()
            # Guard against float rounding leaving the target a hair in the past (a busy loop).
            await trio.sleep_until(max(target, now + 1e-6))

    def _start_fault_schedules(self, nursery: trio.Nursery) -> None:
        faults = self.options.faults
        if faults.disconnect_every_s:
            nursery.start_soon(self._every, faults.disconnect_every_s, self.drop_connections)
        if faults.notice_every_s:
            nursery.start_soon(self._every, faults.notice_every_s, self.send_notice)

    async def _every(self, period: float, action: Any) -> None:
        while True:
            await trio.sleep(period)
            action()

    async def _ws_handler(self, request: WebSocketRequest) -> None:
        path = request.path.split("?", 1)[0]
        endpoint = _PATHS.get(path)
        remote = request.remote
        stream = None
        if not isinstance(remote, str) and self._ws_listener is not None:
            stream = self._ws_listener.streams.pop((str(remote.address), remote.port), None)
        if endpoint is None:
            await request.reject(404, body=b"Not Found")
            return
        ws = await request.accept()
        hub = self._require_hub()
        conn = WsConn(
            ws,
            hub=hub,
            endpoint=endpoint,
            conn_id=new_conn_id(self._fault_rng),
            stream=stream,
            queue_size=self.options.send_queue,
        )
        hub.register(conn)
        await conn.run()

    def _rest_handler(self, method: str, target: str, client: str) -> tuple[int, bytes] | None:
        self._pump()
        assert self._rest is not None
        return self._rest.handle(method, target, client)

    def _require_hub(self) -> WsHub:
        if self._hub is None:
            raise RuntimeError("the simulator is not serving yet")
        return self._hub

    def _market(self, inst_id: str) -> Market:
        try:
            return self.markets[inst_id]
        except KeyError:
            raise KeyError(f"{inst_id} is not a simulated instrument") from None

    # ---- fault controls (sync; they act at the next opportunity) --------------------------

    def drop_connections(self, endpoint: str | None = None) -> None:
        """Cut every (or every public/business) connection without a close frame."""
        self._require_hub().drop(endpoint)

    def send_notice(self, close_after_s: float | None = None) -> None:
        """64008 to every connection, then an abrupt close after the delay."""
        delay = self.options.faults.notice_close_after_s if close_after_s is None else close_after_s
        self._require_hub().notice(delay)

    def inject_gap(self, inst_id: str) -> None:
        """The next sequence-moving books update is not sent to anyone (the truth keeps it)."""
        self._market(inst_id)
        self._wire.inject_gap(inst_id)

    def inject_reset(self, inst_id: str) -> None:
        """The next books message is a sequence reset (`seqId < prevSeqId`)."""
        self._market(inst_id).trigger_reset()

    def corrupt_next_checksum(self, inst_id: str) -> None:
        self._market(inst_id)
        self._wire.corrupt_next_checksum(inst_id)

    def send_malformed(self) -> None:
        """A truncated, non-JSON frame to every connection."""
        self._require_hub().send_malformed()

    def duplicate_next(self, inst_id: str) -> None:
        """The next books, trades and trades-all frames of `inst_id` are each sent twice."""
        self._market(inst_id)
        self._wire.duplicate_next(inst_id)

    def send_unknown_inst(self) -> None:
        """A trade push for an instId nobody subscribed to, to every subscribed connection."""
        self._require_hub().send_unknown_inst()

    def set_pong_delay(self, seconds: float) -> None:
        self._require_hub().pong_delay_s = seconds

    def set_silent(self, silent: bool, pong: bool = True) -> None:
        """Keep sockets open but send nothing (pongs still answered when `pong`)."""
        hub = self._require_hub()
        hub.silent = silent
        hub.silent_pong = pong

    def set_rest_failure(self, mode: str | None) -> None:
        if mode not in REST_FAILURE_MODES:
            raise ValueError(f"REST failure mode must be one of {REST_FAILURE_MODES}")
        assert self._rest is not None, "the simulator is not serving yet"
        self._rest.failure_mode = mode

    def halt(self, inst_id: str | None = None, halted: bool = True) -> None:
        """Freeze a market (no trades, no book changes): books then only heartbeat."""
        for market in [self._market(inst_id)] if inst_id else self.markets.values():
            market.halted = halted

    @property
    def connections(self) -> list[WsConn]:
        return list(self._require_hub().conns)

    def snapshot(self, inst_id: str, depth: int = 400) -> BookMessage:
        return self._market(inst_id).snapshot(depth)


def _host(addr: str) -> str:
    return f"[{addr}]" if ":" in addr else addr
