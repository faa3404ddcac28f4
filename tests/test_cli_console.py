"""The human terminal of `rq-run`: a start-up summary, compact status lines, trouble lines; the
JSON health stream stays in logs/health.jsonl and reaches stderr only when asked for."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from rq_actors.config import parse_config
from rq_actors.io.console import Console, startup_summary, status_line, web_address
from rq_actors.messages import HealthReport

INST = "BTC-USDT-SWAP"


def _report(actor: str, state: str, *, error: str | None = None, trades: int = 0) -> HealthReport:
    counters = {"trades_written": trades} if actor == "trade_writer" else {}
    return HealthReport("2026-01-02T03:04:05.678Z", actor, INST, state, 0, counters, 12, error)


def test_trouble_lines_only_for_news() -> None:
    out = io.StringIO()
    console = Console(out)
    for state in ("starting", "recovering", "running"):  # start-up replay is not news
        console.on_report(_report("cvd", state))
    assert out.getvalue() == ""
    console.on_report(_report("cvd", "recovering", error="vault: disk full"))
    console.on_report(_report("cvd", "running", error="vault: disk full"))
    console.on_report(_report("book", "restarting", error="boom"))
    console.on_report(_report("socket", "running"))
    console.on_report(_report("socket", "recovering"))  # orderly stop: no error, no line
    assert out.getvalue().splitlines() == [
        f"03:04:05 {INST} cvd recovering: vault: disk full",
        f"03:04:05 {INST} cvd running",
        f"03:04:05 {INST} book restarting: boom",
    ]


def test_status_line_counts_and_rates() -> None:
    previous: dict[str, int] = {}
    reports = [_report("trade_writer", "running", trades=1000), _report("book", "lagging")]
    first = status_line(reports, previous, 10.0, 1_767_323_045_000)
    assert (
        first == f"03:04:05  {INST} 1,000 trades lag 12 ms  1/2 actors running  {INST} book lagging"
    )
    reports[0] = _report("trade_writer", "running", trades=1600)
    second = status_line(reports, previous, 30.0, 1_767_323_075_000)
    assert f"{INST} 1,600 trades (+20/s) lag 12 ms" in second


def test_summary_shows_vault_instruments_and_web_when_configured(tmp_path: Path) -> None:
    config = parse_config(
        {"instruments": [INST], "vault": {"root": "v"}, "exchange": {"simulate": True}},
        str(tmp_path / "c.toml"),
    )
    lines = startup_summary(config, simulated=True)
    assert lines[0].endswith(f"1 instrument(s): {INST}")
    assert any(line.split() == ["vault", str(tmp_path / "v")] for line in lines)
    assert any(line.split()[0] == "simulator" for line in lines)
    assert any(line.split() == ["web", "http://127.0.0.1:8765"] for line in lines)
    off = parse_config(
        {"instruments": [INST], "vault": {"root": "v"}, "web": {"enabled": False, "port": 1}},
        str(tmp_path / "c.toml"),
    )
    assert not any(line.split()[0] == "web" for line in startup_summary(off, simulated=False))
    assert web_address(off) is None


def _run_briefly(tmp_path: Path, *extra: str) -> tuple[str, Path]:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'instruments = ["{INST}"]\n[vault]\nroot = "vault"\n[exchange]\nsimulate = true\n'
        "[health]\ninterval_s = 0.5\n"
    )
    health = tmp_path / "vault" / "logs" / "health.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rq_actors.commands.cli_run", str(cfg), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
            not health.exists() or health.read_bytes().count(b'"running"') < 5
        ):
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-2000:]
    return err, health


@pytest.mark.parametrize("fmt", ["human", "json"])
def test_stderr_is_human_unless_json_is_asked_for(tmp_path: Path, fmt: str) -> None:
    err, health = _run_briefly(tmp_path, *(["--log-format", "json"] if fmt == "json" else []))
    file_lines = [orjson.loads(line) for line in health.read_bytes().splitlines()]
    assert {line["actor"] for line in file_lines} >= {"socket", "book", "trade_writer"}
    json_lines = [line for line in err.splitlines() if line.startswith("{")]
    if fmt == "human":
        assert json_lines == []
        assert err.splitlines()[0].startswith("rq-run ")
        assert f"vault      {tmp_path / 'vault'}" in err
    else:
        assert len(json_lines) >= 5
        assert not err.startswith("rq-run ")
