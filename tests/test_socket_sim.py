"""The socket actor against the project's OKX simulator over real loopback sockets.

Both run on trio's `MockClock(autojump_threshold=0)`: loopback I/O inside one process is
complete by the time a send returns, so virtual minutes (keepalive, 90 s book watchdog, notice
switches) pass in milliseconds of wall time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import orjson
import trio
import trio.testing

from rq_actors.actors.socket import SocketActor
from rq_actors.config import parse_config
from rq_actors.io.health import HealthReporter, null_reporter
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.io.vault.quarantine import QuarantineLog
from rq_actors.messages import (
    BookFrame,
    BookInbox,
    ConnectionEvent,
    Resubscribe,
    TradeFrame,
    TradeInbox,
)
from rq_actors.sim.server import FaultOptions, SimOptions, Simulator

INST = "BTC-USDT-SWAP"


@attrs.define(eq=False)
class Run:
    sim: Simulator
    health: HealthReporter
    resubscribe: trio.MemorySendChannel[Resubscribe]
    paths: VaultPaths
    trades: list[TradeInbox] = attrs.field(factory=list)
    books: list[BookInbox] = attrs.field(factory=list)

    def trade_frames(self) -> list[TradeFrame]:
        return [m for m in self.trades if isinstance(m, TradeFrame)]

    def book_frames(self) -> list[BookFrame]:
        return [m for m in self.books if isinstance(m, BookFrame)]

    def trade_ids(self) -> list[int]:
        return [int(row["tradeId"]) for f in self.trade_frames() for row in f.rows]

    def published_ids(self) -> list[int]:
        return [fill.trade_id for fill in self.sim.recorder.fills[INST]]

    def events(self, out: list[Any]) -> list[ConnectionEvent]:
        return [m for m in out if isinstance(m, ConnectionEvent)]

    def states(self, out: list[Any]) -> list[str]:
        return [e.state for e in self.events(out)]

    def quarantined(self) -> list[dict[str, Any]]:
        files = sorted((self.paths.root / "quarantine").rglob("*.jsonl"))
        return [orjson.loads(line) for f in files for line in f.read_bytes().splitlines()]

    async def wait(self, cond: Callable[[], bool], timeout: float = 120.0) -> None:
        with trio.fail_after(timeout):
            while not cond():
                await trio.sleep(0.05)

    async def running(self) -> None:
        await self.wait(lambda: self.health.state == "running")


@asynccontextmanager
async def actor_on_sim(
    tmp_path: Path,
    *,
    sim_options: SimOptions | None = None,
    trades_channel: str = "trades-all",
    **socket: Any,
) -> AsyncIterator[Run]:
    options = sim_options or SimOptions(seed=1, instruments=[INST])
    async with trio.open_nursery() as nursery:
        sim: Simulator = await nursery.start(Simulator(options).serve)
        config = parse_config(
            {
                "instruments": [INST],
                "exchange": {
                    "ws_public_url": sim.ws_public_url,
                    "ws_business_url": sim.ws_business_url,
                    "rest_url": sim.rest_url,
                    "trades_channel": trades_channel,
                },
                "socket": {"reconnect_initial_s": 0.5, "reconnect_max_s": 5.0, **socket},
            }
        )
        trades_send, trades_recv = trio.open_memory_channel[TradeInbox](10_000)
        book_send, book_recv = trio.open_memory_channel[BookInbox](10_000)
        resub_send, resub_recv = trio.open_memory_channel[Resubscribe](10)
        paths = VaultPaths(tmp_path)
        health = null_reporter("socket", INST)
        actor = SocketActor(
            INST, config, trades_send, book_send, resub_recv, QuarantineLog(paths, INST), health
        )
        run = Run(sim, health, resub_send, paths)

        async def collect(recv: trio.MemoryReceiveChannel[Any], into: list[Any]) -> None:
            async for msg in recv:
                into.append(msg)

        nursery.start_soon(collect, trades_recv, run.trades)
        nursery.start_soon(collect, book_recv, run.books)
        nursery.start_soon(actor.run)
        yield run
        nursery.cancel_scope.cancel()
        # the supervisor owns the output channels: the actor must not have closed them
        trades_send.send_nowait(ConnectionEvent(INST, "public", 0, "down"))
        book_send.send_nowait(ConnectionEvent(INST, "public", 0, "down"))


def assert_linked_book_stream(frames: list[BookFrame]) -> None:
    """Every update links to the frame before it; a snapshot starts a new chain."""
    assert frames and frames[0].action == "snapshot"
    last: int | None = None
    for f in frames:
        for row in f.rows:
            if f.action == "snapshot":
                assert row["prevSeqId"] == -1
            else:
                assert row["prevSeqId"] == last, f"broken chain at seqId {row['seqId']}"
            last = row["seqId"]


def assert_no_missing_trades(run: Run) -> None:
    """Every fill the exchange published between the first and the last one received arrived."""
    got = set(run.trade_ids())
    published = run.published_ids()
    lo, hi = min(got), max(got)
    window = [t for t in published if lo <= t <= hi]
    assert set(window) <= got, f"missing {sorted(set(window) - got)[:10]}"


async def test_subscribe_ack_and_exact_stream(tmp_path: Path, autojump_clock: Any) -> None:
    async with actor_on_sim(tmp_path) as run:
        await run.running()
        await trio.sleep(30)
        assert run.states(run.trades) == ["up"] and run.states(run.books) == ["up"]
        assert run.events(run.trades)[0].endpoint == "business"
        assert run.events(run.books)[0].endpoint == "public"
        ids = run.trade_ids()
        assert len(ids) > 300
        published = run.published_ids()
        start = published.index(ids[0])
        assert ids == published[start : start + len(ids)]  # in order, nothing lost or added
        assert_linked_book_stream(run.book_frames())
        assert run.health.counters["acks"] == 2
        assert run.health.counters.get("reconnects", 0) == 0
        assert run.health.lag_ms() is not None


async def test_keepalive_ping_pong_then_slow_pong_reconnects(
    tmp_path: Path, autojump_clock: Any
) -> None:
    async with actor_on_sim(tmp_path) as run:
        await run.running()
        run.sim.set_silent(True, pong=True)  # open but quiet: only pings keep it alive
        await trio.sleep(65)
        assert run.health.counters["pongs"] >= 4  # ~every 20 s on both connections
        assert run.health.counters.get("reconnects", 0) == 0
        assert run.states(run.books) == ["up"]

        run.sim.set_pong_delay(15)  # > pong_timeout_s (10)
        await run.wait(lambda: run.health.counters.get("pong_timeouts", 0) >= 2)
        run.sim.set_pong_delay(0)
        run.sim.set_silent(False)
        await run.wait(lambda: run.states(run.books)[-1:] == ["up"] and len(run.books) > 3)
        await run.running()
        for out in (run.trades, run.books):
            events = run.events(out)
            assert [e.state for e in events[:3]] == ["up", "down", "up"]
            assert events[2].epoch > events[0].epoch == events[1].epoch
            assert "pong" in events[1].reason


async def test_abrupt_close_reconnects_with_new_epoch(tmp_path: Path, autojump_clock: Any) -> None:
    async with actor_on_sim(tmp_path) as run:
        await run.running()
        await trio.sleep(5)
        run.sim.drop_connections()
        await run.wait(lambda: run.states(run.trades) == ["up", "down", "up"])
        await run.wait(lambda: run.states(run.books) == ["up", "down", "up"])
        await trio.sleep(5)
        assert run.health.counters["reconnects"] == 2
        assert run.health.state == "running"
        for out in (run.trades, run.books):
            up1, down, up2 = run.events(out)
            assert up1.epoch == down.epoch < up2.epoch
            # every frame sits between the up and down of its own epoch
            epoch = None
            for m in out:
                if isinstance(m, ConnectionEvent):
                    epoch = m.epoch if m.state == "up" else None
                else:
                    assert m.epoch == epoch
        assert len({f.epoch for f in run.trade_frames()}) == 2


async def test_notice_make_before_break_loses_nothing(tmp_path: Path, autojump_clock: Any) -> None:
    async with actor_on_sim(tmp_path) as run:
        await run.running()
        await trio.sleep(10)
        run.sim.send_notice(close_after_s=30)
        await run.wait(lambda: run.health.counters.get("switches", 0) == 2)  # both endpoints
        await trio.sleep(10)  # well before the exchange's forced close at +30 s
        assert len(run.sim.connections) == 2  # the old ones were closed by the actor
        await trio.sleep(25)
        for out in (run.trades, run.books):
            up1, up2 = run.events(out)  # no `down` for a make-before-break switch
            assert (up1.state, up2.state) == ("up", "up") and up2.epoch > up1.epoch
        assert run.health.counters.get("reconnects", 0) == 0
        assert_no_missing_trades(run)
        frames = run.book_frames()
        assert_linked_book_stream(frames)
        snapshots = [f for f in frames if f.action == "snapshot"]
        assert [s.epoch for s in snapshots] == [e.epoch for e in run.events(run.books)]
        # the new epoch's `up` is followed at once by its snapshot
        up2_at = run.books.index(run.events(run.books)[1])
        assert run.books[up2_at + 1] == snapshots[1]


async def test_notice_switch_with_aggregated_trades(tmp_path: Path, autojump_clock: Any) -> None:
    async with actor_on_sim(tmp_path, trades_channel="trades") as run:
        await run.running()
        await trio.sleep(5)
        run.sim.send_notice(close_after_s=30)
        await run.wait(lambda: run.health.counters.get("switches", 0) == 1)
        await trio.sleep(40)
        assert run.states(run.trades) == ["up", "up"] and run.states(run.books) == ["up", "up"]
        assert_linked_book_stream(run.book_frames())
        got = set(run.trade_ids())  # aggregated: the group's last fill id
        assert got and {f.channel for f in run.trade_frames()} == {"trades"}


async def test_silent_open_socket_is_recovered(tmp_path: Path, autojump_clock: Any) -> None:
    async with actor_on_sim(tmp_path) as run:
        await run.running()
        run.sim.set_silent(True, pong=True)  # pongs keep the socket "alive"; the data is gone
        await run.wait(lambda: run.health.counters.get("silence_resubscribes", 0) >= 1)
        assert trio.current_time() > 90  # book_silence_s
        run.sim.set_silent(False)
        await run.wait(
            lambda: run.states(run.books)[-1:] == ["up"] and len(run.states(run.books)) > 1
        )
        await run.running()
        before = len(run.book_frames())
        await trio.sleep(5)
        assert len(run.book_frames()) > before
        assert run.states(run.books)[:2] == ["up", "down"]  # the resubscribe got no ack


async def test_subscription_watchdog(tmp_path: Path, autojump_clock: Any) -> None:
    # books heartbeat every 60 s while nothing changes: a quiet market is not a failure
    quiet = SimOptions(seed=2, instruments=[INST], heartbeat_s=60)
    async with actor_on_sim(tmp_path, sim_options=quiet, book_silence_s=90) as run:
        await run.running()
        run.sim.halt(INST)
        await trio.sleep(200)
        assert run.health.counters.get("silence_resubscribes", 0) == 0
    # without heartbeats the silent subscription alone is resubscribed, the socket stays
    dead = SimOptions(seed=2, instruments=[INST], heartbeat_s=1000)
    async with actor_on_sim(tmp_path, sim_options=dead, book_silence_s=90) as run:
        await run.running()
        run.sim.halt(INST)
        await trio.sleep(200)
        assert run.health.counters["silence_resubscribes"] == 2
        assert run.health.counters.get("reconnects", 0) == 0
        assert run.states(run.books) == ["up"]
        assert [f.action for f in run.book_frames()].count("snapshot") == 3


async def test_resubscribe_rate_limit(tmp_path: Path, autojump_clock: Any) -> None:
    async with actor_on_sim(tmp_path, resubscribe_min_interval_s=5) as run:
        await run.running()
        t0 = trio.current_time()
        for _ in range(4):
            await run.resubscribe.send(Resubscribe(INST, "books", "gap"))
        await trio.sleep(7)
        for _ in range(3):
            await run.resubscribe.send(Resubscribe(INST, "books", "gap"))
        await trio.sleep(20)
        snapshots = [f for f in run.book_frames() if f.action == "snapshot"]
        # first subscribe + at t0, t0+5, t0+10: three resubscribes for seven requests
        assert len(snapshots) == 4
        assert run.health.counters["resubscribes"] == 3
        assert run.health.counters["resubscribes_coalesced"] == 4
        times = [s.received_ns for s in snapshots[1:]]
        assert times == sorted(times)
        assert trio.current_time() - t0 >= 27
        assert_linked_book_stream(run.book_frames())
        assert run.states(run.books) == ["up"]


async def test_bad_frames_quarantined_capture_continues(
    tmp_path: Path, autojump_clock: Any
) -> None:
    options = SimOptions(seed=3, instruments=[INST], faults=FaultOptions(malformed_prob=0.01))
    async with actor_on_sim(tmp_path, sim_options=options) as run:
        await run.running()
        await trio.sleep(2)
        run.sim.send_malformed()
        run.sim.send_unknown_inst()
        await trio.sleep(30)
        reasons = [q["reason"] for q in run.quarantined()]
        assert any("malformed JSON" in r for r in reasons)
        assert any("XYZ-USDT-SWAP" in r for r in reasons)
        assert run.health.counters["quarantined"] == len(reasons) >= 4
        assert run.health.counters.get("reconnects", 0) == 0
        assert_no_missing_trades(run)
        assert_linked_book_stream(run.book_frames())
