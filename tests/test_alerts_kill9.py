"""`kill -9` between send and acknowledgement: after a restart the alert is sent once more with
the same idempotency key; a clean restart resends nothing. Real processes, real loopback HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import trio

from tests.helpers.receiver import Receiver, Reply

SECRET = "kill9-secret-hmac-key-0123456789"

# A real process running the alerts actor: it publishes N setup events, then runs until killed.
DRIVER = """
import sys, trio
from rq_actors.actors.alerts import run_alerts
from rq_actors.io.live_bus import LiveBus
from rq_actors.config import load_config
from rq_actors.io.alerts.notifiers import build_notifiers
from rq_actors.io.health import HealthLog
from tests.helpers.alerts import signal

async def main(path, first, count):
    config = load_config(path)
    bus = LiveBus()
    log = HealthLog(config.vault_root / "logs" / "health.jsonl", stderr=sys.stderr)
    import os
    notifiers = build_notifiers(config.alerts, config.source, os.environ)
    async with trio.open_nursery() as nursery:
        await nursery.start(run_alerts, config, bus, log, notifiers)
        for n in range(first, first + count):
            bus.publish([signal("appeared", 1767225600000 + n * 60000, id=f"setup-{n}")])
        await trio.sleep_forever()

trio.run(main, sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
"""


def write_config(tmp: Path, receiver: Receiver) -> Path:
    path = tmp / "alerts.toml"
    path.write_text(
        f"""instruments = ["BTC-USDT-SWAP"]
[vault]
root = "{tmp / "vault"}"
[alerts]
retry_initial_s = 0.2
[[alerts.notifiers]]
kind = "webhook"
url_env = "RQ_TEST_HOOK_URL"
secret_env = "RQ_TEST_HOOK_KEY"
timeout_s = 600
"""
    )
    return path


async def start(config: Path, first: int, count: int, receiver: Receiver, log: Path):
    env = dict(os.environ, RQ_TEST_HOOK_URL=f"{receiver.base_url}/in", RQ_TEST_HOOK_KEY=SECRET)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    with log.open("ab") as err:
        return await trio.lowlevel.open_process(
            [sys.executable, "-c", DRIVER, str(config), str(first), str(count)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def journal(config_dir: Path) -> list[dict[str, object]]:
    path = config_dir / "vault" / "alerts" / "outbox.jsonl"
    return [orjson.loads(x) for x in path.read_bytes().splitlines()] if path.exists() else []


async def until_sent(tmp: Path, count: int) -> None:
    while sum(1 for x in journal(tmp) if x.get("outcome") == "sent") < count:
        await trio.sleep(0.05)


async def test_kill9_between_send_and_ack_repeats_once_with_the_same_key(tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"
    async with trio.open_nursery() as nursery:
        rx: Receiver = await nursery.start(Receiver(Reply(hang=True)).serve)
        config = write_config(tmp_path, rx)
        with trio.fail_after(120):
            first = await start(config, 0, 1, rx, log)
            (hung,) = await rx.wait_for(1)  # sent, never acknowledged
            first.send_signal(signal.SIGKILL)
            assert await first.wait() == -signal.SIGKILL

            second = await start(config, 0, 0, rx, log)  # publishes nothing new
            await rx.wait_for(2)
            await until_sent(tmp_path, 1)
            second.terminate()
            await second.wait()

            third = await start(config, 1, 1, rx, log)  # one new setup only
            await rx.wait_for(3)
            await until_sent(tmp_path, 2)
            third.send_signal(signal.SIGKILL)
            await third.wait()
        nursery.cancel_scope.cancel()

    keys = [r.headers["idempotency-key"] for r in rx.requests]
    assert keys[0] == keys[1] == hung.json()["idempotency_key"]  # the one repeat, same key
    assert len(keys) == 3 and keys[2] != keys[0]  # the clean restart resent nothing
    assert rx.requests[2].json()["fields"]["id"] == "setup-1"
    assert rx.requests[0].body == rx.requests[1].body  # byte-identical, same signature
    assert rx.requests[0].headers["x-rq-signature"] == rx.requests[1].headers["x-rq-signature"]
    everything = log.read_text() + (tmp_path / "vault" / "logs" / "health.jsonl").read_text()
    everything += (tmp_path / "vault" / "alerts" / "outbox.jsonl").read_text()
    assert SECRET not in everything and "Traceback" not in log.read_text()
