"""The trade writer → derived actor feed: a consumer gathering batches wakes early at half full,
so a market faster than the gathering window fills it instead of overflowing into a catch-up."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from rq_actors.actors.derived import DerivedActor
from rq_actors.actors.feed import LiveFeed
from rq_actors.config import parse_config
from rq_actors.core.meta import InstrumentMeta
from rq_actors.io.health import null_reporter
from rq_actors.io.instruments import meta_to_doc
from rq_actors.io.metrics.jobs import make_job
from rq_actors.io.vault.files import atomic_write_json
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import DurableTrades, Trade

INST = "BTC-USDT-SWAP"
META = InstrumentMeta(INST, "SWAP", "0.01", "1", "linear", "0.1", "0.01")
T0 = 1_765_756_800_000  # 2025-12-15T00:00:00Z


def _batch(i: int) -> DurableTrades:
    return DurableTrades(INST, (Trade(INST, i, T0 + i * 10, "buy", "100.5", "1"),))


async def test_gather_waits_the_window_when_the_market_is_quiet(
    autojump_clock: trio.testing.MockClock,
) -> None:
    feed = LiveFeed("cvd", capacity=16)
    for i in range(1, 8):  # 7 < 8 = half full
        assert feed.offer(_batch(i))
    start = trio.current_time()
    await feed.gather(0.25)
    assert trio.current_time() - start == 0.25


async def test_gather_returns_once_the_feed_is_half_full(
    autojump_clock: trio.testing.MockClock,
) -> None:
    feed = LiveFeed("cvd", capacity=16)
    woke: list[float] = []

    async def consumer() -> None:
        await feed.gather(10.0)
        woke.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer)
        for i in range(1, 9):
            await trio.sleep(0.1)
            feed.offer(_batch(i))
    assert woke == [trio.current_time()]  # woken by the 8th batch at 0.8 s, not at 10 s
    assert woke[0] < 1.0
    # already half full before it waits: no wait at all
    start = trio.current_time()
    await feed.gather(10.0)
    assert trio.current_time() == start


async def test_a_derived_actor_keeps_up_with_batches_faster_than_its_window(tmp_path: Path) -> None:
    """1,000 batches/s into a 64-batch feed with a 250 ms window: a plain 250 ms pause would
    overflow it four times over and send the actor to the vault; it must never lag."""
    paths = VaultPaths(tmp_path)
    atomic_write_json(paths.instrument_meta(INST), meta_to_doc(META, {}, T0))
    config = parse_config({"instruments": [INST], "vault": {"root": str(tmp_path)}})
    feed = LiveFeed("cvd", capacity=64)
    health = null_reporter("cvd", INST)
    actor = DerivedActor(
        INST, lambda: [make_job("cvd", config, META, paths)], feed, paths, health, coalesce_s=0.25
    )
    sent = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor.run)
        while health.state != "running":
            await trio.sleep(0.01)
        deadline = trio.current_time() + 1.5
        while trio.current_time() < deadline:
            sent += 1
            assert feed.offer(_batch(sent)), f"batch {sent} found the feed full"
            await trio.sleep(0.001)
        await feed.aclose()
    assert sent > 300
    assert health.counters.get("lagged", 0) == 0
    assert health.counters["trades_in"] == sent
