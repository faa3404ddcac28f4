"""The socket actor against a small scripted OKX stand-in on loopback.

The stand-in (`FakeOkx`) does exactly what a test tells it, which makes protocol corner cases
(refused subscriptions, missing acks, silent pongs, a notice at a chosen moment) deterministic.
The end-to-end behaviour against the project's simulator is in `test_socket_sim.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import trio

from rq_actors.actors.socket import SocketActor
from rq_actors.io.health import null_reporter
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
from tests.helpers.fake_okx import (
    INST,
    FakeOkx,
    make_config,
    running,
    wait_until,
)


def _frames(out: list[Any], kind: type) -> list[Any]:
    return [m for m in out if isinstance(m, kind)]


async def test_subscribes_each_channel_with_an_id_and_routes_frames(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        await wait_until(lambda: h.health.state == "running")
        [pub] = h.fake.on("public")
        [bus] = h.fake.on("business")
        assert pub.ops("subscribe") == ["books"] and bus.ops("subscribe") == ["trades-all"]
        assert all(m["id"] and len(m["args"]) == 1 for c in (pub, bus) for m in c.received)
        tid = await h.fake.publish_trade()
        await h.fake.publish_book()
        await wait_until(lambda: len(_frames(h.trades, TradeFrame)) == 1)
        await wait_until(lambda: len(_frames(h.books, BookFrame)) == 2)

        [trade] = _frames(h.trades, TradeFrame)
        assert trade.channel == "trades-all" and trade.rows[0]["tradeId"] == str(tid)
        assert orjson.loads(trade.raw)["data"][0]["tradeId"] == str(tid)
        snap, upd = _frames(h.books, BookFrame)
        assert (snap.action, upd.action) == ("snapshot", "update")
        assert upd.rows[0]["prevSeqId"] == snap.rows[0]["seqId"]
        # `up` first, frames after, each with the epoch of its connection
        assert isinstance(h.trades[0], ConnectionEvent) and h.trades[0].endpoint == "business"
        assert isinstance(h.books[0], ConnectionEvent) and h.books[0].endpoint == "public"
        assert trade.epoch == h.trades[0].epoch and snap.epoch == h.books[0].epoch
        c = h.health.counters
        assert c["acks"] == 2 and c["frames_books"] == 2 and c["frames_trades_all"] == 1
        assert c["messages_in"] >= 5
        assert h.health.newest_event_ms == 1700000000001


async def test_aggregated_trades_share_the_public_connection(tmp_path: Path) -> None:
    async with running(tmp_path, trades_channel="trades") as h:
        await wait_until(lambda: h.health.state == "running")
        [pub] = h.fake.conns
        assert sorted(pub.ops("subscribe")) == ["books", "trades"]
        await h.fake.publish_trade("trades")
        await wait_until(lambda: len(_frames(h.trades, TradeFrame)) == 1)
        epoch = h.events(h.trades)[0][1]
        assert h.events(h.trades) == [("up", epoch)] and h.events(h.books) == [("up", epoch)]


async def test_refused_subscription_is_retried_on_the_same_connection(tmp_path: Path) -> None:
    async with running(tmp_path, trades_channel="trades") as h:
        h.fake.refuse["books"] = "60018"
        await wait_until(lambda: h.health.counters.get("subscribe_errors", 0) >= 2)
        assert h.health.last_error is not None and "60018" in h.health.last_error
        assert "books" in h.health.last_error
        await h.fake.publish_trade("trades")  # the other subscription works meanwhile
        await wait_until(lambda: len(_frames(h.trades, TradeFrame)) == 1)
        assert h.events(h.books) == []

        del h.fake.refuse["books"]
        await wait_until(lambda: h.health.state == "running")
        assert len(h.fake.conns) == 1  # the connection stayed up
        await wait_until(lambda: len(_frames(h.books, BookFrame)) == 1)
        assert h.events(h.books) == [("up", h.events(h.trades)[0][1])]
        assert h.health.counters["subscribe_retries"] >= 2


async def test_missing_ack_reconnects(tmp_path: Path) -> None:
    async with running(tmp_path, subscribe_timeout_s=0.2) as h:
        h.fake.ack = False
        await wait_until(lambda: len(h.fake.on("public")) >= 3)
        assert h.health.counters["subscribe_timeouts"] >= 2
        assert h.health.state == "starting"  # never was running
        h.fake.ack = True
        await wait_until(lambda: h.health.state == "running")
        assert h.health.counters["reconnects"] >= 2
        # no `up` was ever sent for the unsubscribed connections, so no `down` either
        assert [s for s, _ in h.events(h.books)] == ["up"]


async def test_ping_pong_keeps_a_quiet_connection(tmp_path: Path) -> None:
    async with running(tmp_path, ping_after_s=0.1, pong_timeout_s=0.3) as h:
        await wait_until(lambda: h.health.state == "running")
        await wait_until(lambda: all(c.received.count("ping") >= 3 for c in h.fake.conns))
        await wait_until(lambda: h.health.counters.get("pongs", 0) >= 6)
        assert len(h.fake.conns) == 2  # nothing reconnected
        assert h.health.counters["pings_sent"] >= 6
        assert h.health.counters.get("pong_timeouts", 0) == 0


async def test_no_pong_reconnects_with_a_new_epoch(tmp_path: Path) -> None:
    async with running(tmp_path, ping_after_s=0.1, pong_timeout_s=0.2) as h:
        await wait_until(lambda: h.health.state == "running")
        h.fake.pong = False
        await wait_until(lambda: len(h.fake.on("public")) >= 2)
        await h.fake.on("public")[0].closed.wait()
        h.fake.pong = True
        await wait_until(lambda: len(h.events(h.books)) >= 3)
        (up1, e1), (down, e1b), (up2, e2) = h.events(h.books)[:3]
        assert (up1, down, up2) == ("up", "down", "up") and e1 == e1b and e2 > e1
        down_ev = [m for m in h.books if isinstance(m, ConnectionEvent)][1]
        assert "pong" in down_ev.reason
        assert h.health.counters["pong_timeouts"] >= 1
        assert h.health.counters["reconnects"] >= 1


async def test_peer_close_sends_down_then_up_and_frames_keep_their_epoch(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        await wait_until(lambda: h.health.state == "running")
        first = await h.fake.publish_trade()
        await wait_until(lambda: len(_frames(h.trades, TradeFrame)) == 1)
        await h.fake.on("business")[0].ws.aclose(4006)
        await wait_until(lambda: len(h.events(h.trades)) == 3)
        second = await h.fake.publish_trade()
        await wait_until(lambda: len(_frames(h.trades, TradeFrame)) == 2)
        kinds = [
            (m.state, m.epoch)
            if isinstance(m, ConnectionEvent)
            else (m.rows[0]["tradeId"], m.epoch)
            for m in h.trades
        ]
        e1, e2 = kinds[0][1], kinds[3][1]
        assert kinds == [("up", e1), (str(first), e1), ("down", e1), ("up", e2), (str(second), e2)]
        assert e2 > e1
        assert h.events(h.books) == [("up", h.events(h.books)[0][1])]  # public untouched


async def test_resubscribe_requests_are_rate_limited_and_coalesced(tmp_path: Path) -> None:
    async with running(tmp_path, resubscribe_min_interval_s=0.5) as h:
        await wait_until(lambda: h.health.state == "running")
        [pub] = h.fake.on("public")
        start = trio.current_time()
        for _ in range(5):
            await h.resubscribe.send(Resubscribe(INST, "books", "gap"))
        await wait_until(lambda: len(pub.ops("unsubscribe")) == 1)
        await wait_until(lambda: len(pub.ops("unsubscribe")) == 2)
        assert trio.current_time() - start >= 0.5
        await trio.sleep(0.6)
        assert pub.ops("unsubscribe") == ["books", "books"]
        assert pub.ops("subscribe") == ["books"] * 3
        assert h.health.counters["resubscribes"] == 2
        assert h.health.counters["resubscribes_coalesced"] == 3
        # each resubscribe brought a fresh snapshot on the same connection, no new `up`
        snaps = [f for f in _frames(h.books, BookFrame) if f.action == "snapshot"]
        assert len(snaps) == 3 and len(h.fake.on("public")) == 1
        assert [s for s, _ in h.events(h.books)] == ["up"]
        await h.resubscribe.send(Resubscribe("ETH-USDT-SWAP", "books", "not mine"))
        await wait_until(lambda: "ignored" in (h.health.last_error or ""))


async def test_silent_subscription_is_resubscribed_not_reconnected(tmp_path: Path) -> None:
    async with running(tmp_path, book_silence_s=0.3) as h:
        await wait_until(lambda: h.health.counters.get("silence_resubscribes", 0) >= 1)
        [pub] = h.fake.on("public")
        await wait_until(lambda: len(pub.ops("subscribe")) == 2)
        assert pub.ops("unsubscribe") == ["books"]
        assert len(h.fake.conns) == 2
        # trades (watchdog off by default) were never touched
        assert h.fake.on("business")[0].ops("unsubscribe") == []


async def test_bad_frames_are_quarantined_and_capture_goes_on(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        await wait_until(lambda: h.health.state == "running")
        [bus] = h.fake.on("business")
        await bus.send("{not json")
        await bus.send({"arg": {"channel": "trades-all", "instId": "ETH-USDT-SWAP"}, "data": []})
        await bus.send({"arg": {"channel": "tickers", "instId": INST}, "data": []})
        await h.fake.on("public")[0].send(
            {"arg": {"channel": "books", "instId": INST}, "data": [{"seqId": 1}]}
        )
        tid = await h.fake.publish_trade()
        await wait_until(lambda: len(_frames(h.trades, TradeFrame)) == 1)
        await wait_until(lambda: h.health.counters.get("quarantined", 0) == 4)
        reasons = " | ".join(sorted(q["reason"] for q in h.quarantined()))
        for expected in ("malformed JSON", "ETH-USDT-SWAP", "tickers", "without action"):
            assert expected in reasons
        assert {q["raw"] for q in h.quarantined()} >= {"{not json"}
        assert _frames(h.trades, TradeFrame)[0].rows[0]["tradeId"] == str(tid)
        assert len(h.fake.conns) == 2


async def test_notice_switches_make_before_break(tmp_path: Path) -> None:
    async with running(tmp_path, trades_channel="trades") as h:
        await wait_until(lambda: h.health.state == "running")
        published: list[int] = []
        done = trio.Event()

        async def publisher() -> None:
            while not done.is_set():
                await h.fake.publish_book()
                published.append(await h.fake.publish_trade("trades"))
                await trio.sleep(0.005)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(publisher)
            await trio.sleep(0.1)
            old = h.fake.conns[0]
            await old.send({"event": "notice", "code": "64008", "msg": "upgrade", "connId": "x"})
            await old.closed.wait()  # the actor closes the old one itself once switched
            await trio.sleep(0.1)
            done.set()
        await trio.sleep(0.1)

        assert len(h.fake.conns) == 2
        assert h.health.counters["switches"] == 1
        epochs = [e for _, e in h.events(h.books)]
        assert [s for s, _ in h.events(h.books)] == ["up", "up"]  # no `down`
        assert [s for s, _ in h.events(h.trades)] == ["up", "up"] and epochs[1] > epochs[0]
        # one linked book stream, epoch switch exactly at the new snapshot
        frames = _frames(h.books, BookFrame)
        last_seq: int | None = None
        epoch = epochs[0]
        for f in frames:
            row = f.rows[0]
            if f.action == "snapshot":
                last_seq = row["seqId"]
                epoch = f.epoch
                continue
            assert f.epoch == epoch
            assert row["prevSeqId"] == last_seq
            last_seq = row["seqId"]
        assert [f.epoch for f in frames if f.action == "snapshot"] == epochs
        up2 = next(i for i, m in enumerate(h.books) if isinstance(m, ConnectionEvent) and i > 0)
        after = h.books[up2 + 1]
        assert isinstance(after, BookFrame) and after.action == "snapshot"
        assert after.epoch == epochs[1]
        # every published trade arrived at least once
        got = {int(f.rows[0]["tradeId"]) for f in _frames(h.trades, TradeFrame)}
        assert set(published) <= got


NOTICE = {"event": "notice", "code": "64008", "msg": "upgrade", "connId": "x"}


async def test_refused_replacement_is_retried_while_the_old_one_serves(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        await wait_until(lambda: h.health.state == "running")
        [old] = h.fake.on("public")
        h.fake.refuse["books"] = "60018"
        await old.send(NOTICE)
        await wait_until(lambda: len(h.fake.on("public")) >= 3)  # refused, retried
        await h.fake.publish_book()  # the old connection still delivers
        await wait_until(lambda: len(_frames(h.books, BookFrame)) == 2)
        assert not old.closed.is_set()
        del h.fake.refuse["books"]
        await old.closed.wait()
        await wait_until(lambda: len(h.events(h.books)) == 2)
        (s1, e1), (s2, e2) = h.events(h.books)
        assert (s1, s2) == ("up", "up") and e2 > e1
        assert h.health.counters["switches"] == 1
        assert h.health.state == "running"
        assert h.health.counters.get("reconnects", 0) == 0


async def test_old_connection_dying_before_the_switch(tmp_path: Path) -> None:
    async with running(tmp_path, trades_channel="trades") as h:
        await wait_until(lambda: h.health.state == "running")
        [old] = h.fake.conns
        h.fake.snapshots = False
        await old.send(NOTICE)
        await wait_until(
            lambda: len(h.fake.conns) == 2 and h.fake.conns[1].subs == {"books", "trades"}
        )
        new = h.fake.conns[1]
        # trades switched at the ack (both connections deliver); books wait for a snapshot
        await wait_until(lambda: len(h.events(h.trades)) == 2)
        await old.ws.aclose(4006)
        await wait_until(lambda: len(h.events(h.books)) == 2)
        (s1, e1), (s2, e2) = h.events(h.books)
        assert (s1, s2) == ("up", "down") and e1 == e2  # the book stream really stopped
        await h.fake.send_snapshot(new)
        await wait_until(lambda: len(h.events(h.books)) == 3)
        assert h.events(h.books)[2][0] == "up" and h.events(h.books)[2][1] > e1
        assert isinstance(h.books[-1], BookFrame) and h.books[-1].action == "snapshot"
        # trades never went down: the new connection was already current for them
        assert [s for s, _ in h.events(h.trades)] == ["up", "up"]
        assert len(h.fake.conns) == 2
        assert h.health.state == "running"


async def test_stopping_leaves_outputs_open_and_says_down(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        fake = await nursery.start(FakeOkx().serve)
        trades_send, trades_recv = trio.open_memory_channel[TradeInbox](100)
        book_send, book_recv = trio.open_memory_channel[BookInbox](100)
        _resub_send, resub_recv = trio.open_memory_channel[Resubscribe](10)
        health = null_reporter("socket", INST)
        quarantine = QuarantineLog(VaultPaths(tmp_path), INST)
        actor = SocketActor(
            INST, make_config(fake), trades_send, book_send, resub_recv, quarantine, health
        )
        async with trio.open_nursery() as inner:
            inner.start_soon(actor.run)
            await wait_until(lambda: health.state == "running")
            inner.cancel_scope.cancel()
        # the supervisor owns the channels: still open after the actor stopped
        trades_send.send_nowait(ConnectionEvent(INST, "business", 0, "down", "sentinel"))
        book_send.send_nowait(ConnectionEvent(INST, "public", 0, "down", "sentinel"))
        for recv in (trades_recv, book_recv):
            events: list[ConnectionEvent] = []
            while not events or events[-1].reason != "sentinel":
                msg = recv.receive_nowait()
                if isinstance(msg, ConnectionEvent):
                    events.append(msg)
            assert [(e.state, e.reason) for e in events] == [
                ("up", ""),
                ("down", "socket actor stopped"),
                ("down", "sentinel"),
            ]
            assert events[0].epoch == events[1].epoch
        nursery.cancel_scope.cancel()


async def test_never_gives_up_while_the_exchange_is_unreachable(tmp_path: Path) -> None:
    probe = trio.socket.socket()
    await probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    absent = FakeOkx()
    absent.port = port
    trades_send, trades_recv = trio.open_memory_channel[TradeInbox](100)
    book_send, _book_recv = trio.open_memory_channel[BookInbox](100)
    _resub_send, resub_recv = trio.open_memory_channel[Resubscribe](10)
    health = null_reporter("socket", INST)
    quarantine = QuarantineLog(VaultPaths(tmp_path), INST)
    actor = SocketActor(
        INST, make_config(absent), trades_send, book_send, resub_recv, quarantine, health
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor.run)
        await wait_until(lambda: health.counters.get("reconnects", 0) >= 6)
        assert health.state == "starting" and "connect" in (health.last_error or "")
        await nursery.start(absent.serve, port)  # the exchange comes back
        await wait_until(lambda: health.state == "running")
        event = trades_recv.receive_nowait()
        assert isinstance(event, ConnectionEvent) and event.state == "up"
        nursery.cancel_scope.cancel()
