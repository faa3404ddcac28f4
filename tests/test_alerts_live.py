"""`rq-run` with `[alerts]` against the embedded simulator: market alerts made from the live
derived streams reach the fake receiver over loopback HTTP while a second, hanging receiver
slows nothing; a missing secret variable is one line and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import trio

from rq_actors.actors.runner import run_live
from rq_actors.config import parse_config
from rq_actors.io.live_bus import LiveBus
from rq_actors.messages import LiveRecord
from tests.helpers.receiver import Receiver, Reply

SECRET = "live-run-discord-token-abcdefghijklmnop"
INST = "BTC-USDT-SWAP"


def live_config(tmp: Path) -> dict[str, object]:
    return {
        "instruments": [INST],
        "vault": {"root": str(tmp / "vault")},
        "exchange": {"simulate": True},
        # A fixed start: the same market every run. 600 trades and 6 books per second keep a
        # coverage-traced run on a busy 2-core machine ahead of the market (a book every market
        # second made it 6x slower than without coverage).
        "simulator": {
            "seed": 5,
            "trades_per_s": 10.0,
            "speed": 60.0,
            "book_interval_ms": 10_000,
            "start_ms": 1_767_225_600_000,  # 2026-01-01T00:00:00Z
        },
        "health": {"interval_s": 0.5, "stderr": False},
        "alerts": {
            "dashboard_url": "http://127.0.0.1:8765/",
            "vwap_deviation": {"enabled": True, "threshold_bps": 1, "rearm_bps": 0},
            "cvd_divergence": {"enabled": True, "lookback_min": 3},
            "notifiers": [
                {"kind": "webhook", "url_env": "RQ_LIVE_HOOK", "secret_env": "RQ_LIVE_KEY"},
                {"kind": "discord", "name": "hung", "url_env": "RQ_LIVE_DISCORD"},
            ],
        },
    }


@pytest.mark.slow
async def test_live_run_delivers_market_alerts_and_a_hung_notifier_slows_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = LiveBus()
    async with trio.open_nursery() as nursery:
        ok: Receiver = await nursery.start(Receiver().serve)
        hung: Receiver = await nursery.start(Receiver(default=Reply(hang=True)).serve)
        monkeypatch.setenv("RQ_LIVE_HOOK", f"{ok.base_url}/alerts")
        monkeypatch.setenv("RQ_LIVE_KEY", "live-key-0123456789abcdef")
        monkeypatch.setenv("RQ_LIVE_DISCORD", f"{hung.base_url}/api/webhooks/1/{SECRET}")
        config = parse_config(live_config(tmp_path))
        stop = trio.Event()
        seen: list[LiveRecord] = []
        # A guard, not a target: the alerts come from market events at 60x speed (9 alerts in
        # the first 20 s alone on a 2-core machine, 2026-12-07).
        with bus.subscribe(100_000) as sub, trio.fail_after(150):
            nursery.start_soon(_collect, sub.receive, seen)
            await nursery.start(
                lambda task_status: run_live(
                    config, handle_signals=False, stop=stop, bus=bus, task_status=task_status
                )
            )
            await hung.wait_for(1)  # the hung receiver holds its first alert forever
            await ok.wait_for(3)
            written_at_hang = _trades_written(tmp_path)
            await ok.wait_for(5)
            while _trades_written(tmp_path) <= written_at_hang:
                await trio.sleep(0.1)  # capture went on while one notifier hangs
            stop.set()
        nursery.cancel_scope.cancel()

    bodies = [r.json() for r in ok.requests]
    assert {b["rule"] for b in bodies} <= {"vwap_deviation", "cvd_divergence"}
    assert len({b["idempotency_key"] for b in bodies}) == len(bodies)
    candles = {
        (r.record["open_time_utc"], r.record["close"])
        for r in seen
        if r.kind == "candles" and r.stream == "1m"
    }
    for b in bodies:
        assert b["instId"] == INST and INST in b["title"]
        assert (b["fields"]["minute_utc"], b["fields"]["price"]) in candles  # the live close
        assert "http://127.0.0.1:8765/?instId=BTC-USDT-SWAP&tf=1m" in b["text"]
    vault_text = b"".join(p.read_bytes() for p in (tmp_path / "vault").rglob("*") if p.is_file())
    assert SECRET.encode() not in vault_text


async def _collect(receive: trio.MemoryReceiveChannel[LiveRecord], out: list[LiveRecord]) -> None:
    async for item in receive:
        out.append(item)


def _trades_written(tmp: Path) -> int:
    health = tmp / "vault" / "logs" / "health.jsonl"
    total = 0
    for line in health.read_bytes().splitlines() if health.exists() else []:
        doc = orjson.loads(line)
        if doc["actor"] == "trade_writer":
            total = max(total, doc["counters"].get("trades_written", 0))
    return total


def test_missing_secret_variable_is_one_line_and_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "alerts.toml"
    cfg.write_text(
        f'instruments = ["{INST}"]\n[vault]\nroot = "vault"\n[exchange]\nsimulate = true\n'
        '[[alerts.notifiers]]\nkind = "telegram"\ntoken_env = "RQ_NOT_SET_TG"\nchat_id = "1"\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "RQ_NOT_SET_TG"}
    proc = subprocess.run(
        [sys.executable, "-m", "rq_actors.commands.cli_run", str(cfg)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "RQ_NOT_SET_TG" in lines[0] and "alerts.notifiers[0]" in lines[0]
    assert not (tmp_path / "vault").exists()  # nothing started


async def test_rq_alerts_test_reports_what_each_receiver_answered(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        rx: Receiver = await nursery.start(Receiver(Reply(200), Reply(401)).serve)
        cfg = tmp_path / "alerts.toml"
        cfg.write_text(
            f'instruments = ["{INST}"]\n'
            '[[alerts.notifiers]]\nkind = "webhook"\nurl_env = "RQ_T_URL"\n'
            'secret_env = "RQ_T_KEY"\n'
            '[[alerts.notifiers]]\nkind = "telegram"\nname = "phone"\ntoken_env = "RQ_T_TG"\n'
            f'chat_id = "7"\napi_base = "{rx.base_url}"\n'
        )
        env = dict(os.environ, RQ_T_URL=f"{rx.base_url}/x", RQ_T_KEY="k" * 20, RQ_T_TG=SECRET)
        with trio.fail_after(60):
            proc = await trio.run_process(
                [sys.executable, "-m", "rq_actors", "alerts", "test", str(cfg)],
                env=env,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        nursery.cancel_scope.cancel()
    out = proc.stdout.decode().splitlines()
    assert (
        proc.returncode == 1
        and out[0] == "webhook: HTTP 200"
        and out[1].startswith("phone: HTTP 401")
    )
    assert rx.requests[1].target == f"/bot{SECRET}/sendMessage"
    assert "test alert" in rx.requests[0].json()["text"]
    assert SECRET not in proc.stdout.decode() + proc.stderr.decode()
