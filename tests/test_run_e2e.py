"""`rq-run` as a real process against the embedded simulator: it captures, and SIGTERM/SIGINT
stop it in an orderly way (exit 0 within 5 s, no torn line)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from rq_actors.io.health_read import latest_by_actor


def _write_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "demo.toml"
    cfg.write_text(
        'instruments = ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]\n'
        '[vault]\nroot = "vault"\n'
        "[exchange]\nsimulate = true\n"
        "[simulator]\nseed = 3\ntrades_per_s = 40.0\n"
        "[book]\nsnapshot_interval_s = 0.5\n"
        "[health]\ninterval_s = 0.5\nstderr = false\n"
    )
    return cfg


def _wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _trade_lines(vault: Path) -> list[bytes]:
    lines: list[bytes] = []
    for f in sorted((vault / "raw" / "okx" / "trades_perps").rglob("*.jsonl")):
        data = f.read_bytes()
        assert data == b"" or data.endswith(b"\n"), f"torn line left in {f}"
        lines.extend(data.splitlines())
    return lines


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_rq_run_captures_and_stops_cleanly_on_signal(tmp_path: Path, signum: int) -> None:
    cfg = _write_config(tmp_path)
    vault = tmp_path / "vault"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rq_actors.commands.cli_run", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    try:
        health = vault / "logs" / "health.jsonl"

        def sockets_running() -> bool:
            latest = latest_by_actor(health)
            socks = [v for (i, a), v in latest.items() if a == "socket"]
            return len(socks) == 2 and all(s["state"] == "running" for s in socks)

        _wait_for(sockets_running, 30, "both socket actors running")
        _wait_for(lambda: len(_trade_lines(vault)) >= 20, 30, "trades in the vault")
        _wait_for(
            lambda: any((vault / "raw" / "okx" / "l2_perps").rglob("*.jsonl")),
            30,
            "a book snapshot file",
        )
        t0 = time.monotonic()
        proc.send_signal(signum)
        code = proc.wait(timeout=10)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    assert code == 0, stderr[-3000:]
    assert elapsed < 5.0
    ids = [int(orjson.loads(line)["trade_id"]) for line in _trade_lines(vault)]
    assert ids == sorted(set(ids))  # strictly increasing, no duplicates
    final = latest_by_actor(vault / "logs" / "health.jsonl")
    assert {v["state"] for (i, a), v in final.items() if a == "trade_writer"} == {"stopped"}
