"""Wiring: the actor group of one instrument (SPEC §2, §3).

```
socket ──trades──▶ trade writer ──(durable)──▶ cvd, vwap, wicks/candles
   ▲    ──books───▶ book ──snapshots──▶ vault
   └──resubscribe── book
```
The channels are made here, once per group, so they outlive actor restarts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio

from rq_actors.actors.book import BookActor
from rq_actors.actors.derived import DerivedActor
from rq_actors.actors.feed import LiveFeed
from rq_actors.actors.hooks import GroupHooks
from rq_actors.actors.retention import RetentionActor
from rq_actors.actors.socket import SocketActor
from rq_actors.actors.trade_writer import TradeWriterActor
from rq_actors.config import Config
from rq_actors.io.health import HealthLog, HealthReporter
from rq_actors.io.instruments import InstrumentMetaError, load_instrument_meta
from rq_actors.io.live_bus import LiveBus, publish_sinks
from rq_actors.io.metrics.jobs import MetricJob, actor_kinds, actor_state_interval, make_job
from rq_actors.io.rest import OkxRest
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.io.vault.quarantine import QuarantineLog
from rq_actors.messages import BookInbox, Resubscribe, TradeInbox
from rq_actors.supervisor import Actor, ActorSpec, GroupSetupError


@asynccontextmanager
async def open_rest(config: Config) -> AsyncIterator[OkxRest]:
    """One REST client per process: OKX rate-limits public endpoints per IP, not per group."""
    rest = OkxRest(config.exchange.rest_url)
    try:
        yield rest
    finally:
        await rest.aclose()


async def build_group(
    inst_id: str,
    health_log: HealthLog,
    *,
    config: Config,
    paths: VaultPaths,
    rest: OkxRest,
    hooks: GroupHooks | None = None,
    bus: LiveBus | None = None,
) -> list[ActorSpec]:
    hooks = hooks or GroupHooks()
    try:
        meta = await load_instrument_meta(rest, paths, inst_id)
    except InstrumentMetaError as exc:
        raise GroupSetupError(f"instrument metadata: {exc}") from exc

    quarantine = QuarantineLog(paths, inst_id)
    trades_send, trades_recv = trio.open_memory_channel[TradeInbox](config.socket.queue_size)
    book_send, book_recv = trio.open_memory_channel[BookInbox](config.socket.queue_size)
    resub_send, resub_recv = trio.open_memory_channel[Resubscribe](64)
    derived = actor_kinds(config)  # which metric jobs each derived actor drives (`jobs.METRICS`)
    feeds = {name: LiveFeed(name, hooks.feed_capacity) for name in derived}

    def make_jobs(name: str) -> list[MetricJob]:
        jobs = [make_job(kind, config, meta, paths) for kind in derived[name]]
        if bus is not None:
            for job in jobs:
                publish_sinks(bus, job.kind, inst_id, job.sinks)
        return jobs

    def derived_spec(name: str) -> ActorSpec:
        return ActorSpec(
            name,
            lambda h: DerivedActor(
                inst_id,
                lambda: make_jobs(name),
                feeds[name],
                paths,
                h,
                coalesce_s=hooks.coalesce_s(name),
                slowdown_s=hooks.slowdown_s(name),
                state_interval_s=actor_state_interval(name),
            ),
        )

    specs = [
        ActorSpec(
            "socket",
            lambda h: SocketActor(
                inst_id, config, trades_send, book_send, resub_recv, quarantine, h
            ),
            source=True,
            closes=(trades_send, book_send),
        ),
        ActorSpec(
            "book",
            lambda h: BookActor(inst_id, config, book_recv, resub_send, paths, quarantine, h),
            closes=(resub_send,),
        ),
        ActorSpec(
            "trade_writer",
            lambda h: TradeWriterActor(
                inst_id, config, meta, trades_recv, list(feeds.values()), paths, quarantine, h, rest
            ),
            closes=tuple(feeds.values()),
        ),
        *(derived_spec(name) for name in derived),
        ActorSpec("retention", lambda h: RetentionActor(inst_id, config, paths, h), source=True),
    ]
    for spec in specs:
        spec.factory = _wrapped(hooks, spec.name, spec.factory)
    return specs


def _wrapped(
    hooks: GroupHooks, name: str, factory: Callable[[HealthReporter], Actor]
) -> Callable[[HealthReporter], Actor]:
    return lambda h: hooks.wrap(name, factory(h))
