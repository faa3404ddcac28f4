"""The simulator's REST side over real loopback HTTP (okx-protocol.md §2.3, §4, §7.8)."""

from __future__ import annotations

import httpx
import pytest
import trio

from rq_actors.sim.options import FaultOptions
from tests.helpers.sim import start_sim

BTC = "BTC-USDT-SWAP"
ETH = "ETH-USDT-SWAP"


async def test_instruments(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery, instruments=[BTC, ETH, "BTC-USDT"])
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        body = (await http.get("/api/v5/public/instruments", params={"instType": "SWAP"})).json()
        assert body["code"] == "0" and body["msg"] == ""
        assert [r["instId"] for r in body["data"]] == [BTC, ETH]
        btc = body["data"][0]
        assert (btc["ctVal"], btc["ctMult"], btc["ctType"], btc["tickSz"], btc["lotSz"]) == (
            "0.01", "1", "linear", "0.1", "0.01",
        )  # fmt: skip
        spot = {"instType": "SPOT", "instId": "BTC-USDT"}
        one = await http.get("/api/v5/public/instruments", params=spot)
        assert one.json()["data"][0]["ctType"] == ""
        missing = await http.get(
            "/api/v5/public/instruments", params={"instType": "SWAP", "instId": "FOO-USDT-SWAP"}
        )
        assert missing.status_code == 200
        assert missing.json() == {
            "code": "51001",
            "msg": "Instrument ID doesn't exist.",
            "data": [],
        }
        no_type = await http.get("/api/v5/public/instruments")
        assert no_type.json()["code"] == "50014"


async def test_trades_newest_first_same_ids_as_ws(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery, instruments=[BTC], trades_per_s=50)
    await trio.sleep(20)
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        rows = await http.get("/api/v5/market/trades", params={"instId": BTC, "limit": 800})
        data = rows.json()["data"]
    assert len(data) == 500
    assert set(data[0]) == {"instId", "tradeId", "px", "sz", "side", "source", "ts"}
    ids = [int(r["tradeId"]) for r in data]
    assert ids == sorted(ids, reverse=True) and ids[0] - ids[-1] == 499
    truth = {f.trade_id: f for f in sim.recorder.fills[BTC]}
    assert ids[0] == sim.recorder.fills[BTC][-1].trade_id
    for r in data:
        f = truth[int(r["tradeId"])]
        assert (f.px, f.sz, f.side, str(f.ts_ms)) == (r["px"], r["sz"], r["side"], r["ts"])


async def test_history_pagination_returns_every_fill_once(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery, instruments=[ETH], trades_per_s=40)
    await trio.sleep(30)
    sim.halt()  # freeze the tape so the walk has a fixed target
    truth = [f.trade_id for f in sim.recorder.fills[ETH]]
    assert len(truth) > 1000
    seen: list[int] = []
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        params: dict[str, str | int] = {"instId": ETH, "type": 1, "limit": 100}
        while True:
            page = (await http.get("/api/v5/market/history-trades", params=params)).json()["data"]
            if not page:
                break
            ids = [int(r["tradeId"]) for r in page]
            assert ids == sorted(ids, reverse=True) and len(ids) <= 100
            seen.extend(ids)
            params["after"] = ids[-1]
        assert sorted(seen) == truth and len(set(seen)) == len(seen)
        # forward with `before`: the ids right above the cursor, still newest first
        forward: list[int] = []
        cursor = truth[0] - 1
        while True:
            params = {"instId": ETH, "before": cursor, "limit": 100}
            page = (await http.get("/api/v5/market/history-trades", params=params)).json()["data"]
            if not page:
                break
            ids = [int(r["tradeId"]) for r in page]
            assert ids == list(range(cursor + len(ids), cursor, -1))
            forward.extend(ids)
            cursor = ids[0]
        assert sorted(forward) == truth
        capped = await http.get(
            "/api/v5/market/history-trades", params={"instId": ETH, "limit": 500}
        )
        assert len(capped.json()["data"]) == 100


async def test_books_seq_is_consistent_with_ws_truth(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery, instruments=[BTC])
    await trio.sleep(3)
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        for depth in (1, 25, 400):
            got = await http.get("/api/v5/market/books", params={"instId": BTC, "sz": depth})
            book = got.json()["data"][0]
            bids, asks = sim.recorder.true_book(BTC, book["seqId"], depth=depth)
            assert book["bids"] == bids and book["asks"] == asks and len(bids) == depth
            assert int(book["ts"]) == sim.recorder.book_log[BTC][-1].ts_ms
            await trio.sleep(0.35)
        bad = await http.get("/api/v5/market/books", params={"instId": "NOPE-USDT-SWAP"})
        assert bad.json()["code"] == "51001"


async def test_rate_limit_enforced(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery, instruments=[BTC], faults=FaultOptions(rest_rate_limit=True))
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        codes = []
        for _ in range(22):
            r = await http.get("/api/v5/market/history-trades", params={"instId": BTC})
            codes.append((r.status_code, r.json()["code"]))
        assert codes[:20] == [(200, "0")] * 20
        assert codes[20:] == [(429, "50011")] * 2
        # other endpoints have their own budget, and the window slides
        assert (await http.get("/api/v5/market/trades", params={"instId": BTC})).status_code == 200
        await trio.sleep(2.1)
        r = await http.get("/api/v5/market/history-trades", params={"instId": BTC})
        assert r.status_code == 200


async def test_rest_failure_modes(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery, instruments=[BTC])
    url = "/api/v5/market/trades"
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        sim.set_rest_failure("error")
        r = await http.get(url, params={"instId": BTC})
        assert (r.status_code, r.json()["code"]) == (500, "50001")
        sim.set_rest_failure("rate_limit")
        r = await http.get(url, params={"instId": BTC})
        assert (r.status_code, r.json()["code"]) == (429, "50011")
        sim.set_rest_failure("down")
        with pytest.raises(httpx.TransportError):
            await http.get(url, params={"instId": BTC})
        sim.set_rest_failure(None)
        r = await http.get(url, params={"instId": BTC})
        assert r.json()["code"] == "0"
    with pytest.raises(ValueError):
        sim.set_rest_failure("meltdown")


async def test_rest_error_prob(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery, instruments=[BTC], faults=FaultOptions(rest_error_prob=0.5))
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        statuses = [
            (await http.get("/api/v5/market/trades", params={"instId": BTC})).status_code
            for _ in range(40)
        ]
    assert 5 < statuses.count(500) < 35 and statuses.count(200) == 40 - statuses.count(500)
