"""Trade capture end to end, as real processes: `rq sim` with disconnects, 64008 notices and
duplicate frames, and `rq-run` killed with SIGKILL five times at random moments (staying down for
a while, so trades are missed and must come back from REST), then stopped with SIGTERM. The vault
must hold every trade the simulator published in the captured range exactly once, byte-for-byte in
the SPEC §5 format, with no torn line."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from rq_actors.core.trades.record import encode_trade
from rq_actors.io.instruments import read_saved_meta
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade

pytestmark = pytest.mark.slow  # process-level or long end-to-end runs

INST = "BTC-USDT-SWAP"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_rest(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/api/v5/public/instruments?instType=SWAP", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("simulator REST did not come up")


def _published(rest: str, down_to: int) -> list[dict]:
    """Every fill the simulator published with id >= down_to, oldest first (REST history)."""
    rows: list[dict] = []
    after: int | None = None
    while True:
        params = {"instId": INST, "type": "1", "limit": "100"}
        if after is not None:
            params["after"] = str(after)
        body = httpx.get(f"{rest}/api/v5/market/history-trades", params=params, timeout=5).json()
        assert body["code"] == "0", body
        page = body["data"]
        if not page:
            break
        rows.extend(page)
        after = min(int(r["tradeId"]) for r in page)
        if after <= down_to:
            break
    rows = [r for r in rows if int(r["tradeId"]) >= down_to]
    return sorted(rows, key=lambda r: int(r["tradeId"]))


def test_kill9_five_times_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261121)
    ws_port, rest_port = _free_port(), _free_port()
    sim = subprocess.Popen(
        [
            sys.executable, "-m", "rq_actors", "sim",
            "--port", str(ws_port), "--rest-port", str(rest_port), "--seed", "5",
            "--instruments", INST, "--trades-per-s", "40",
            "--disconnect-every", "3.5", "--notice-every", "5", "--notice-close-after", "1.5",
            "--duplicate-prob", "0.05",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    rest = f"http://127.0.0.1:{rest_port}"
    cfg = tmp_path / "capture.toml"
    cfg.write_text(
        f'instruments = ["{INST}"]\n'
        '[vault]\nroot = "vault"\n'
        "[exchange]\n"
        f'ws_public_url = "ws://127.0.0.1:{ws_port}/ws/v5/public"\n'
        f'ws_business_url = "ws://127.0.0.1:{ws_port}/ws/v5/business"\n'
        f'rest_url = "{rest}"\n'
        "[socket]\nreconnect_initial_s = 0.1\nreconnect_max_s = 1.0\n"
        "[health]\nstderr = false\ninterval_s = 1.0\n"
    )
    vault = tmp_path / "vault"
    try:
        _wait_rest(rest)
        kills = 0
        for run in range(6):
            proc = subprocess.Popen(
                [sys.executable, "-m", "rq_actors.commands.cli_run", str(cfg)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd=tmp_path,
            )
            with proc:  # closes the stderr pipe
                time.sleep(rng.uniform(2.0, 4.0))
                if run < 5:
                    proc.kill()  # SIGKILL: no flush, no goodbye
                    proc.wait()
                    kills += 1
                    time.sleep(rng.uniform(0.2, 1.5))  # down long enough to miss trades
                else:
                    proc.send_signal(signal.SIGTERM)
                    assert proc.wait(timeout=10) == 0, proc.stderr.read().decode()[-3000:]
        assert kills == 5

        files = sorted((vault / "raw" / "okx" / "trades_perps" / INST).glob("*.jsonl"))
        assert files
        lines: list[bytes] = []
        for f in files:
            data = f.read_bytes()
            assert data.endswith(b"\n"), f"torn line left in {f}"
            lines.extend(data.splitlines())
        ids = [int(orjson.loads(line)["trade_id"]) for line in lines]
        assert ids == sorted(set(ids)), "vault not strictly increasing / has duplicates"
        assert len(ids) >= 300

        truth = _published(rest, ids[0])
        truth = [r for r in truth if int(r["tradeId"]) <= ids[-1]]
        missing = sorted({int(r["tradeId"]) for r in truth} - set(ids))
        assert not missing, f"{len(missing)} published trades missing, e.g. {missing[:10]}"
        assert len(truth) == len(ids)

        meta = read_saved_meta(VaultPaths(vault), INST)
        assert meta is not None
        expected = [
            encode_trade(
                Trade(INST, int(r["tradeId"]), int(r["ts"]), r["side"], r["px"], r["sz"]), meta
            )
            for r in truth
        ]
        assert lines == expected

        # the faults were really exercised: REST backfill, de-duplication, make-before-break
        seen: dict[tuple[str, str], int] = {}
        for raw in (vault / "logs" / "health.jsonl").read_bytes().splitlines():
            try:
                rec = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue  # a torn last line from a SIGKILL
            for key, value in rec["counters"].items():
                k = (rec["actor"], key)
                seen[k] = max(seen.get(k, 0), value)
        assert seen.get(("trade_writer", "backfilled"), 0) > 0
        assert seen.get(("trade_writer", "duplicates_skipped"), 0) > 0
        assert seen.get(("socket", "make_before_break"), 0) > 0
    finally:
        sim.kill()
        sim.wait()
