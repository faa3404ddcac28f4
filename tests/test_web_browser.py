"""The page in a real headless browser (Debian's chromium, driven over the DevTools protocol with
trio-websocket): it loads against a demo vault, the chart renders the vault's candles, untouched
wick levels are drawn, the setups list holds the live setup, the health table is filled, a
record published on the live bus appears on the page, a click on a setup focuses the chart; the
screenshot is saved as a test artifact (`$RQ_TEST_ARTIFACTS` or the test's temp folder)."""

from __future__ import annotations

import base64
import itertools
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import orjson
import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from rq_actors.config import Config, WebConfig
from rq_actors.core.timefmt import iso_s, parse_iso_ms
from rq_actors.io.live_bus import LiveBus
from rq_actors.io.metrics.signals_job import signals_dir
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import LiveRecord
from rq_actors.web.health_view import FileHealth
from tests.helpers.web import (
    INST,
    build_demo_vault,
    setup_event,
    start_live,
    start_web,
    stream_records,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
    "--window-size=1500,1100",
]
HEALTH_ACTORS = (
    "[...document.querySelectorAll('#health tbody tr')].map(r => r.cells[1].textContent)"
)
SETUP_TIERS = "[...document.querySelectorAll('#setups tbody tr')].map(r => r.cells[0].textContent)"


class Page:
    """Just enough of the DevTools protocol: evaluate, navigate, screenshot."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self._ids)
        await self._ws.send_message(
            orjson.dumps({"id": msg_id, "method": method, "params": params}).decode()
        )
        while True:
            reply = orjson.loads(await self._ws.get_message())
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result

    async def js(self, expression: str) -> Any:
        res = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in res:
            raise AssertionError(f"{expression}: {res['exceptionDetails']}")
        return res["result"].get("value")

    async def dataset(self) -> dict[str, str]:
        state: dict[str, str] = await self.js(
            "Object.assign({}, document.getElementById('state')?.dataset || {})"
        )
        return state

    async def wait_for(self, expression: str, seconds: float = 20) -> None:
        with trio.move_on_after(seconds):
            while True:
                try:
                    if await self.js(expression):
                        return
                except AssertionError:
                    pass  # evaluated while the page was being replaced (a reload): ask again
                await trio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression}; page: {await self.dataset()}")


async def _devtools_url(profile: Path) -> str:
    port_file = profile / "DevToolsActivePort"
    with trio.fail_after(30):
        while not port_file.exists() or not port_file.read_text().strip():
            await trio.sleep(0.1)
    port = port_file.read_text().split()[0]
    async with httpx.AsyncClient() as client:
        with trio.fail_after(10):
            while True:
                targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
                pages = [t for t in targets if t["type"] == "page"]
                if pages:
                    return str(pages[0]["webSocketDebuggerUrl"])
                await trio.sleep(0.1)


@asynccontextmanager
async def browser(profile: Path) -> AsyncIterator[Page]:
    """A headless chromium with one page, ended (by its own handle) when the block ends."""
    assert CHROMIUM is not None
    proc = await trio.lowlevel.open_process(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = await _devtools_url(profile)
        async with open_websocket_url(url, max_message_size=1 << 26) as ws:
            yield Page(ws)
    finally:
        proc.terminate()
        with trio.move_on_after(5):
            await proc.wait()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _artifacts(tmp_path: Path) -> Path:
    out = Path(os.environ.get("RQ_TEST_ARTIFACTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    return out


async def test_dashboard_renders_vault_and_live_push(tmp_path: Path) -> None:
    config: Config = build_demo_vault(tmp_path / "vault")
    paths = VaultPaths(config.vault_root)
    candles = stream_records(paths.candles_dir(INST) / "1m")
    bus = LiveBus()
    profile = tmp_path / "chromium-profile"
    async with trio.open_nursery() as nursery:
        base, _ = await start_web(nursery, config, FileHealth(paths.health_log()), bus)
        async with browser(profile) as page:
            await page.call("Page.navigate", url=f"{base}/?instId={INST}&tf=1m")
            await page.wait_for("document.getElementById('state')?.dataset.loaded")
            await page.wait_for("document.getElementById('state').dataset.live === 'on'")
            state = await page.dataset()
            assert "error" not in state, state
            # every 1m candle of the vault is on the chart (fewer than the 1000 page)
            assert int(state["candles"]) == len(candles)
            bars = await page.js("window.rqDashboard.chart.panes()[0].getSeries()[0].data().length")
            assert bars == len(candles)
            assert int(state["wicks"]) > 0
            await page.wait_for("+document.getElementById('state').dataset.wicksDrawn > 0")
            assert state["setups"] == "1"
            assert state["healthRows"] == "2"
            assert await page.js("document.querySelectorAll('#ladder tbody tr').length") == 16

            # live: the next final candle, and a setup written then published
            last = candles[-1]
            nxt = dict(last, open_time_utc=iso_s(parse_iso_ms(last["open_time_utc"]) + 60_000))
            active = orjson.loads(paths.wicks_active(INST).read_bytes())["wicks"]
            wick = [w for w in active if w["state"] == "untouched" and w["tf"] == "1m"][2]
            event = setup_event(parse_iso_ms(nxt["open_time_utc"]), wick, "appeared", "NEAR")
            folder = signals_dir(paths, INST)
            newest = sorted(folder.glob("*.jsonl"))[-1]
            with newest.open("ab") as f:
                f.write(orjson.dumps(event) + b"\n")
            bus.publish(
                [LiveRecord("candles", INST, "1m", parse_iso_ms(nxt["open_time_utc"]), nxt)]
            )
            bus.publish([LiveRecord("signals", INST, "events", 0, event)])
            await page.wait_for(
                f"+document.getElementById('state').dataset.candles === {len(candles) + 1}"
            )
            await page.wait_for("document.getElementById('state').dataset.setups === '2'")
            assert (await page.dataset())["lastPush"].startswith("signals:events")
            tiers = await page.js(SETUP_TIERS)
            assert sorted(tiers) == ["CLOSE", "NEAR"]
            assert "pushError" not in await page.dataset()

            await page.js("document.querySelector('#setups tbody tr').click()")
            focus = (await page.dataset()).get("focus")
            assert focus in {event["id"], *(w["id"] for w in active)}
            shot = await page.call("Page.captureScreenshot", format="png")
            png = base64.b64decode(shot["data"])
            assert png[:8] == b"\x89PNG\r\n\x1a\n"
            (_artifacts(tmp_path) / "dashboard.png").write_bytes(png)
        nursery.cancel_scope.cancel()


async def test_a_simulator_runs_new_candle_appears_on_the_page(tmp_path: Path) -> None:
    """End to end: rq-run's own server, the simulator's market, a final 1m candle pushed."""
    async with trio.open_nursery() as nursery:
        port, stop = await start_live(nursery, tmp_path / "vault")
        async with browser(tmp_path / "chromium-profile") as page:
            await page.call("Page.navigate", url=f"http://127.0.0.1:{port}/?tf=1m")
            await page.wait_for("document.getElementById('state')?.dataset.loaded")
            await page.wait_for("document.getElementById('state').dataset.live === 'on'")
            before = int((await page.dataset())["candles"])
            # history is loaded once; with live on, only pushes add candles afterwards
            await page.wait_for(f"+document.getElementById('state').dataset.candles > {before}")
            bars = await page.js("window.rqDashboard.chart.panes()[0].getSeries()[0].data().length")
            assert bars == int((await page.dataset())["candles"]) > before
            assert "pushError" not in await page.dataset()
            await page.wait_for(f"{HEALTH_ACTORS}.includes('trade_writer')", seconds=15)
            health = await page.js(HEALTH_ACTORS)
        stop.set()
    assert set(health) >= {"socket", "trade_writer", "book", "web"}


async def test_with_a_token_the_page_asks_once_and_then_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RQ_TEST_WEB_TOKEN", "browser-secret")
    demo = build_demo_vault(tmp_path / "vault")
    config = attrs.evolve(demo, web=WebConfig(port=0, token="env:RQ_TEST_WEB_TOKEN"))
    paths = VaultPaths(config.vault_root)
    async with trio.open_nursery() as nursery:
        base, _ = await start_web(nursery, config, FileHealth(paths.health_log()), LiveBus())
        async with browser(tmp_path / "chromium-profile") as page:
            await page.call("Page.navigate", url=f"{base}/")
            await page.wait_for(LOGIN_SHOWN)
            assert (await page.dataset()).get("loaded") is None  # nothing loaded without it
            await _log_in(page, "wrong")
            await page.wait_for(LOGIN_SHOWN)  # the reloaded page asks again
            assert (await page.dataset()).get("loaded") is None
            await _log_in(page, "browser-secret")
            await page.wait_for("document.getElementById('state')?.dataset.loaded")
            await page.wait_for("document.getElementById('state').dataset.live === 'on'")
            assert int((await page.dataset())["candles"]) > 0
        nursery.cancel_scope.cancel()


LOGIN_SHOWN = "!window.__before_login && document.getElementById('login')?.hidden === false"


async def _log_in(page: Page, token: str) -> None:
    """Type the token and submit; the page sets its cookie and reloads (the marker goes)."""
    await page.js("window.__before_login = true")
    await page.js(f"document.getElementById('token').value = {orjson.dumps(token).decode()}")
    await page.js("document.getElementById('login').requestSubmit()")
