"""The `rq` subcommands over a small vault made in the test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.timefmt import MS_PER_HOUR
from rq_actors.core.trades.record import encode_trade
from rq_actors.io.instruments import meta_to_doc
from rq_actors.io.vault.files import atomic_write_json
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade

INST = "BTC-USDT-SWAP"
META = InstrumentMeta(INST, "SWAP", "0.01", "1", "linear", "0.1", "0.01")
T0 = 1_765_756_800_000  # 2025-12-15T00:00:00Z


def _rq(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rq_actors", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def _vault(tmp_path: Path) -> tuple[Path, VaultPaths]:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'instruments = ["{INST}"]\n[vault]\nroot = "vault"\n')
    paths = VaultPaths(tmp_path / "vault")
    atomic_write_json(paths.instrument_meta(INST), meta_to_doc(META, {}, T0))
    lines = [
        encode_trade(
            Trade(INST, 1000 + i, T0 + i * 20_000, "buy" if i % 3 else "sell", f"{100 + i}.5", "2"),
            META,
        )
        for i in range(12)  # four minutes
    ]
    f = paths.trades_file(INST, T0)
    f.parent.mkdir(parents=True)
    f.write_bytes(b"".join(line + b"\n" for line in lines))
    return cfg, paths


def test_trades_prints_the_vault_day(tmp_path: Path) -> None:
    cfg, paths = _vault(tmp_path)
    out = _rq("trades", str(cfg), "--instrument", INST, "--date", "2025-12-15", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.encode() == paths.trades_file(INST, T0).read_bytes()
    limited = _rq("trades", str(cfg), "--instrument", INST, "--limit", "3", cwd=tmp_path)
    assert len(limited.stdout.splitlines()) == 3
    other = _rq("trades", str(cfg), "--instrument", "ETH-USDT-SWAP", cwd=tmp_path)
    assert other.returncode == 2


@pytest.mark.slow
def test_derive_writes_once_and_rebuild_is_identical(tmp_path: Path) -> None:
    cfg, paths = _vault(tmp_path)
    first = _rq("derive", str(cfg), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    cvd = paths.cvd_file(INST, "1m", "2025-12-15").read_bytes()
    # 12 trades over 4 minutes: the first 3 minutes are final, the 4th waits for a later trade
    assert [orjson.loads(x)["window_start_utc"] for x in cvd.splitlines()] == [
        "2025-12-15T00:00:00Z",
        "2025-12-15T00:01:00Z",
        "2025-12-15T00:02:00Z",
    ]
    again = _rq("derive", str(cfg), cwd=tmp_path)
    assert "0 records written" in again.stdout
    rebuilt = _rq("derive", str(cfg), "--rebuild", "--only", "cvd", cwd=tmp_path)
    assert rebuilt.returncode == 0
    assert paths.cvd_file(INST, "1m", "2025-12-15").read_bytes() == cvd
    bad = _rq("derive", str(cfg), "--only", "cvd,nope", cwd=tmp_path)
    assert bad.returncode == 2 and "nope" in bad.stderr


def test_status_prints_the_latest_line_per_actor(tmp_path: Path) -> None:
    cfg, paths = _vault(tmp_path)
    empty = _rq("status", str(cfg), cwd=tmp_path)
    assert empty.returncode == 1 and "no health lines" in empty.stdout
    log = paths.health_log()
    log.parent.mkdir(parents=True)
    line = {"ts": "x", "actor": "book", "inst_id": INST, "restarts": 0, "lag_ms": 5,
            "counters": {"gaps": 1}, "last_error": None}  # fmt: skip
    log.write_bytes(
        orjson.dumps({**line, "state": "starting"})
        + b"\n"
        + orjson.dumps({**line, "state": "running"})
        + b"\n"
        + b'{"torn'
    )
    out = _rq("status", str(cfg), cwd=tmp_path)
    assert out.returncode == 1  # no process holds the vault: the last `running` is stale
    rows = out.stdout.splitlines()
    assert rows[0].split()[:3] == ["INSTRUMENT", "ACTOR", "STATE"]
    assert rows[1].split()[:3] == [INST, "book", "stale"]
    assert "gaps=1" in rows[1]
    assert "not running" in rows[-1]


def test_retention_compresses_old_hours(tmp_path: Path) -> None:
    cfg, paths = _vault(tmp_path)
    now = int(time.time() * 1000)
    old_ms = now - 10 * MS_PER_HOUR
    old = paths.l2_file(INST, old_ms)
    old.parent.mkdir(parents=True)
    old.write_bytes(b'{"x":1}\n')
    current = paths.l2_file(INST, now)
    current.parent.mkdir(parents=True, exist_ok=True)
    current.write_bytes(b'{"x":2}\n')
    out = _rq("retention", str(cfg), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "compressed 1 file(s)" in out.stdout
    assert not old.exists()
    assert old.with_name(old.name + ".gz").exists()
    assert current.exists()
    assert os.listdir(current.parent)  # the hour being written is untouched
