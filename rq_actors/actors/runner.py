"""`rq-run`: the simulator (when `simulate = true`), the supervisor and OS signal handling."""

from __future__ import annotations

import os
import signal
import sys
from functools import partial

import attrs
import trio

from rq_actors.actors.hooks import GroupHooks
from rq_actors.config import Config
from rq_actors.io.alerts.notifiers import Notifier
from rq_actors.io.health import HealthLog, ProcessWatch
from rq_actors.io.live_bus import LiveBus
from rq_actors.io.vault.lock import VaultLock
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.supervisor import Supervisor


def with_simulator_urls(config: Config, ws_public: str, ws_business: str, rest: str) -> Config:
    exchange = attrs.evolve(
        config.exchange, ws_public_url=ws_public, ws_business_url=ws_business, rest_url=rest
    )
    return attrs.evolve(config, exchange=exchange)


async def start_simulator(nursery: trio.Nursery, config: Config) -> Config:
    """Start the embedded simulator on free loopback ports; return the config pointing at it."""
    from rq_actors.sim.server import SimOptions, Simulator

    opts = SimOptions(
        seed=config.simulator.seed,
        instruments=list(config.instruments),
        trades_per_s=config.simulator.trades_per_s,
        book_interval_ms=config.simulator.book_interval_ms,
        nonzero_checksums=config.simulator.nonzero_checksums,
        speed=config.simulator.speed,
        start_ms=config.simulator.start_ms,
        faults=config.simulator.faults,
        record_limit=0,  # nothing reads the demo's truth; it may run for days at a flat RSS
        history_limit=50_000,  # ~17 market minutes of REST history, ~13 MB per instrument
    )
    sim = await nursery.start(Simulator(opts).serve)
    return with_simulator_urls(config, sim.ws_public_url, sim.ws_business_url, sim.rest_url)


async def _stop_on_os_signal(supervisor: Supervisor) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as os_signals:
        async for signum in os_signals:
            print(f"rq-run: {signal.Signals(signum).name}: flushing and stopping", file=sys.stderr)
            supervisor.request_shutdown()
            return


async def _stop_on_event(stop: trio.Event, supervisor: Supervisor) -> None:
    await stop.wait()
    supervisor.request_shutdown()


def _alert_notifiers(config: Config) -> list[Notifier]:
    if not config.alerts.notifiers:
        return []
    from rq_actors.io.alerts.notifiers import build_notifiers

    return build_notifiers(config.alerts, config.source, os.environ)


async def run_live(
    config: Config,
    *,
    handle_signals: bool = True,
    stop: trio.Event | None = None,
    hooks: GroupHooks | None = None,
    bus: LiveBus | None = None,
    task_status: trio.TaskStatus[Config] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the whole live system until SIGINT/SIGTERM, `stop` is set, or cancellation.

    `task_status.started` hands out the effective config (simulator URLs filled in). Every
    derived record written is also published on `bus` (one is made when none is given).
    """
    from rq_actors.actors.group import build_group, open_rest

    hooks = hooks or GroupHooks()
    bus = bus if bus is not None else LiveBus()
    alert_notifiers = _alert_notifiers(config)  # before anything starts: a missing secret is exit 2

    # One writer per vault: a second rq-run raises VaultLocked here, before anything starts.
    async with VaultLock(config.vault_root, "rq-run"), trio.open_nursery() as nursery:
        if config.exchange.simulate:
            config = await start_simulator(nursery, config)
        paths = VaultPaths(config.vault_root)
        human = config.health.stderr and config.health.log_format == "human"
        json_stderr = config.health.stderr and not human
        health_log = HealthLog(
            paths.health_log(),
            stderr=sys.stderr if json_stderr else None,
            lagging_after_ms=int(config.health.lagging_after_s * 1000),
        )
        watch = ProcessWatch(
            paths.root,
            health_log,
            interval_s=config.health.interval_s,
            min_free_mb=config.health.min_free_mb,
        )
        nursery.start_soon(watch.run)  # RSS, GC pauses, disk; freezes the start-up heap
        if human:
            from rq_actors.io.console import Console, startup_summary

            console = Console(sys.stderr)
            console.print_lines(startup_summary(config, simulated=config.exchange.simulate))
            health_log.listeners.append(console.on_report)
            nursery.start_soon(console.run_status, health_log)
        if config.web.enabled:  # the dashboard: its own restarts, never those of capture
            from rq_actors.web.server import run_web

            nursery.start_soon(run_web, config, bus, health_log)
        if alert_notifiers:
            from rq_actors.actors.alerts import run_alerts

            await nursery.start(partial(run_alerts, config, bus, health_log, alert_notifiers))
        async with open_rest(config) as rest:
            supervisor = Supervisor(
                config.instruments,
                partial(build_group, config=config, paths=paths, rest=rest, hooks=hooks, bus=bus),
                config.supervisor,
                health_log,
                health_interval_s=config.health.interval_s,
            )
            if handle_signals:
                nursery.start_soon(_stop_on_os_signal, supervisor)
            if stop is not None:
                nursery.start_soon(_stop_on_event, stop, supervisor)
            task_status.started(config)
            try:
                await supervisor.run()
            finally:
                health_log.close()
        nursery.cancel_scope.cancel()
