"""Chaos: `rq-run` against `rq sim` with every wire and REST fault on, injected actor crashes,
three SIGKILL restarts and a final SIGTERM. Then the vault is checked against the simulator's own
record of what it published:
- trades: every published trade in the captured range exactly once, byte-for-byte;
- books: every snapshot record equals the true book at its seqId; faults left gap records;
- derived: live outputs equal `rq derive --rebuild` on a copy of the vault (market time runs
  10x, so the run covers several minutes of windows, candles and wicks);
- health: every fault kind shows in the counters.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import httpx
import orjson
import pytest

from rq_actors.actors.testing_hooks import CRASH_ENV
from rq_actors.config import load_config
from rq_actors.core.trades.record import encode_trade
from rq_actors.io.instruments import read_saved_meta
from rq_actors.io.metrics.batch import derive_instrument
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade
from rq_actors.sim.recording import load_recording

pytestmark = pytest.mark.slow  # process-level or long end-to-end runs

INSTS = ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]
DEPTH = 50


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_sim(ws_port: int, rest_port: int, record_dir: Path) -> subprocess.Popen[bytes]:
    args = [
        "--port", str(ws_port), "--rest-port", str(rest_port), "--seed", "9",
        "--instruments", ",".join(INSTS), "--speed", "10", "--trades-per-s", "3", "--checksums",
        "--disconnect-every", "7", "--notice-every", "11", "--notice-close-after", "2",
        "--gap-prob", "0.002", "--reset-every", "150", "--bad-checksum-prob", "0.004",
        "--malformed-prob", "0.005", "--duplicate-prob", "0.02", "--unknown-inst-prob", "0.005",
        "--rest-error-prob", "0.1", "--rest-rate-limit", "--record-dir", str(record_dir),
    ]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "rq_actors", "sim", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{rest_port}/api/v5/public/instruments?instType=SWAP")
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("simulator did not come up")


def _write_config(tmp_path: Path, ws_port: int, rest_port: int) -> Path:
    cfg = tmp_path / "chaos.toml"
    cfg.write_text(
        f"instruments = {orjson.dumps(INSTS).decode()}\n"
        '[vault]\nroot = "vault"\n'
        "[exchange]\n"
        f'ws_public_url = "ws://127.0.0.1:{ws_port}/ws/v5/public"\n'
        f'ws_business_url = "ws://127.0.0.1:{ws_port}/ws/v5/business"\n'
        f'rest_url = "http://127.0.0.1:{rest_port}"\n'
        "[socket]\nreconnect_initial_s = 0.1\nreconnect_max_s = 1.0\n"
        "resubscribe_min_interval_s = 0.5\nsubscribe_timeout_s = 3.0\n"
        f"[book]\ndepth = {DEPTH}\nsnapshot_interval_s = 0.5\n"
        "[supervisor]\nmax_restarts = 50\nbackoff_initial_s = 0.05\nbackoff_max_s = 0.5\n"
        "[health]\nstderr = false\ninterval_s = 1.0\n"
    )
    return cfg


def _run_rq(cfg: Path, seconds: float, *, kill: bool) -> None:
    env = {**os.environ, CRASH_ENV: "book=6,trade_writer=5,cvd=5,wicks=4,socket=5"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rq_actors.commands.cli_run", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=cfg.parent,
        env=env,
    )
    with proc:  # closes the stderr pipe
        time.sleep(seconds)
        if kill:
            proc.kill()
            proc.wait()
        else:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=15)
            assert code == 0, (proc.stderr.read() if proc.stderr else b"").decode()[-3000:]


def _lines(folder: Path, pattern: str) -> list[bytes]:
    out: list[bytes] = []
    for f in sorted(folder.glob(pattern)):
        data = f.read_bytes()
        assert data == b"" or data.endswith(b"\n"), f"torn line left in {f}"
        out.extend(data.splitlines())
    return out


def _derived_files(root: Path) -> dict[str, bytes]:
    base = root / "derived"
    files = [*base.rglob("*.jsonl"), *base.rglob("wicks_active.json")]
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(files)}


def test_chaos_run_loses_nothing_and_stays_exact(tmp_path: Path) -> None:
    rng = random.Random(9)
    ws_port, rest_port = _free_port(), _free_port()
    record_dir = tmp_path / "truth"
    sim = _start_sim(ws_port, rest_port, record_dir)
    cfg = _write_config(tmp_path, ws_port, rest_port)
    try:
        for _ in range(3):
            _run_rq(cfg, rng.uniform(6.0, 9.0), kill=True)
            time.sleep(rng.uniform(0.3, 1.5))
        _run_rq(cfg, 14.0, kill=False)
    finally:
        sim.send_signal(signal.SIGTERM)  # it saves its record of what it published
        try:
            sim.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sim.kill()
    truth = load_recording(record_dir)
    vault = tmp_path / "vault"
    paths = VaultPaths(vault)

    summary: dict[str, int] = defaultdict(int)
    # trades: exactly the published ones, byte for byte
    for inst in INSTS:
        lines = _lines(paths.trades_dir(inst), "*.jsonl")
        ids = [int(orjson.loads(line)["trade_id"]) for line in lines]
        assert ids == sorted(set(ids)), f"{inst}: not strictly increasing"
        assert len(ids) > 500
        fills = [f for f in truth.fills[inst] if ids[0] <= f.trade_id <= ids[-1]]
        meta = read_saved_meta(paths, inst)
        assert meta is not None
        expected = [
            encode_trade(Trade(inst, f.trade_id, f.ts_ms, f.side, f.px, f.sz), meta)  # type: ignore[arg-type]
            for f in fills
        ]
        missing = sorted({f.trade_id for f in fills} - set(ids))
        assert not missing, f"{inst}: {len(missing)} published trades missing: {missing[:10]}"
        assert lines == expected
        summary["trades_checked"] += len(lines)

    # books: every valid snapshot is the true book at its seqId; faults produced gap records
    gap_records = 0
    checked = 0
    for inst in INSTS:
        seq_counts: dict[int, int] = defaultdict(int)
        for m in truth.book_log[inst]:
            seq_counts[m.seq_id] += 1
        for line in _lines(paths.l2_dir(inst), "*/*.jsonl"):
            rec = orjson.loads(line)
            if rec["gap_detected"]:
                gap_records += 1
                continue
            if seq_counts[rec["seqId"]] != 1:
                continue  # a seqId repeated by a sequence reset: ambiguous, skip
            bids, asks = truth.true_book(inst, rec["seqId"], DEPTH)
            assert rec["bids_top400"] == bids, f"{inst} seqId {rec['seqId']}: bids differ"
            assert rec["asks_top400"] == asks, f"{inst} seqId {rec['seqId']}: asks differ"
            checked += 1
    assert checked > 50
    assert gap_records > 0
    summary["book_snapshots_checked"] = checked
    summary["gap_records"] = gap_records

    # derived: the live outputs, after three SIGKILLs and injected crashes, equal a rebuild
    rebuilt_root = tmp_path / "rebuilt"
    shutil.copytree(vault, rebuilt_root)
    (rebuilt_root.parent / "rebuilt.toml").write_text(
        cfg.read_text().replace('root = "vault"', 'root = "rebuilt"')
    )
    config = load_config(rebuilt_root.parent / "rebuilt.toml")
    for inst in INSTS:
        derive_instrument(config, inst, rebuild=True)
    live, rebuilt = _derived_files(vault), _derived_files(rebuilt_root)
    assert live.keys() == rebuilt.keys()
    assert len(live) >= 14  # cvd, candles (1m, 5m), vwap, wick events, active wicks; x2
    for name in live:
        assert live[name] == rebuilt[name], f"derived file differs from rebuild: {name}"

    # health: every fault kind was seen and handled
    seen: dict[tuple[str, str], int] = defaultdict(int)
    restarts: dict[str, int] = defaultdict(int)
    for raw in (vault / "logs" / "health.jsonl").read_bytes().splitlines():
        try:
            rec = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        for key, value in rec["counters"].items():
            seen[(rec["actor"], key)] = max(seen[(rec["actor"], key)], value)
        restarts[rec["actor"]] = max(restarts[rec["actor"]], rec["restarts"])
    for actor, counter in [
        ("socket", "reconnects"),
        ("socket", "make_before_break"),
        ("socket", "quarantined"),
        ("book", "gaps"),
        ("book", "resubscribes"),
        ("book", "checksum_mismatches"),
        ("trade_writer", "duplicates_skipped"),
        ("trade_writer", "backfilled"),
    ]:
        assert seen[(actor, counter)] > 0, f"health never showed {actor}.{counter}"
    for actor in ("book", "trade_writer", "cvd", "wicks", "socket"):
        assert restarts[actor] > 0, f"{actor} was never restarted by the supervisor"
    summary["derived_files_compared"] = len(live)
    summary |= {f"{a}.{c}": v for (a, c), v in sorted(seen.items()) if v}
    summary |= {f"restarts.{a}": v for a, v in sorted(restarts.items()) if v}
    print("chaos summary:", orjson.dumps(summary).decode())  # figures for docs/RELIABILITY.md
