"""Live push and access control over real loopback sockets: records published on the LiveBus
reach a WebSocket viewer of that instrument only, a viewer that stops reading is cut off from
records (counted, told with a `gap`) while publishing never waits, the token is enforced on
every data endpoint and the socket, the web task restarts after a failure, and a live
`run_live` over the simulator pushes a new final 1m candle to a viewer."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import trio
from trio_websocket import ConnectionRejected, open_websocket_url

from rq_actors.config import Config, parse_config
from rq_actors.io.health import HealthLog
from rq_actors.io.live_bus import LiveBus
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import LiveRecord
from rq_actors.web import server
from rq_actors.web.health_view import FileHealth
from rq_actors.web.live import VIEWER_CAPACITY
from tests.helpers.web import (
    INST,
    OTHER,
    build_demo_vault,
    start_live,
    start_web,
)

SECRET = "s3cret-token-for-tests"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return build_demo_vault(tmp_path_factory.mktemp("web") / "vault")


def _health(config: Config) -> FileHealth:
    return FileHealth(VaultPaths(config.vault_root).health_log())


def _ws(base: str, inst: str) -> str:
    return base.replace("http://", "ws://") + f"/api/live?instId={inst}"


def _candle(inst: str, minute: int) -> LiveRecord:
    t = 1_765_756_800_000 + minute * 60_000
    rec = {"open_time_utc": f"2025-12-15T00:{minute:02d}:00Z", "instId": inst, "close": "1.5"}
    return LiveRecord("candles", inst, "1m", t, rec)


async def test_published_records_reach_the_viewer_of_that_instrument(demo: Config) -> None:
    bus = LiveBus()
    async with trio.open_nursery() as nursery:
        base, ctx = await start_web(nursery, demo, _health(demo), bus)
        async with open_websocket_url(_ws(base, INST)) as ws:
            assert orjson.loads(await ws.get_message()) == {"type": "hello", "live": True}
            assert bus.subscribers == 1 and ctx.stats.live_clients == 1
            bus.publish([_candle(OTHER, 1), _candle(INST, 2)])
            bus.publish([LiveRecord("signals", INST, "events", 5, {"event": "appeared"})])
            first = orjson.loads(await ws.get_message())
            second = orjson.loads(await ws.get_message())
        assert first == {
            "type": "record",
            "kind": "candles",
            "stream": "1m",
            "time_ms": _candle(INST, 2).time_ms,
            "record": _candle(INST, 2).record,
        }
        assert second["kind"] == "signals" and second["record"] == {"event": "appeared"}
        with trio.fail_after(5):
            while bus.subscribers:  # the page closed: its subscription goes with it
                await trio.sleep(0.01)
        assert ctx.stats.live_clients == 0
        nursery.cancel_scope.cancel()


async def test_a_viewer_that_stops_reading_loses_records_not_the_publisher(demo: Config) -> None:
    bus = LiveBus()
    big = {"pad": "x" * 4000}
    async with trio.open_nursery() as nursery:
        base, ctx = await start_web(nursery, demo, _health(demo), bus)
        async with open_websocket_url(_ws(base, INST), max_message_size=1 << 20) as ws:
            await ws.get_message()  # hello; from now on this viewer does not read
            for i in range(40):
                # publish is synchronous: it can never wait for the viewer
                bus.publish([LiveRecord("vwap", INST, "1m", i * 100 + j, big) for j in range(100)])
                await trio.sleep(0)
            assert bus._subs[0].dropped > 0
            msgs: list[dict[str, Any]] = []
            with trio.fail_after(10):
                while not msgs or msgs[-1]["type"] != "gap":
                    msgs.append(orjson.loads(await ws.get_message()))
        # the page is told how much it missed (then reloads its history from the vault)
        assert 0 < msgs[-1]["dropped"] <= ctx.stats.live_dropped
        assert all(m["type"] == "record" for m in msgs[:-1])
        assert len(msgs) <= VIEWER_CAPACITY + 1  # the stale buffer was skipped, not sent
        nursery.cancel_scope.cancel()


async def test_without_a_bus_the_socket_says_so(demo: Config) -> None:
    async with trio.open_nursery() as nursery:
        base, _ = await start_web(nursery, demo, _health(demo))
        async with open_websocket_url(_ws(base, INST)) as ws:
            assert orjson.loads(await ws.get_message()) == {"type": "hello", "live": False}
        with pytest.raises(ConnectionRejected):
            async with open_websocket_url(_ws(base, "NOPE-USDT-SWAP")):
                pass
        nursery.cancel_scope.cancel()


async def test_token_is_required_by_header_or_cookie(
    demo: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RQ_TEST_WEB_TOKEN", SECRET)
    config = parse_config(
        {
            "instruments": demo.instruments,
            "vault": {"root": str(demo.vault_root)},
            "web": {"bind": "0.0.0.0", "token": "env:RQ_TEST_WEB_TOKEN"},  # allowed: has token
        }
    )
    async with trio.open_nursery() as nursery:
        base, _ = await start_web(nursery, config, _health(config), LiveBus())
        async with httpx.AsyncClient(base_url=base) as client:
            for path in ["/api/meta", "/api/health", "/metrics", f"/api/{INST}/candles"]:
                for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": SECRET}]:
                    r = await client.get(path, headers=headers)
                    assert r.status_code == 401, (path, headers)
                    assert SECRET not in r.text
                bearer = {"Authorization": f"Bearer {SECRET}"}
                assert (await client.get(path, headers=bearer)).status_code == 200
                cookie = {"Cookie": f"rq_token={SECRET}"}
                assert (await client.get(path, headers=cookie)).status_code == 200
            assert (await client.get("/")).status_code == 200  # the page itself is no secret
        with pytest.raises(ConnectionRejected):
            async with open_websocket_url(_ws(base, INST)):
                pass
        ws_headers = [(b"Cookie", f"rq_token={SECRET}".encode())]
        async with open_websocket_url(_ws(base, INST), extra_headers=ws_headers) as ws:
            assert orjson.loads(await ws.get_message())["live"] is True
        nursery.cancel_scope.cancel()


def test_public_bind_without_token_refuses_to_start(tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = tmp_path / "c.toml"
    cfg.write_text('instruments = ["BTC-USDT-SWAP"]\n[web]\nbind = "0.0.0.0"\n')
    for argv in (["rq_actors.commands.cli_run", str(cfg)], ["rq_actors", "web", str(cfg)]):
        proc = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and "web.bind" in proc.stderr
        assert "Traceback" not in proc.stderr


async def test_web_task_restarts_after_failure_and_reports_it(
    demo: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "BACKOFF_INITIAL_S", 0.05)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    config = parse_config(
        {
            "instruments": demo.instruments,
            "vault": {"root": str(demo.vault_root)},
            "web": {"port": port},
        }
    )
    log = HealthLog(None, stderr=None)
    started: list[list[str]] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: server.run_web(config, None, log, on_started=started.append))
        with trio.fail_after(10):
            while not log.latest or log.latest[("*", "web")].restarts == 0:
                await trio.sleep(0.01)
        report = log.latest[("*", "web")]
        assert report.state in ("restarting", "starting") and "Error" in (report.last_error or "")
        taken.close()  # the port comes free: the next attempt serves
        with trio.fail_after(10):
            while not started:
                await trio.sleep(0.01)
        assert log.latest[("*", "web")].state == "running"
        async with httpx.AsyncClient(base_url=started[0][0]) as client:
            assert (await client.get("/api/meta")).status_code == 200
        nursery.cancel_scope.cancel()


async def test_run_live_pushes_a_new_final_candle_to_the_viewer(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        port, stop = await start_live(nursery, tmp_path / "vault")
        url = f"ws://127.0.0.1:{port}/api/live?instId=BTC-USDT-SWAP"
        async with open_websocket_url(url) as ws:
            assert orjson.loads(await ws.get_message())["live"] is True
            with trio.fail_after(30):
                while True:
                    msg = orjson.loads(await ws.get_message())
                    if msg.get("kind") == "candles" and msg["stream"] == "1m":
                        break
        candle = msg["record"]
        day = candle["open_time_utc"][:10]
        on_disk = VaultPaths(tmp_path / "vault").candles_file("BTC-USDT-SWAP", "1m", day)
        assert orjson.dumps(candle) in on_disk.read_bytes().splitlines()
        stop.set()


async def test_other_sites_cannot_read_a_tokenless_dashboard(demo: Config) -> None:
    async with trio.open_nursery() as nursery:
        base, _ = await start_web(nursery, demo, _health(demo), LiveBus())
        async with httpx.AsyncClient(base_url=base) as client:
            # DNS rebinding: the attacker's name resolves to 127.0.0.1, the Host header tells
            rebound = await client.get("/api/meta", headers={"Host": "evil.example:8765"})
            assert rebound.status_code == 403
            ok = await client.get("/api/meta", headers={"Host": "localhost:8765"})
            assert ok.status_code == 200
        evil = [(b"Origin", b"http://evil.example")]
        with pytest.raises(ConnectionRejected):  # a foreign page's socket to 127.0.0.1
            async with open_websocket_url(_ws(base, INST), extra_headers=evil):
                pass
        own = [(b"Origin", base.encode())]
        async with open_websocket_url(_ws(base, INST), extra_headers=own) as ws:
            assert orjson.loads(await ws.get_message())["live"] is True
        nursery.cancel_scope.cancel()
