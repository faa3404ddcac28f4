"""One delivery loop per notifier: the oldest alert it owes, sent until the receiver says 2xx.

- 2xx: done (`sent`); the outbox never offers it to this notifier again.
- 429: wait what the receiver asked (`retry_after`, capped by `retry_after_max_s`), then retry.
- 5xx, 408, no answer, timeout: retry after a capped exponential backoff
  (`retry_initial_s` × 2^n, at most `retry_max_s`).
- any other 4xx (a bad token, a deleted webhook): asking again cannot help; done (`failed`).
- before each attempt: an alert older than `max_age_s` (wall clock since it was journaled) is
  dropped (`stale`), so an outage does not end in a flood of old setups.
Waits run on trio's clock (MockClock in tests); ages on the injected wall clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import trio

from rq_actors.io.alerts.notifiers import Notifier, SendResult
from rq_actors.io.alerts.outbox import Pending
from rq_actors.io.health import HealthReporter

COUNTERS = ("sent", "retried", "dropped_stale", "overflow", "failed", "last_status")


class DeliverySettings(Protocol):
    @property
    def max_age_s(self) -> float: ...
    @property
    def retry_initial_s(self) -> float: ...
    @property
    def retry_max_s(self) -> float: ...
    @property
    def retry_after_max_s(self) -> float: ...


class Journal(Protocol):
    """The outbox as the delivery loop sees it."""

    def next_for(self, notifier: str) -> Pending | None: ...

    def done(self, key: str, notifier: str, outcome: str, status: int | None) -> None: ...


class Delivery:
    def __init__(
        self,
        notifier: Notifier,
        journal: Journal,
        settings: DeliverySettings,
        health: HealthReporter,
        wall_ms: Callable[[], int],
        *,
        attempt_timeout_s: float = 60.0,
    ) -> None:
        self.notifier = notifier
        self._journal = journal
        self._s = settings
        self.health = health
        self._wall_ms = wall_ms
        self._timeout = attempt_timeout_s
        self._bell = trio.Event()
        for c in COUNTERS:
            health.counters.setdefault(c, 0)

    def ring(self) -> None:
        """Something new is owed (called by the actor after journaling an alert)."""
        self._bell.set()

    async def run(self) -> None:
        self.health.set_state("running")
        while True:
            entry = self._journal.next_for(self.notifier.name)
            if entry is None:
                self._bell = trio.Event()
                await self._bell.wait()
                continue
            await self._deliver(entry)

    async def _deliver(self, entry: Pending) -> None:
        name, key = self.notifier.name, entry.alert.key
        failures = 0
        while name in entry.owed:  # an overflow may drop it while we wait to retry
            if self._wall_ms() - entry.created_ms > self._s.max_age_s * 1000:
                self.health.incr("dropped_stale")
                self._journal.done(key, name, "stale", None)
                return
            result = await self._attempt(entry)
            self.health.counters["last_status"] = result.status or 0
            if result.ok:
                self.health.incr("sent")
                self._journal.done(key, name, "sent", result.status)
                self.health.set_state("running")
                return
            if result.status is not None and _permanent(result.status):
                self.health.incr("failed")
                self.health.error(f"{name}: HTTP {result.status} {result.detail}".strip())
                self._journal.done(key, name, "failed", result.status)
                return
            failures += 1
            self.health.incr("retried")
            self.health.last_error = f"{name}: {_describe(result)}"
            self.health.set_state("recovering")
            await trio.sleep(self._wait_s(result, failures))

    async def _attempt(self, entry: Pending) -> SendResult:
        # the client has its own timeout; this guards against a receiver that trickles bytes
        with trio.move_on_after(self._timeout):
            return await self.notifier.send(entry.alert)
        return SendResult(None, None, f"no answer within {self._timeout:g} s")

    def _wait_s(self, result: SendResult, failures: int) -> float:
        if result.status == 429 and result.retry_after_s is not None:
            return min(result.retry_after_s, self._s.retry_after_max_s)
        exp = min(failures - 1, 60)
        return min(self._s.retry_max_s, self._s.retry_initial_s * math.pow(2, exp))


def _permanent(status: int) -> bool:
    return 400 <= status < 500 and status not in (408, 429)


def _describe(result: SendResult) -> str:
    if result.status is None:
        return result.detail or "no answer"
    return f"HTTP {result.status} {result.detail}".strip()
