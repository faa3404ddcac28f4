"""Delivery over real loopback HTTP to the fake receiver: signature, idempotency key, 429
`retry_after`, 5xx backoff, stale drop, no resend after ack, a hanging receiver, secrets never
shown. Time is trio's MockClock (it jumps only when every task has waited 50 ms of real time,
so loopback I/O is never overtaken)."""

from __future__ import annotations

import hashlib
import hmac
import io
import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
import trio
from trio.testing import MockClock

from rq_actors.actors.alerts import outbox_path, run_alerts
from rq_actors.config import Config, parse_config
from rq_actors.io.alerts.notifiers import build_notifiers
from rq_actors.io.health import HealthLog
from rq_actors.io.live_bus import LiveBus
from tests.helpers.alerts import INST, T0, signal
from tests.helpers.receiver import Receiver, Reply

SECRET_TOKEN = "T0PSECRET-tok3n-987654321-abcdefghijkl"
SECRET_HMAC = "hmac-key-SHOULD-NEVER-LEAK-424242"
WALL0 = 1_800_000_000_000
UNLIMITED = {"rate_limit": {"max_alerts": 1000}}


@pytest.fixture
def clock() -> MockClock:  # a test takes it as an argument: pytest-trio runs on it
    return MockClock(autojump_threshold=0.05)


def wall_ms() -> int:
    return WALL0 + int(trio.current_time() * 1000)


@attrs.define
class Harness:
    bus: LiveBus
    log: HealthLog
    stderr: io.StringIO
    config: Config
    receiver: Receiver

    def health(self, name: str) -> dict[str, Any]:
        rep = next(r for r in self.log.reporters if r.actor == f"alerts.{name}")
        return dict(rep.counters, state=rep.state, last_error=rep.last_error)

    def journal(self) -> list[dict[str, Any]]:
        return [orjson.loads(x) for x in outbox_path(self.config).read_bytes().splitlines()]


def make_config(
    tmp: Path, receiver: Receiver, kind: str, **alerts: Any
) -> tuple[Config, dict[str, str]]:
    env = {"RQ_HOOK_URL": f"{receiver.base_url}/hook/{SECRET_TOKEN}", "RQ_HOOK_KEY": SECRET_HMAC}
    env["RQ_TG_TOKEN"] = SECRET_TOKEN
    notifier = {
        "discord": {"kind": "discord", "url_env": "RQ_HOOK_URL"},
        "telegram": {
            "kind": "telegram",
            "token_env": "RQ_TG_TOKEN",
            "chat_id": "42",
            "api_base": receiver.base_url,
        },
        "webhook": {"kind": "webhook", "url_env": "RQ_HOOK_URL", "secret_env": "RQ_HOOK_KEY"},
    }[kind]
    doc = {
        "instruments": [INST],
        "vault": {"root": str(tmp / "vault")},
        "alerts": {"notifiers": [notifier], **alerts},
    }
    return parse_config(doc), env


@asynccontextmanager
async def running(
    tmp: Path, receiver: Receiver, kind: str, **alerts: Any
) -> AsyncIterator[Harness]:
    config, env = make_config(tmp, receiver, kind, **alerts)
    stderr = io.StringIO()
    log = HealthLog(tmp / "health.jsonl", stderr=stderr)
    bus = LiveBus()
    async with trio.open_nursery() as nursery:
        notifiers = build_notifiers(config.alerts, config.source, env)
        await nursery.start(
            lambda task_status: run_alerts(
                config, bus, log, notifiers, wall_ms=wall_ms, task_status=task_status
            )
        )
        yield Harness(bus, log, stderr, config, receiver)
        nursery.cancel_scope.cancel()
    log.close()
    text = stderr.getvalue() + (tmp / "health.jsonl").read_text() + outbox_path(config).read_text()
    assert SECRET_TOKEN not in text and SECRET_HMAC not in text


@asynccontextmanager
async def receiving(*script: Reply, default: Reply | None = None) -> AsyncIterator[Receiver]:
    async with trio.open_nursery() as nursery:
        receiver = await nursery.start(Receiver(*script, default=default).serve)
        yield receiver
        nursery.cancel_scope.cancel()


def setup_record(n: int = 0) -> Any:
    return signal("appeared", T0 + n * 60_000, id=f"{INST}:5m:{n}:upper")


async def test_webhook_body_is_signed_and_carries_the_idempotency_key(
    tmp_path: Path, clock: MockClock
) -> None:
    async with receiving() as rx, running(tmp_path, rx, "webhook") as h:
        h.bus.publish([setup_record()])
        (req,) = await rx.wait_for(1)
        await wait_until(lambda: h.health("webhook")["sent"] == 1)
    expected = "sha256=" + hmac.new(SECRET_HMAC.encode(), req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-rq-signature"] == expected
    body = req.json()
    assert req.headers["idempotency-key"] == body["idempotency_key"]
    assert body["rule"] == "setups" and body["instId"] == INST
    assert body["fields"]["tier"] == "EXACT" and "SHORT fade" in body["title"]
    assert req.target == f"/hook/{SECRET_TOKEN}"
    lines = h.journal()
    assert [x["op"] for x in lines] == ["add", "done"] and lines[1]["outcome"] == "sent"
    assert lines[0]["key"] == body["idempotency_key"] == lines[1]["key"]


async def test_discord_429_retry_after_is_honoured(tmp_path: Path, clock: MockClock) -> None:
    limited = Reply(429, {"message": "You are being rate limited.", "retry_after": 7.5})
    async with receiving(limited) as rx, running(tmp_path, rx, "discord") as h:
        h.bus.publish([setup_record()])
        first, second = await rx.wait_for(2)
        await wait_until(lambda: h.health("discord")["sent"] == 1)
    assert second.arrived_at - first.arrived_at >= 7.5
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert "SHORT fade" in second.json()["content"]
    assert h.health("discord")["retried"] == 1 and h.health("discord")["last_status"] == 200


async def test_telegram_429_parameters_retry_after_is_honoured(
    tmp_path: Path, clock: MockClock
) -> None:
    limited = Reply(429, {"ok": False, "error_code": 429, "parameters": {"retry_after": 30}})
    async with receiving(limited) as rx, running(tmp_path, rx, "telegram") as h:
        h.bus.publish([setup_record()])
        first, second = await rx.wait_for(2)
        await wait_until(lambda: h.health("telegram")["sent"] == 1)
    assert second.arrived_at - first.arrived_at >= 30
    assert second.target == f"/bot{SECRET_TOKEN}/sendMessage"
    assert second.json()["chat_id"] == "42" and "SHORT fade" in second.json()["text"]


async def test_5xx_is_retried_with_capped_exponential_backoff(
    tmp_path: Path, clock: MockClock
) -> None:
    script = [Reply(500), Reply(503), Reply(502), Reply(500)]
    async with (
        receiving(*script) as rx,
        running(tmp_path, rx, "webhook", retry_initial_s=2.0, retry_max_s=5.0) as h,
    ):
        h.bus.publish([setup_record()])
        reqs = await rx.wait_for(5)
        await wait_until(lambda: h.health("webhook")["sent"] == 1)
    gaps = [b.arrived_at - a.arrived_at for a, b in itertools.pairwise(reqs)]
    assert [round(g) for g in gaps] == [2, 4, 5, 5]  # 2, 4, then capped at 5
    assert len({r.headers["idempotency-key"] for r in reqs}) == 1
    assert h.health("webhook")["retried"] == 4


async def test_a_long_outage_ends_in_a_stale_drop_not_a_flood(
    tmp_path: Path, clock: MockClock
) -> None:
    async with (
        receiving(default=Reply(503)) as rx,
        running(tmp_path, rx, "webhook", max_age_s=60, retry_max_s=10) as h,
    ):
        h.bus.publish([setup_record(0), setup_record(1)])
        await wait_until(lambda: h.health("webhook")["dropped_stale"] == 2)
        seen = len(rx.requests)
        rx.default = Reply(200)
        h.bus.publish([setup_record(2)])
        await rx.wait_for(seen + 1)
        await wait_until(lambda: h.health("webhook")["sent"] == 1)
    fresh = rx.requests[-1].json()["fields"]["id"]
    assert fresh == setup_record(2).record["id"]
    assert [x["outcome"] for x in h.journal() if x["op"] == "done"] == ["stale", "stale", "sent"]


async def test_a_long_outage_within_max_age_is_delivered_afterwards(
    tmp_path: Path, clock: MockClock
) -> None:
    down = [Reply(503)] * 8
    async with receiving(*down) as rx, running(tmp_path, rx, "webhook", retry_max_s=30) as h:
        h.bus.publish([setup_record()])
        await rx.wait_for(9)
        await wait_until(lambda: h.health("webhook")["sent"] == 1)
    assert rx.requests[-1].arrived_at - rx.requests[0].arrived_at > 120
    assert h.health("webhook")["dropped_stale"] == 0


async def test_other_4xx_fails_at_once_and_is_counted(tmp_path: Path, clock: MockClock) -> None:
    async with (
        receiving(Reply(404, {"message": f"Unknown Webhook {SECRET_TOKEN}"})) as rx,
        running(tmp_path, rx, "discord") as h,
    ):
        h.bus.publish([setup_record(0)])
        await wait_until(lambda: h.health("discord")["failed"] == 1)
        h.bus.publish([setup_record(1)])
        await rx.wait_for(2)
        await wait_until(lambda: h.health("discord")["sent"] == 1)
    assert "404" in h.health("discord")["last_error"]
    assert SECRET_TOKEN not in h.health("discord")["last_error"]


async def test_no_resend_after_ack_across_a_clean_restart(tmp_path: Path, clock: MockClock) -> None:
    async with receiving() as rx:
        async with running(tmp_path, rx, "webhook") as h:
            h.bus.publish([setup_record(0)])
            await wait_until(lambda: h.health("webhook")["sent"] == 1)
        async with running(tmp_path, rx, "webhook") as h2:
            h2.bus.publish([setup_record(0), setup_record(1)])  # the old one made again: not new
            await rx.wait_for(2)
            await wait_until(lambda: h2.health("webhook")["sent"] == 1)
    keys = [r.headers["idempotency-key"] for r in rx.requests]
    assert len(keys) == 2 and len(set(keys)) == 2
    assert rx.requests[1].json()["fields"]["id"] == setup_record(1).record["id"]


async def test_unreachable_receiver_errors_are_scrubbed(
    tmp_path: Path, clock: MockClock, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    async with receiving() as rx:
        port = rx.port
    dead = Receiver()
    dead.port = port  # nothing listens there any more: connection refused
    async with running(tmp_path, dead, "telegram", max_age_s=20) as h:
        h.bus.publish([setup_record()])
        await wait_until(lambda: h.health("telegram")["dropped_stale"] == 1)
    assert h.health("telegram")["retried"] >= 3 and h.health("telegram")["last_status"] == 0
    assert "ConnectError" in h.health("telegram")["last_error"]
    assert SECRET_TOKEN not in caplog.text


async def test_a_hanging_receiver_never_blocks_the_bus_and_overflow_is_counted(
    tmp_path: Path, clock: MockClock
) -> None:
    async with (
        receiving(default=Reply(hang=True)) as rx,
        running(tmp_path, rx, "webhook", outbox_max=5, max_age_s=1e6, setups=UNLIMITED) as h,
    ):
        for n in range(20):
            h.bus.publish([setup_record(n)])  # returns at once whatever the receiver does
            await trio.sleep(0)
        await wait_until(lambda: h.health("webhook")["overflow"] == 15)
        await rx.wait_for(1)
        alerts = next(r for r in h.log.reporters if r.actor == "alerts")
        assert alerts.counters["alerts"] == 20 and alerts.counters["outbox_pending"] == 5
        assert h.bus.published == 20


async def test_a_malformed_record_is_counted_and_alerts_go_on(
    tmp_path: Path, clock: MockClock
) -> None:
    broken = setup_record(0)
    del broken.record["tip"]
    async with receiving() as rx, running(tmp_path, rx, "webhook") as h:
        h.bus.publish([broken, setup_record(1)])
        (req,) = await rx.wait_for(1)
        alerts = next(r for r in h.log.reporters if r.actor == "alerts")
        assert alerts.counters["bad_records"] == 1 and alerts.restarts == 0
    assert req.json()["fields"]["id"] == setup_record(1).record["id"]


async def wait_until(condition: Any) -> None:
    # On trio's mock clock: the longest test needs ~3 min of retries; each poll costs the 50 ms
    # of real idle time the clock waits before it jumps, so a stuck test fails within ~25 s.
    with trio.fail_after(900):
        while not condition():
            await trio.sleep(2)
