"""The alerts actor: one per process. Live bus → rules → outbox → one delivery task per notifier.

It subscribes to the live bus with a bounded buffer, so a slow alerts actor loses records (the
subscription's `dropped`, reported as `bus_dropped`) instead of slowing capture or derivation.
A notifier that hangs only stalls its own delivery task; the alerts it owes wait in the bounded
outbox (overflow counted). `run_alerts` restarts the actor after a failure with capped backoff;
the outbox is re-read, so nothing journaled is lost.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import trio

from rq_actors.config import Config
from rq_actors.core.alerts.rules import AlertRules
from rq_actors.io.alerts.delivery import Delivery
from rq_actors.io.alerts.notifiers import Notifier
from rq_actors.io.alerts.outbox import Outbox
from rq_actors.io.health import HealthLog, HealthReporter
from rq_actors.io.live_bus import LiveBus
from rq_actors.messages import LiveRecord
from rq_actors.supervisor import describe_error

PROCESS = "*"  # the health lines' instId: one alerts actor serves every instrument


def _wall_ms() -> int:
    return int(time.time() * 1000)


def outbox_path(config: Config) -> Path:
    return config.vault_root / "alerts" / "outbox.jsonl"


class AlertsActor:
    def __init__(
        self,
        config: Config,
        bus: LiveBus,
        notifiers: list[Notifier],
        rules: AlertRules,
        health: HealthReporter,
        notifier_health: dict[str, HealthReporter],
        *,
        wall_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        self._cfg = config.alerts
        self._dropped_before = health.counters.get("bus_dropped", 0)  # by earlier runs
        self._path = outbox_path(config)
        self._bus = bus
        self._notifiers = notifiers
        self._rules = rules
        self._health = health
        self._notifier_health = notifier_health
        self._wall_ms = wall_ms
        self._deliveries: list[Delivery] = []

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        outbox = Outbox(self._path, [n.name for n in self._notifiers], self._cfg.outbox_max)
        self._deliveries = [
            Delivery(n, outbox, self._cfg, self._notifier_health[n.name], self._wall_ms)
            for n in self._notifiers
        ]
        try:
            with self._bus.subscribe(self._cfg.bus_capacity) as sub:
                async with trio.open_nursery() as nursery:
                    for delivery in self._deliveries:
                        nursery.start_soon(delivery.run)
                    self._health.set_state("running")
                    self._count(outbox, sub.dropped)
                    task_status.started()
                    async for item in sub.receive:
                        self._on_record(outbox, item)
                        self._count(outbox, sub.dropped)
        finally:
            outbox.close()

    def _on_record(self, outbox: Outbox, item: LiveRecord) -> None:
        self._health.incr("records_in")
        self._health.observe_event_time(item.time_ms)
        try:
            alerts = self._rules.feed(item)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            # a record without the fields a rule reads (another writer's schema drift) must not
            # stop alerts for everything else
            self._health.incr("bad_records")
            self._health.last_error = f"{item.kind}/{item.stream}: {describe_error(exc)}"
            return
        for alert in alerts:
            if outbox.add(alert, self._wall_ms()):
                self._health.incr("alerts")
            else:
                self._health.incr("duplicates")
        for delivery in self._deliveries:
            delivery.ring()

    def _count(self, outbox: Outbox, bus_dropped: int) -> None:
        counters = self._health.counters
        counters["bus_dropped"] = self._dropped_before + bus_dropped
        counters["rate_limited"] = self._rules.rate_limited
        counters["outbox_pending"] = len(outbox.pending)
        for name, n in outbox.overflow.items():
            self._notifier_health[name].counters["overflow"] = n


async def run_alerts(
    config: Config,
    bus: LiveBus,
    health_log: HealthLog,
    notifiers: list[Notifier],
    *,
    wall_ms: Callable[[], int] = _wall_ms,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """The alerts actor, restarted after a failure (backoff per `[supervisor]`), until cancelled.

    `task_status.started()` once the bus subscription exists: records published from then on
    are seen."""
    health = health_log.reporter("alerts", PROCESS)
    per_notifier = {n.name: health_log.reporter(f"alerts.{n.name}", PROCESS) for n in notifiers}
    rules = AlertRules(config.alerts)  # kept across restarts: hysteresis and rate limits too
    policy = config.supervisor
    failures = 0
    try:
        while True:
            actor = AlertsActor(
                config, bus, notifiers, rules, health, per_notifier, wall_ms=wall_ms
            )
            try:
                await actor.run(task_status)
                return
            except Exception as exc:
                task_status = trio.TASK_STATUS_IGNORED
                failures += 1
                health.restarts += 1
                health.error(_scrubbed(describe_error(exc), notifiers))
                health.set_state("restarting")
                exp = min(failures - 1, 60)
                backoff = policy.backoff_initial_s * math.pow(2, exp)
                await trio.sleep(min(policy.backoff_max_s, backoff))
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(2):
            for n in notifiers:
                await n.aclose()
        health.set_state("stopped")


def _scrubbed(text: str, notifiers: list[Notifier]) -> str:
    for n in notifiers:
        scrub = getattr(n, "scrub", None)
        if scrub is not None:
            text = scrub(text)
    return text
