"""User-caused failures of `rq` and `rq-run`: one line on stderr saying what to do, exit code 2,
never a traceback; Ctrl-C on `rq sim` is a quiet exit 0."""

from __future__ import annotations

import errno
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rq_actors.commands.boundary import EXIT_USER_ERROR, guarded

INST = "BTC-USDT-SWAP"


def _run(*argv: str, cwd: Path, module: str = "rq_actors") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *argv], capture_output=True, text=True, timeout=60, cwd=cwd
    )


def _one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _config(tmp_path: Path, root: str, name: str = "c.toml") -> Path:
    cfg = tmp_path / name
    cfg.write_text(
        f'instruments = ["{INST}"]\n[vault]\nroot = "{root}"\n[exchange]\nsimulate = true\n'
    )
    return cfg


@pytest.mark.parametrize("root", ["/proc/vault", "a-file/vault"])
def test_rq_run_with_an_unwritable_vault_says_so_in_one_line(tmp_path: Path, root: str) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    cfg = _config(tmp_path, root)
    out = _run(str(cfg), cwd=tmp_path, module="rq_actors.commands.cli_run")
    assert out.returncode == EXIT_USER_ERROR
    line = _one_line(out.stderr)
    assert line.startswith("rq-run: cannot write the vault folder ")
    assert "[vault] root" in line and str(cfg.name) in line


def test_bad_config_is_prefixed_with_the_command_run(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'instruments = ["{INST}"]\n[book]\ndepth = 500\n')
    run = _run(str(cfg), cwd=tmp_path, module="rq_actors.commands.cli_run")
    assert (
        _one_line(run.stderr)
        == f"rq-run: bad config: {cfg}: book.depth: must be in 1..400, got 500"
    )
    status = _run("status", str(cfg), cwd=tmp_path)
    assert status.returncode == EXIT_USER_ERROR
    assert _one_line(status.stderr).startswith("rq status: bad config: ")


@pytest.mark.parametrize("day", ["2026-13-01", "20261201", "yesterday", "2026-02-30"])
def test_trades_rejects_an_impossible_date(tmp_path: Path, day: str) -> None:
    cfg = _config(tmp_path, "vault")
    out = _run("trades", str(cfg), "--instrument", INST, "--date", day, cwd=tmp_path)
    assert out.returncode == EXIT_USER_ERROR
    assert out.stdout == ""
    assert _one_line(out.stderr) == (
        f"rq trades: --date {day!r} is not a date; use YYYY-MM-DD, e.g. 2026-01-31"
    )


def test_a_lowercase_instid_gets_the_right_spelling(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "vault")
    out = _run("trades", str(cfg), "--instrument", INST.lower(), cwd=tmp_path)
    assert out.returncode == EXIT_USER_ERROR
    line = _one_line(out.stderr)
    assert line.startswith(f"rq trades: {INST.lower()} is not in ")
    assert line.endswith(f"did you mean {INST}?")


def test_versions(tmp_path: Path) -> None:
    rq = _run("--version", cwd=tmp_path)
    run = _run("--version", cwd=tmp_path, module="rq_actors.commands.cli_run")
    assert rq.returncode == run.returncode == 0
    assert rq.stdout.split()[0] == "rq" and run.stdout.split()[0] == "rq-run"
    assert rq.stdout.split()[1] == run.stdout.split()[1] != "unknown"


def test_ctrl_c_stops_rq_sim_quietly_after_saying_how_to_use_it(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rq_actors", "sim", "--instruments", INST],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline()]  # printed once the sockets listen
        assert lines[0].startswith("OKX simulator")
        while not lines[-1].lstrip().startswith("rest_url = "):  # the last line printed
            lines.append(proc.stdout.readline())
            assert lines[-1], lines
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=20)
        out = "".join(lines) + rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert 'ws_public_url = "ws://127.0.0.1:' in out  # how to point rq-run at it


def _raise(exc: BaseException) -> int:
    raise exc


def test_guard_unwraps_exception_groups(capsys: pytest.CaptureFixture[str]) -> None:
    denied = PermissionError(errno.EACCES, "Permission denied", "/srv/vault/raw")
    group = BaseExceptionGroup(
        "nursery", [BaseExceptionGroup("inner", [denied]), KeyboardInterrupt()]
    )
    assert guarded("rq-run", lambda: _raise(group), interrupt_code=130) == EXIT_USER_ERROR
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("rq-run: Permission denied: /srv/vault/raw (")
    interrupts = BaseExceptionGroup("nursery", [KeyboardInterrupt(), KeyboardInterrupt()])
    assert guarded("rq-run", lambda: _raise(interrupts), interrupt_code=130) == 130
    assert capsys.readouterr().err == ""
    assert guarded("rq sim", lambda: 0, interrupt_code=0) == 0


def test_guard_keeps_the_traceback_of_a_bug() -> None:
    bug = ExceptionGroup("nursery", [ZeroDivisionError("a bug"), PermissionError(13, "denied")])
    with pytest.raises(ExceptionGroup):
        guarded("rq-run", lambda: _raise(bug), interrupt_code=130)
