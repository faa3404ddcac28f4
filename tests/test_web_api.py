"""The dashboard's HTTP API over real loopback HTTP (hypercorn + the app, httpx as the client):
history endpoints equal the vault files, paging walks back through every record, bad and
oversized queries are refused, unknown instIds never reach a path, and /metrics parses."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from rq_actors.config import Config
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.web.health_view import FileHealth
from tests.helpers.web import INST, OTHER, build_demo_vault, start_web, stream_records


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return build_demo_vault(tmp_path_factory.mktemp("web") / "vault")


def _health(config: Config) -> FileHealth:
    return FileHealth(VaultPaths(config.vault_root).health_log())


async def _get(base: str, path: str, **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        return await client.get(path, **kw)


async def test_candles_cvd_vwap_pages_equal_the_vault(demo: Config) -> None:
    paths = VaultPaths(demo.vault_root)
    async with trio.open_nursery() as nursery:
        base, _ = await start_web(nursery, demo, _health(demo))
        for url, query, folder in [
            (f"/api/{INST}/candles", {"tf": "1m"}, paths.candles_dir(INST) / "1m"),
            (f"/api/{INST}/candles", {"tf": "5m"}, paths.candles_dir(INST) / "5m"),
            (f"/api/{INST}/cvd", {"tf": "15m"}, paths.cvd_dir(INST) / "15m"),
            (f"/api/{INST}/vwap", {}, paths.vwap_dir(INST) / "1m"),
            (f"/api/{INST}/wick_events", {}, paths.wicks_dir(INST) / "events"),
        ]:
            expected = stream_records(folder)
            assert len(expected) > 5
            # walk back in pages of 7 across the midnight file boundary
            got: list[dict[str, Any]] = []
            end = None
            while True:
                params = {**query, "limit": "7", **({"end": end} if end else {})}
                r = await _get(base, url, params=params)
                assert r.status_code == 200, r.text
                doc = r.json()
                got = doc["records"] + got
                end = doc["next_end"]
                if end is None:
                    break
            if "wick_events" in url:  # events can share a millisecond: a page ends between them
                assert {str(e) for e in got} <= {str(e) for e in expected}
            else:
                assert got == expected
            whole = (await _get(base, url, params={**query, "limit": "5000"})).json()
            assert whole["records"] == expected and whole["next_end"] is None
        nursery.cancel_scope.cancel()


async def test_time_window_and_newest_first_limit(demo: Config) -> None:
    expected = stream_records(VaultPaths(demo.vault_root).candles_dir(INST) / "1m")
    start, end = expected[10]["open_time_utc"], expected[20]["open_time_utc"]
    async with trio.open_nursery() as nursery:
        base, _ = await start_web(nursery, demo, _health(demo))
        r = await _get(base, f"/api/{INST}/candles", params={"start": start, "end": end})
        assert r.json()["records"] == expected[10:20]
        r = await _get(base, f"/api/{INST}/candles", params={"limit": "3"})
        assert r.json()["records"] == expected[-3:]
        assert r.json()["next_end"] == expected[-3]["open_time_utc"].replace("Z", ".000Z")
        nursery.cancel_scope.cancel()


async def test_wicks_setups_book_heatmap_health(demo: Config) -> None:
    active = (VaultPaths(demo.vault_root).wicks_active(INST)).read_bytes()
    async with trio.open_nursery() as nursery:
        base, _ = await start_web(nursery, demo, _health(demo))
        doc = (await _get(base, f"/api/{INST}/wicks?tf=1m,5m")).json()
        assert doc["wicks"] and all(w["state"] == "untouched" for w in doc["wicks"])
        assert {w["tf"] for w in doc["wicks"]} <= {"1m", "5m"}
        assert all(w["id"].encode() in active for w in doc["wicks"])
        with_touched = (await _get(base, f"/api/{INST}/wicks?tf=1m&touched=1")).json()
        assert any(w["state"] == "touched" for w in with_touched["wicks"])

        setups = (await _get(base, f"/api/{INST}/setups")).json()
        assert [s["tier"] for s in setups["setups"]] == ["CLOSE"]  # the other one was touched
        assert len(setups["events"]) == 3

        book = (await _get(base, f"/api/{INST}/book?levels=10")).json()["book"]
        assert len(book["bids"]) == len(book["asks"]) == 10
        assert Decimal(book["bids"][0][0]) < Decimal(book["asks"][0][0])
        sizes = [Decimal(b[1]) for b in book["bids"]]
        assert [Decimal(b[2]) for b in book["bids"]] == [sum(sizes[: i + 1]) for i in range(10)]

        heat = (await _get(base, f"/api/{INST}/heatmap?minutes=1&columns=10&rows=20")).json()
        assert 1 <= len(heat["columns"]) <= 10 and len(heat["price_edges"]) == 21
        col = [Decimal(v) for v in heat["cells"][-1]]
        assert max(col) >= 900  # the wall below the bid stands out in its row

        health = (await _get(base, "/api/health")).json()
        assert {(a["actor"], a["state"]) for a in health["actors"]} == {
            ("trade_writer", "running"),
            ("book", "lagging"),
        }
        assert health["live"] is False
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/NOPE-USDT-SWAP/candles", 404),
        ("/api/..%2F..%2Fetc/candles", 404),
        ("/api/eth-usdt-swap/candles", 404),
        (f"/api/{INST}/candles?tf=2m", 400),
        (f"/api/{INST}/candles?limit=5001", 400),
        (f"/api/{INST}/candles?limit=0", 400),
        (f"/api/{INST}/candles?limit=ten", 400),
        (f"/api/{INST}/candles?start=yesterday", 400),
        (f"/api/{INST}/wicks?tf=1m,1w", 400),
        (f"/api/{INST}/wicks?limit=2001", 400),
        (f"/api/{INST}/book?levels=401", 400),
        (f"/api/{INST}/heatmap?columns=121", 400),
        (f"/api/{INST}/heatmap?minutes=61", 400),
    ],
)
async def test_bad_instrument_and_oversized_queries_are_refused(
    demo: Config, path: str, status: int
) -> None:
    async with trio.open_nursery() as nursery:
        base, _ = await start_web(nursery, demo, _health(demo))
        r = await _get(base, path)
        assert r.status_code == status, r.text
        assert "error" in r.json()
        nursery.cancel_scope.cancel()


async def test_read_only_no_cors_and_configured_but_empty_instrument(demo: Config) -> None:
    async with trio.open_nursery() as nursery:
        base, _ = await start_web(nursery, demo, _health(demo))
        async with httpx.AsyncClient(base_url=base) as client:
            post = await client.post(f"/api/{INST}/candles")
            assert post.status_code == 405
            r = await client.get(f"/api/{INST}/candles", headers={"Origin": "http://evil.example"})
            assert not any(h.lower().startswith("access-control") for h in r.headers)
            empty = await client.get(f"/api/{OTHER}/candles")
            assert empty.status_code == 200 and empty.json()["records"] == []
            assert (await client.get(f"/api/{OTHER}/book")).json()["book"] is None
            page = await client.get("/")
            assert page.status_code == 200 and "lightweight-charts" in page.text
            js = await client.get("/static/lightweight-charts-5.2.1.standalone.production.js")
            assert js.status_code == 200 and "Apache License" in js.text[:400]
        nursery.cancel_scope.cancel()


async def test_metrics_parse_as_prometheus_text(demo: Config) -> None:
    async with trio.open_nursery() as nursery:
        base, _ = await start_web(nursery, demo, _health(demo))
        r = await _get(base, "/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(r.text)
            for s in fam.samples
        }
        tw = (("actor", "trade_writer"), ("instId", INST))
        book = (("actor", "book"), ("instId", INST))
        assert samples[("rq_trades_written_total", tw)] > 1000
        assert samples[("rq_duplicates_skipped_total", tw)] == 3
        assert samples[("rq_quarantined_total", tw)] == 2
        assert samples[("rq_gaps_total", book)] == 4
        assert samples[("rq_resubscribes_total", book)] == 4
        assert samples[("rq_snapshots_written_total", book)] == 40
        assert samples[("rq_actor_restarts_total", tw)] == 1
        assert samples[("rq_actor_lag_seconds", tw)] == 1.5
        assert samples[("rq_actor_state", (*book, ("state", "lagging")))] == 1
        assert samples[("rq_actor_state", (*book, ("state", "running")))] == 0
        assert samples[("process_resident_memory_bytes", ())] > 0
        assert ("process_cpu_seconds_total", ()) in samples
        nursery.cancel_scope.cancel()


def test_vault_layout_is_the_one_the_writers_use(demo: Config) -> None:
    # the demo vault comes from the batch jobs: the readers must find what they wrote
    root = Path(demo.vault_root)
    assert (root / "derived" / "candles" / "okx" / INST / "1m").is_dir()


async def test_a_damaged_vault_file_fails_that_request_only(tmp_path: Path) -> None:
    config = build_demo_vault(tmp_path / "vault")
    day = sorted((VaultPaths(config.vault_root).candles_dir(INST) / "1m").glob("*.jsonl"))[-1]
    with day.open("ab") as f:
        f.write(b"{not json\n")
    async with trio.open_nursery() as nursery:
        base, _ = await start_web(nursery, config, _health(config))
        assert (await _get(base, f"/api/{INST}/candles")).status_code == 500
        assert (await _get(base, f"/api/{INST}/cvd")).status_code == 200
        assert (await _get(base, "/api/meta")).status_code == 200
        nursery.cancel_scope.cancel()


async def test_heatmap_cells_are_exact_sums_of_the_newest_snapshot(demo: Config) -> None:
    paths = VaultPaths(demo.vault_root)
    newest_file = sorted(paths.l2_dir(INST).rglob("*.jsonl"))[-1]
    snap = orjson.loads(newest_file.read_bytes().splitlines()[-1])
    async with trio.open_nursery() as nursery:
        base, _ = await start_web(nursery, demo, _health(demo))
        q = {"minutes": "1", "columns": "1", "rows": "7", "span": "20"}
        heat = (await _get(base, f"/api/{INST}/heatmap", params=q)).json()
        nursery.cancel_scope.cancel()
    assert heat["columns"] == [snap["timestamp_utc"]]
    edges = [Decimal(e) for e in heat["price_edges"]]
    assert edges[0] == Decimal(snap["bids_top400"][19][0])  # the 20th bid …
    assert edges[-1] == Decimal(snap["asks_top400"][19][0])  # … to the 20th ask
    expected = [Decimal(0)] * 7
    for px, sz, *_ in snap["bids_top400"] + snap["asks_top400"]:
        for i in range(7):  # row i holds edges[i] <= price < edges[i + 1]
            if edges[i] <= Decimal(px) < edges[i + 1]:
                expected[i] += Decimal(sz)
    assert sum(expected) > 0
    assert [Decimal(c) for c in heat["cells"][0]] == expected
