"""`[web]` config and `rq web CONFIG`: defaults, the loopback/token rule and the secret's form,
and the command serving a vault over real HTTP, then stopping cleanly on SIGINT."""

from __future__ import annotations

import errno
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

from rq_actors.config import ConfigError, parse_config
from tests.helpers.web import INST, build_demo_vault


def _web(web: dict[str, object]) -> object:
    return parse_config({"instruments": [INST], "web": web}, "c.toml").web


def test_web_defaults_are_loopback_and_on() -> None:
    web = parse_config({"instruments": [INST]}).web
    assert (web.enabled, web.bind, web.port, web.token) == (True, "127.0.0.1", 8765, None)
    assert web.token_value() is None


@pytest.mark.parametrize(
    ("web", "key", "words"),
    [
        ({"bind": "0.0.0.0"}, "web.bind", "not loopback"),
        ({"bind": "192.168.1.5"}, "web.bind", "not loopback"),
        ({"token": "hunter2"}, "web.token", "environment variable"),
        ({"token": "env:RQ_TEST_SURELY_UNSET"}, "web.token", "is not set"),
        ({"port": 70000}, "web.port", "0..65535"),
        ({"port": "80"}, "web.port", "expected int"),
        ({"colour": "red"}, "web", "unknown key"),
    ],
)
def test_bad_web_config_names_the_key(web: dict[str, object], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        _web(web)
    assert str(err.value).startswith(f"c.toml: {key}") and words in str(err.value)
    assert "hunter2" not in str(err.value)  # a secret written by mistake is not echoed


def test_public_bind_with_token_and_loopback_variants(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RQ_TEST_TOKEN", "abc")
    web = parse_config(
        {"instruments": [INST], "web": {"bind": "0.0.0.0", "token": "env:RQ_TEST_TOKEN"}}
    ).web
    assert web.token_value() == "abc"
    for host in ("::1", "localhost", "127.0.0.2"):
        assert parse_config({"instruments": [INST], "web": {"bind": host}}).web.bind == host
    off = parse_config({"instruments": [INST], "web": {"enabled": False, "bind": "0.0.0.0"}})
    assert off.web.enabled is False  # nothing listens, so nothing to protect


def test_rq_web_serves_a_vault_and_stops_on_sigint(tmp_path: Path) -> None:
    config = build_demo_vault(tmp_path / "vault")
    cfg = tmp_path / "web.toml"
    insts = ", ".join(f'"{i}"' for i in config.instruments)
    cfg.write_text(f'instruments = [{insts}]\n[vault]\nroot = "vault"\n[web]\nport = 0\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "rq_actors", "web", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with proc:
        _serve_then_stop(proc)
    assert proc.returncode == 0


def _serve_then_stop(proc: subprocess.Popen[str]) -> None:
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the listener is up
        assert "rq web: dashboard of" in line, line
        base = line.split(" at ")[1].split("/ ")[0]
        assert base.startswith("http://127.0.0.1:")
        r = httpx.get(f"{base}/api/{INST}/candles", params={"limit": "5"}, timeout=10)
        assert r.status_code == 200 and len(r.json()["records"]) == 5
        assert httpx.get(f"{base}/api/health", timeout=10).json()["live"] is False
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=15)
        assert code == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_rq_web_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cfg = tmp_path / "web.toml"
        cfg.write_text(f'instruments = ["{INST}"]\n[web]\nport = {taken.getsockname()[1]}\n')
        proc = subprocess.run(
            [sys.executable, "-m", "rq_actors", "web", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("rq web: cannot listen on 127.0.0.1:")
    assert proc.stderr.count("\n") == 1, proc.stderr


async def test_a_stop_while_the_web_task_fails_to_bind_is_a_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C while the listener fails (its port taken by another `rq-run`): the stop wins.

    A soak found it: the failure and the cancellation met in one exception group, the
    cancellation was absorbed on the way out and `rq-run` exited 2, "the port is in use"."""
    from rq_actors.io.health import HealthLog
    from rq_actors.web import server

    async def failing_bind(*args: object, **kwargs: object) -> None:
        async def bind() -> None:  # fails just as the stop arrives, as hypercorn's listener can
            try:
                await trio.sleep_forever()
            except trio.Cancelled:
                raise OSError(errno.EADDRINUSE, "Address already in use") from None

        async with trio.open_nursery() as nursery:
            nursery.start_soon(bind)
            await trio.sleep_forever()

    monkeypatch.setattr(server, "serve_app", failing_bind)
    config = parse_config({"instruments": [INST], "web": {"port": 0}}, "c.toml")
    with trio.move_on_after(0.05) as scope:
        await server.run_web(config, None, HealthLog(None, stderr=None))
    assert scope.cancelled_caught
