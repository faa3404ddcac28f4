"""One writer per vault: a second rq-run and rq derive are refused while rq-run runs; after a
kill -9 the lock is free again and `rq status` no longer says `running`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rq_actors.io.health_read import latest_by_actor
from rq_actors.io.vault.lock import VaultLock, VaultLocked, read_holder


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        'instruments = ["BTC-USDT-SWAP"]\n'
        '[vault]\nroot = "vault"\n'
        "[exchange]\nsimulate = true\n"
        "[health]\ninterval_s = 0.5\nstderr = false\n"
    )
    return cfg


def _rq(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rq_actors", *args], capture_output=True, text=True, cwd=cwd,
        timeout=120,
    )  # fmt: skip


def _wait_for(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    with VaultLock(tmp_path, "rq-run"):
        holder = read_holder(tmp_path)
        assert holder is not None and (holder.pid, holder.command) == (os.getpid(), "rq-run")
        assert holder.alive
        with pytest.raises(VaultLocked, match=f"rq-run \\(pid {os.getpid()}\\)"):
            VaultLock(tmp_path, "rq derive").acquire()
    assert read_holder(tmp_path) is None  # released: the file names nobody
    lock = VaultLock(tmp_path, "rq derive")
    lock.acquire()
    with lock:  # entering an acquired lock keeps it (no second flock on a new descriptor)
        assert read_holder(tmp_path) is not None
    assert read_holder(tmp_path) is None


def test_unwritable_vault_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(VaultLocked, match="cannot create the vault lock"):
        VaultLock(blocker / "vault", "rq-run").acquire()


def test_second_writer_refused_and_kill9_leaves_status_stale(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    health = tmp_path / "vault" / "logs" / "health.jsonl"
    first = subprocess.Popen(
        [sys.executable, "-m", "rq_actors.commands.cli_run", str(cfg)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
    )  # fmt: skip
    try:
        _wait_for(
            lambda: any(v["state"] == "running" for v in latest_by_actor(health).values()),
            "rq-run running",
        )
        live = _rq(tmp_path, "status", str(cfg))
        assert live.returncode == 0 and live.stdout.splitlines()[-1] == "rq-run is running"

        second = subprocess.run(
            [sys.executable, "-m", "rq_actors.commands.cli_run", str(cfg)],
            capture_output=True, text=True, cwd=tmp_path, timeout=60,
        )  # fmt: skip
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [second.stderr.strip()]  # one line
        assert f"pid {first.pid}" in second.stderr and second.stderr.startswith("rq-run:")

        derive = _rq(tmp_path, "derive", str(cfg))
        assert derive.returncode == 2 and f"pid {first.pid}" in derive.stderr
        assert len(derive.stderr.strip().splitlines()) == 1

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        gone = _rq(tmp_path, "status", str(cfg))
        assert gone.returncode == 1
        rows = gone.stdout.splitlines()
        assert "running" not in {row.split()[2] for row in rows[1:-1]}
        assert "stale" in {row.split()[2] for row in rows[1:-1]}
        assert f"pid {first.pid}) is gone" in rows[-1]
        # flock died with the process: the vault is free for the next writer at once.
        with VaultLock(tmp_path / "vault", "test"):
            pass
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
