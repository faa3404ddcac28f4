"""The simulator's WebSocket side over real loopback sockets (okx-protocol.md §1–§3, §7)."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from rq_actors.core.okx.checksum import book_checksum
from tests.helpers.sim import ClientBook, next_json, start_sim, subscribe

BTC = "BTC-USDT-SWAP"
ETH = "ETH-USDT-SWAP"


async def test_subscribe_acks_echo_id_then_snapshot(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery)
    async with open_websocket_url(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", BTC), ("trades", ETH), req_id="s1")
        first = await next_json(ws)
        assert first["id"] == "s1" and first["event"] == "subscribe"
        assert first["arg"] == {"channel": "books", "instId": BTC}
        conn_id = first["connId"]
        assert len(conn_id) == 8 and int(conn_id, 16) >= 0
        snap = await next_json(ws)
        assert snap["action"] == "snapshot" and snap["arg"]["instId"] == BTC
        assert snap["data"][0]["prevSeqId"] == -1 and len(snap["data"][0]["bids"]) == 400
        ack2 = await next_json(ws)
        assert ack2 == {
            "id": "s1", "event": "subscribe", "arg": {"channel": "trades", "instId": ETH},
            "connId": conn_id,
        }  # fmt: skip
        await subscribe(ws, ("trades", BTC))
        while (msg := await next_json(ws)).get("event") != "subscribe":
            pass
        assert "id" not in msg


@pytest.mark.parametrize(
    ("url_attr", "channel", "inst", "code"),
    [
        ("ws_public_url", "books", "FOO-USDT-SWAP", "60018"),
        ("ws_public_url", "trades-all", BTC, "60018"),
        ("ws_business_url", "books", BTC, "60018"),
        ("ws_business_url", "trades", BTC, "60018"),
        ("ws_public_url", "books-l2-tbt", BTC, "64003"),
    ],
)
async def test_refused_subscriptions_error_without_arg(
    autojump_clock, nursery, url_attr: str, channel: str, inst: str, code: str
) -> None:
    sim = await start_sim(nursery)
    async with open_websocket_url(getattr(sim, url_attr)) as ws:
        await subscribe(ws, (channel, inst), req_id="x9")
        err = await next_json(ws)
        assert err["event"] == "error" and err["code"] == code and err["id"] == "x9"
        assert "arg" not in err and len(err["connId"]) == 8
        if code == "60018":
            assert inst in err["msg"] and channel in err["msg"]
        # the connection stays up and serves the next (valid) subscription
        good = "trades-all" if url_attr == "ws_business_url" else "trades"
        await subscribe(ws, (good, ETH))
        ack = await next_json(ws)
        assert ack["event"] == "subscribe" and ack["arg"]["channel"] == good


async def test_invalid_requests(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery)
    async with open_websocket_url(sim.ws_public_url) as ws:
        await ws.send_message("{not json")
        err = await next_json(ws)
        assert err["code"] == "60012" and "arg" not in err and "id" not in err
        await ws.send_message(orjson.dumps({"id": "a1", "op": "subscribe", "args": []}).decode())
        err = await next_json(ws)
        assert (err["code"], err["id"]) == ("60012", "a1")
        await ws.send_message(orjson.dumps({"id": "a2", "op": "dance", "args": [{}]}).decode())
        err = await next_json(ws)
        assert (err["code"], err["id"]) == ("60019", "a2")


async def test_ping_pong(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery)
    async with open_websocket_url(sim.ws_public_url) as ws:
        await ws.send_message("ping")
        assert await ws.get_message() == "pong"


async def test_wrong_path_is_rejected(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery)
    with pytest.raises(ConnectionRejected):
        async with open_websocket_url(sim.ws_public_url.replace("public", "private")):
            pass


async def _collect_books(ws, client: ClientBook, count: int) -> list[dict]:
    frames = []
    while len(frames) < count:
        msg = await next_json(ws)
        if "data" in msg and msg["arg"]["channel"] == "books":
            assert client.apply(msg), "a books update did not link"
            frames.append(msg)
    return frames


async def test_independent_consumer_matches_true_book(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery, instruments=[BTC, ETH], seed=21)
    async with open_websocket_url(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", ETH))
        client = ClientBook()
        checked = 0
        frames = await _collect_books(ws, client, 0)
        for _ in range(6):
            frames = await _collect_books(ws, client, 40)
            seq = frames[-1]["data"][0]["seqId"]
            true_bids, true_asks = sim.recorder.true_book(ETH, seq)
            assert client.sorted_bids() == true_bids
            assert client.sorted_asks() == true_asks
            assert len(true_bids) == 400 and Decimal(true_bids[0][0]) < Decimal(true_asks[0][0])
            checked += 1
        assert checked == 6 and client.gaps == 0


async def test_nonzero_checksums_verify(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery, instruments=[BTC], nonzero_checksums=True)
    async with open_websocket_url(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", BTC))
        client = ClientBook()
        verified = 0
        while verified < 60:
            msg = await next_json(ws)
            if "data" not in msg:
                continue
            assert client.apply(msg)
            got = msg["data"][0]["checksum"]
            assert got != 0
            # every message, the snapshot included, verifies against the book it leaves
            assert got == book_checksum(client.sorted_bids(), client.sorted_asks())
            verified += 1


async def test_trades_and_trades_all_carry_the_same_fills(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery, instruments=[BTC], trades_per_s=40)
    agg: list[dict] = []
    per_fill: list[dict] = []
    async with (
        open_websocket_url(sim.ws_public_url) as pub,
        open_websocket_url(sim.ws_business_url) as bus,
    ):
        # Subscribe both before any market time passes, so both see the same trades.
        await subscribe(pub, ("trades", BTC))
        await subscribe(bus, ("trades-all", BTC))

        async def read(ws, out: list[dict], channel: str) -> None:
            while True:
                msg = await next_json(ws)
                if "data" in msg and msg["arg"]["channel"] == channel:
                    out.extend(msg["data"])

        async with trio.open_nursery() as readers:
            readers.start_soon(read, pub, agg, "trades")
            readers.start_soon(read, bus, per_fill, "trades-all")
            await trio.sleep(20)
            readers.cancel_scope.cancel()
    assert len(agg) > 300
    assert all("count" not in f and "seqId" not in f for f in per_fill)
    ids = [int(f["tradeId"]) for f in per_fill]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    by_id = {int(f["tradeId"]): f for f in per_fill}
    covered = 0
    for t in agg:
        last, count = int(t["tradeId"]), int(t["count"])
        group = [by_id[i] for i in range(last - count + 1, last + 1) if i in by_id]
        if len(group) < count:
            continue  # at the edges of the window one stream may hold only part of a group
        assert all(g["px"] == t["px"] and g["side"] == t["side"] for g in group)
        assert all(g["ts"] == t["ts"] for g in group)
        assert sum(Decimal(g["sz"]) for g in group) == Decimal(t["sz"])
        covered += count
    assert covered >= len(per_fill) - 20
    assert sum(int(t["count"]) for t in agg) >= len(per_fill) - 20
    assert any(int(t["count"]) > 1 for t in agg)
    # and both are exactly what the recorder says was published
    truth = {f.trade_id: f for f in sim.recorder.fills[BTC]}
    for f in per_fill:
        rec = truth[int(f["tradeId"])]
        assert (rec.px, rec.sz, rec.side, str(rec.ts_ms)) == (f["px"], f["sz"], f["side"], f["ts"])


async def test_unsubscribe_stops_pushes(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery, instruments=[BTC])
    async with open_websocket_url(sim.ws_public_url) as ws:
        await subscribe(ws, ("trades", BTC))
        assert (await next_json(ws))["event"] == "subscribe"
        assert "data" in await next_json(ws)
        req = {"id": "u1", "op": "unsubscribe", "args": [{"channel": "trades", "instId": BTC}]}
        await ws.send_message(orjson.dumps(req).decode())
        while (msg := await next_json(ws)).get("event") != "unsubscribe":
            pass
        assert msg["id"] == "u1" and msg["arg"] == {"channel": "trades", "instId": BTC}
        with trio.move_on_after(5):
            await ws.send_message("ping")
            assert await ws.get_message() == "pong"  # nothing else arrives in between


async def test_heartbeat_and_reset_keep_the_chain(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery, instruments=[ETH], heartbeat_s=5)
    async with open_websocket_url(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", ETH))
        client = ClientBook()
        await _collect_books(ws, client, 3)
        sim.halt(ETH)
        while client.heartbeats < 2:
            await _collect_books(ws, client, 1)
        sim.halt(ETH, halted=False)
        sim.inject_reset(ETH)
        while client.resets < 1:
            await _collect_books(ws, client, 1)
        await _collect_books(ws, client, 5)
        assert client.gaps == 0
        seq = client.last
        assert seq is not None
        assert (client.sorted_bids(), client.sorted_asks()) == sim.recorder.true_book(ETH, seq)


async def test_idle_connection_closed_with_4004(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery, idle_close_s=30)
    async with open_websocket_url(sim.ws_public_url) as ws:
        start = trio.current_time()
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await ws.get_message()
        assert info.value.reason.code == 4004
        assert 29 <= trio.current_time() - start <= 31
    # subscribed but on a frozen market, without pings: closed once nothing flowed for 30 s
    sim.halt()
    async with open_websocket_url(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", BTC))
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await ws.get_message()
        assert info.value.reason.code == 4004
    # pinging keeps the same connection alive well past the limit
    async with open_websocket_url(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", BTC))
        for _ in range(6):
            await trio.sleep(20)
            await ws.send_message("ping")
        assert not ws.closed
