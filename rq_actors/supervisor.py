"""The supervisor: one trio nursery, one actor group per instrument, one-for-one restarts.

- A failed actor is restarted with exponential backoff. More than `max_restarts` failures within
  `restart_window_s` stop that instrument's whole group, reported `failed`; the other instruments
  keep running.
- Channels belong to the group, not to an actor run, so a restart loses no buffered message.
- Orderly shutdown: sources (the socket, retention) are cancelled first; every actor that
  finishes closes the channels it feeds, so consumers drain their inbox, flush and persist, then
  close theirs in turn. Whatever is still running after `shutdown_grace_s` is cancelled.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import attrs
import trio

from rq_actors.config import SupervisorConfig
from rq_actors.errors import RqError
from rq_actors.io.health import HealthLog, HealthReporter


class Actor(Protocol):
    async def run(self) -> None: ...


class Closable(Protocol):
    async def aclose(self) -> None: ...


@attrs.define
class ActorSpec:
    """How to (re)build one actor. `factory` makes a fresh actor around the group's channels."""

    name: str
    factory: Callable[[HealthReporter], Actor]
    source: bool = False  # cancelled first on shutdown: it produces, nothing feeds it
    closes: Sequence[Closable] = ()  # channels this actor feeds, closed once it has finished


def describe_error(exc: BaseException) -> str:
    """`Type: message` of the real error: trio nurseries wrap an actor's failure in exception
    groups, which would otherwise hide it in the health log."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


class GroupSetupError(RqError):
    """The group cannot start (e.g. invalid instrument metadata). The message says why."""


GroupBuilder = Callable[[str, HealthLog], Awaitable[list[ActorSpec]]]


@attrs.define
class _Group:
    inst_id: str
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    state: str = "starting"
    reason: str | None = None
    reporters: list[HealthReporter] = attrs.field(factory=list)
    source_scopes: list[trio.CancelScope] = attrs.field(factory=list)


class Supervisor:
    """Runs one actor group per instrument until `request_shutdown()`."""

    def __init__(
        self,
        inst_ids: Sequence[str],
        build_group: GroupBuilder,
        policy: SupervisorConfig,
        health_log: HealthLog,
        *,
        health_interval_s: float = 5.0,
    ) -> None:
        self._inst_ids = list(inst_ids)
        self._build_group = build_group
        self._policy = policy
        self._health = health_log
        self._health_interval_s = health_interval_s
        self._groups: dict[str, _Group] = {i: _Group(i) for i in self._inst_ids}
        self._shutting_down = False
        self._shutdown_requested = trio.Event()

    @property
    def group_states(self) -> dict[str, str]:
        return {i: g.state for i, g in self._groups.items()}

    def group_reason(self, inst_id: str) -> str | None:
        return self._groups[inst_id].reason

    def request_shutdown(self) -> None:
        self._shutdown_requested.set()

    async def run(
        self, *, task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED
    ) -> None:
        async with trio.open_nursery() as outer:
            outer.start_soon(self._emit_health_periodically)
            async with trio.open_nursery() as groups:
                for group in self._groups.values():
                    groups.start_soon(self._run_group, group)
                task_status.started(self)
                await self._shutdown_requested.wait()
                self._begin_shutdown(groups)
            outer.cancel_scope.cancel()
        self._health.emit_all()

    def _begin_shutdown(self, groups: trio.Nursery) -> None:
        self._shutting_down = True
        for group in self._groups.values():
            for scope in group.source_scopes:
                scope.cancel()
        # The grace period bounds the drain; past it, everything is cancelled.
        groups.cancel_scope.deadline = trio.current_time() + self._policy.shutdown_grace_s

    async def _emit_health_periodically(self) -> None:
        while True:
            await trio.sleep(self._health_interval_s)
            self._health.emit_all()

    async def _run_group(self, group: _Group) -> None:
        with group.scope:
            try:
                specs = await self._build_group(group.inst_id, self._health)
            except GroupSetupError as exc:
                self._fail_group(group, None, str(exc))
                return
            group.state = "running"
            async with trio.open_nursery() as nursery:
                for spec in specs:
                    reporter = self._health.reporter(spec.name, group.inst_id)
                    group.reporters.append(reporter)
                    nursery.start_soon(self._supervise_actor, group, spec, reporter)
        if group.state == "running":
            group.state = "stopped"

    async def _supervise_actor(
        self, group: _Group, spec: ActorSpec, reporter: HealthReporter
    ) -> None:
        failures: deque[float] = deque()
        scope = trio.CancelScope()
        if spec.source:
            group.source_scopes.append(scope)
            if self._shutting_down:
                scope.cancel()
        with scope:
            while True:
                try:
                    await spec.factory(reporter).run()
                    break
                except Exception as exc:
                    if self._shutting_down and spec.source:
                        reporter.error(describe_error(exc))
                        break
                    # A consumer that fails while draining at shutdown is restarted too (within
                    # the grace period), so the messages still buffered get flushed.
                    now = trio.current_time()
                    failures.append(now)
                    while failures and failures[0] < now - self._policy.restart_window_s:
                        failures.popleft()
                    reporter.last_error = describe_error(exc)
                    if len(failures) > self._policy.max_restarts:
                        self._fail_group(
                            group,
                            reporter,
                            f"actor {spec.name!r} failed {len(failures)} times within "
                            f"{self._policy.restart_window_s:g} s (max_restarts="
                            f"{self._policy.max_restarts}); last error: {reporter.last_error}",
                        )
                        return
                    reporter.restarts += 1
                    reporter.incr("errors")
                    reporter.set_state("restarting")
                    await trio.sleep(self._backoff(len(failures)))
        for channel in spec.closes:
            await channel.aclose()
        if reporter.state != "failed":
            reporter.set_state("stopped")

    def _backoff(self, failures: int) -> float:
        p = self._policy
        exp = min(failures - 1, 60)  # keep 2**exp finite
        return min(p.backoff_max_s, p.backoff_initial_s * math.pow(2, exp))

    def _fail_group(self, group: _Group, culprit: HealthReporter | None, reason: str) -> None:
        group.state = "failed"
        group.reason = reason
        if culprit is None:
            culprit = self._health.reporter("group", group.inst_id)
            group.reporters.append(culprit)
        culprit.last_error = reason
        for reporter in group.reporters:
            reporter.set_state("failed")
        group.scope.cancel()
