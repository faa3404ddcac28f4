"""Shared helpers for the simulator tests: an independent OKX client-side book and a launcher.

Nothing here imports the simulator's own book code: the consumer is written from the protocol
document, so a bug in the generator cannot hide itself.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import trio
from trio_websocket import WebSocketConnection

from rq_actors.actors.runner import run_live
from rq_actors.actors.testing_hooks import TestHooks
from rq_actors.config import Config
from rq_actors.core.timefmt import MS_PER_MINUTE
from rq_actors.io.live_bus import LiveBus
from rq_actors.messages import Trade
from rq_actors.sim.events import TradeGroup
from rq_actors.sim.market import Market
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


def market_trades(
    inst_id: str,
    minutes: int,
    *,
    seed: int,
    start_ms: int,
    trades_per_s: float,
    book_interval_ms: int,
) -> list[Trade]:
    """`minutes` of the simulator's market for one instrument, as the trades it would publish
    (no sockets: for tests that need a realistic tape in a vault)."""
    market = Market(
        inst_id,
        seed=seed,
        start_ms=start_ms,
        trades_per_s=trades_per_s,
        book_interval_ms=book_interval_ms,
    )
    out: list[Trade] = []
    for ev in market.advance(minutes * MS_PER_MINUTE):
        if isinstance(ev, TradeGroup):
            out += [Trade(inst_id, f.trade_id, f.ts_ms, f.side, f.px, f.sz) for f in ev.fills]  # type: ignore[arg-type]
    return out


def fast_live_doc(root: Path, instruments: list[str], start_ms: int) -> dict[str, Any]:
    """A config document for a short live run against the embedded simulator, where one real
    second is one market minute (live == batch tests)."""
    return {
        "instruments": instruments,
        "vault": {"root": str(root)},
        "exchange": {"simulate": True},
        "simulator": {
            "seed": 11,
            "speed": 60.0,
            "trades_per_s": 3.0,
            "book_interval_ms": 5000,
            "start_ms": start_ms,
        },
        "book": {"snapshot_interval_s": 1.0},
        "health": {"interval_s": 1.0, "stderr": False},
    }


async def run_live_until(
    config: Config,
    ready: Callable[[], bool],
    *,
    hooks: TestHooks | None = None,
    bus: LiveBus | None = None,
    after_s: float = 0.0,
    guard_s: float = 120.0,
) -> None:
    """Run `rq-run`'s wiring until `ready()` holds (polled every 0.2 s), then `after_s` more,
    then stop it in order. A slow machine takes longer instead of ending with less; `guard_s`
    is a guard, not a target."""
    stop = trio.Event()
    with trio.fail_after(guard_s):
        async with trio.open_nursery() as n:
            await n.start(
                lambda task_status: run_live(
                    config,
                    handle_signals=False,
                    stop=stop,
                    hooks=hooks,
                    bus=bus,
                    task_status=task_status,
                )
            )
            while not ready():
                await trio.sleep(0.2)
            await trio.sleep(after_s)
            stop.set()
