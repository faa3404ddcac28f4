"""Every fault control of the simulator, observed from a real loopback client."""

from __future__ import annotations

import orjson
import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from rq_actors.core.okx.checksum import book_checksum
from rq_actors.sim.options import FaultOptions
from tests.helpers.sim import ClientBook, next_json, start_sim, subscribe

BTC = "BTC-USDT-SWAP"
ETH = "ETH-USDT-SWAP"


async def _book_frames(ws, n: int) -> list[dict]:
    out = []
    while len(out) < n:
        msg = await next_json(ws)
        if "data" in msg and msg["arg"]["channel"] == "books":
            out.append(msg)
    return out


async def _closed_code(ws) -> int:
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await ws.get_message()
    return int(info.value.reason.code)


async def test_inject_gap_breaks_the_link_but_not_the_truth(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery, instruments=[ETH])
    async with open_websocket_url(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", ETH))
        client = ClientBook()
        for frame in await _book_frames(ws, 5):
            assert client.apply(frame)
        sim.inject_gap(ETH)
        frame = (await _book_frames(ws, 1))[0]
        assert not client.apply(frame)  # prevSeqId no longer links
        missing = frame["data"][0]["prevSeqId"]
        truth = [m.seq_id for m in sim.recorder.book_log[ETH]]
        assert missing in truth and truth[truth.index(missing) - 1] == client.last
        # the stream goes on linking after the hole
        assert client.gaps == 1


async def test_drop_connections_by_endpoint(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery)
    async with (
        open_websocket_url(sim.ws_public_url) as pub,
        open_websocket_url(sim.ws_business_url) as bus,
    ):
        await subscribe(pub, ("trades", BTC))
        await subscribe(bus, ("trades-all", BTC))
        await next_json(pub)
        await next_json(bus)
        sim.drop_connections("public")
        assert await _closed_code(pub) == 1006  # no close frame: abnormal closure
        await bus.send_message("ping")
        while (msg := await bus.get_message()) != "pong":
            assert orjson.loads(msg)["arg"]["channel"] == "trades-all"
        sim.drop_connections()
        assert await _closed_code(bus) == 1006


async def test_notice_then_close(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery)
    async with open_websocket_url(sim.ws_public_url) as ws:
        await subscribe(ws, ("trades", BTC))
        sim.send_notice(close_after_s=10)
        t0 = trio.current_time()
        while (msg := await next_json(ws)).get("event") != "notice":
            pass
        assert msg["code"] == "64008" and "arg" not in msg and len(msg["connId"]) == 8
        assert await _closed_code(ws) == 1006
        assert 9.9 <= trio.current_time() - t0 <= 11


async def test_send_malformed(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery)
    async with open_websocket_url(sim.ws_business_url) as ws:
        await subscribe(ws, ("trades-all", BTC))
        await next_json(ws)
        sim.send_malformed()
        bad = 0
        for _ in range(50):
            try:
                orjson.loads(await ws.get_message())
            except orjson.JSONDecodeError:
                bad += 1
        assert bad == 1


async def test_duplicate_next(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery, instruments=[BTC])
    async with open_websocket_url(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", BTC), ("trades", BTC))
        await _book_frames(ws, 2)
        sim.duplicate_next(BTC)
        seen: dict[str, list[str]] = {"books": [], "trades": []}
        while min(len(v) for v in seen.values()) < 4:
            raw = await ws.get_message()
            msg = orjson.loads(raw)
            if "data" in msg:
                seen[msg["arg"]["channel"]].append(raw)
        for frames in seen.values():
            assert frames[0] == frames[1] and frames[1] != frames[2] != frames[3]


async def test_send_unknown_inst(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery)
    async with open_websocket_url(sim.ws_business_url) as ws:
        await subscribe(ws, ("trades-all", BTC))
        await next_json(ws)
        sim.send_unknown_inst()
        while True:
            msg = await next_json(ws)
            if msg["data"][0]["instId"] != BTC:
                break
        assert msg["arg"]["channel"] == "trades-all"
        assert msg["data"][0]["instId"] not in sim.options.instruments


async def test_corrupt_next_checksum(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery, instruments=[BTC], nonzero_checksums=True)
    async with open_websocket_url(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", BTC))
        client = ClientBook()
        results = []
        for n in (4, 8):
            for frame in await _book_frames(ws, n):
                client.apply(frame)
                want = book_checksum(client.sorted_bids(), client.sorted_asks())
                results.append(frame["data"][0]["checksum"] == want)
            sim.corrupt_next_checksum(BTC)
        assert results.count(False) == 1 and not results[4]  # exactly the next update


async def test_pong_delay_and_silence(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery, instruments=[BTC])
    async with open_websocket_url(sim.ws_public_url) as ws:
        sim.set_pong_delay(5)
        t0 = trio.current_time()
        await ws.send_message("ping")
        assert await ws.get_message() == "pong"
        assert trio.current_time() - t0 >= 5
        sim.set_pong_delay(0)
        await subscribe(ws, ("trades", BTC))
        await next_json(ws)
        sim.set_silent(True)
        await trio.sleep(0.5)  # let frames already queued drain
        while True:
            with trio.move_on_after(3) as scope:
                await ws.get_message()
            if scope.cancelled_caught:
                break
        await ws.send_message("ping")
        assert await ws.get_message() == "pong"  # still answers pings
        sim.set_silent(True, pong=False)
        await ws.send_message("ping")
        with trio.move_on_after(10) as scope:
            await ws.get_message()
        assert scope.cancelled_caught
        sim.set_silent(False)
        assert "data" in await next_json(ws)


async def test_random_faults_from_options(autojump_clock, nursery) -> None:
    faults = FaultOptions(gap_prob=0.2, malformed_prob=0.05, duplicate_prob=0.05)
    sim = await start_sim(nursery, instruments=[ETH], faults=faults)
    async with open_websocket_url(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", ETH), ("trades", ETH))
        client = ClientBook()
        malformed = dupes = 0
        last = None
        for _ in range(400):
            raw = await ws.get_message()
            try:
                msg = orjson.loads(raw)
            except orjson.JSONDecodeError:
                malformed += 1
                continue
            dupes += raw == last
            last = raw
            if "data" in msg and msg["arg"]["channel"] == "books" and not client.apply(msg):
                client.last = msg["data"][0]["seqId"]  # resync on the spot, keep counting
        assert client.gaps >= 3 and malformed >= 3 and dupes >= 3


async def test_scheduled_disconnects_and_resets(autojump_clock, nursery) -> None:
    faults = FaultOptions(disconnect_every_s=5, reset_every_s=2)
    sim = await start_sim(nursery, instruments=[ETH], faults=faults)
    async with open_websocket_url(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", ETH))
        client = ClientBook()
        t0 = trio.current_time()
        with pytest.raises(ConnectionClosed):
            while True:
                msg = await next_json(ws)
                if "data" in msg:
                    assert client.apply(msg)
        assert trio.current_time() - t0 <= 5.01
        assert client.resets >= 1 and client.gaps == 0


async def test_full_send_queue_closes_with_4005(autojump_clock, nursery) -> None:
    # One request queues 6 frames at once (4 acks, 2 snapshots): more than 2 + 1 in flight.
    sim = await start_sim(nursery, instruments=[BTC, ETH], send_queue=2)
    async with open_websocket_url(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", BTC), ("books", ETH), ("trades", BTC), ("trades", ETH))
        assert await _closed_code(ws) == 4005


async def test_slow_client_does_not_stall_others(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery, instruments=[BTC], trades_per_s=100)
    async with (
        open_websocket_url(sim.ws_public_url) as sleeper,
        open_websocket_url(sim.ws_public_url) as reader,
    ):
        await subscribe(sleeper, ("books", BTC), ("trades", BTC))  # and never reads again
        await subscribe(reader, ("books", BTC))
        client = ClientBook()
        t0 = trio.current_time()
        frames = await _book_frames(reader, 300)
        for frame in frames:
            assert client.apply(frame)
        span_ms = int(frames[-1]["data"][0]["ts"]) - int(frames[1]["data"][0]["ts"])
        assert span_ms == pytest.approx((trio.current_time() - t0) * 1000, abs=300)
