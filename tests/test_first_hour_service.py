"""The systemd unit in docs/ is well-formed and runs `rq-run` the way OPERATIONS.md says."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from rq_actors.config import SupervisorConfig

UNIT = Path(__file__).resolve().parent.parent / "docs" / "rq-run.service"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_runs_rq_run_restarting_and_stopping_cleanly() -> None:
    unit = _unit()
    assert unit.sections() == ["Unit", "Service", "Install"]
    service = unit["Service"]
    exec_start = service["ExecStart"].split()
    assert exec_start[0].endswith("/rq-run") and exec_start[1].endswith(".toml")
    assert service["User"] != "root"
    assert service["Restart"] == "always"
    assert service["KillSignal"] in ("SIGTERM", "SIGINT")  # the signals rq-run flushes on
    assert float(service["TimeoutStopSec"]) > SupervisorConfig().shutdown_grace_s
    assert service["ReadWritePaths"].endswith("/vault")
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not here")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    copy = tmp_path / "rq-run.service"
    copy.write_text(UNIT.read_text().replace("/opt/rq-actors/.venv/bin/rq-run", "/bin/true"))
    out = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    # An unknown key or bad value is only a warning naming the file; it still exits 0.
    assert str(copy) not in out.stderr, out.stderr
