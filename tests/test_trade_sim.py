"""End to end against the project simulator over loopback (real clock, real HTTP): the vault
holds exactly what the simulated exchange published, holes are back-filled from its REST
history, and with its REST failing the hole is recorded as a gap while capture goes on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from rq_actors.io.instruments import load_instrument_meta
from rq_actors.io.rest import OkxRest
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.sim.server import SimOptions, Simulator
from tests.helpers.trades import INST, FakeHistory, Harness, frame, up

_REST = {"max_attempts": 2, "backoff_initial_s": 0.05, "timeout_s": 5.0}


@pytest.fixture
async def sim(nursery: trio.Nursery) -> AsyncIterator[Simulator]:
    options = SimOptions(seed=1, instruments=[INST], trades_per_s=50.0, speed=10.0)
    simulator: Simulator = await nursery.start(Simulator(options).serve)
    yield simulator


async def _fills(sim: Simulator, n: int) -> list[Any]:
    with trio.fail_after(20):
        while len(sim.recorder.fills[INST]) < n:
            await trio.sleep(0.05)
    return list(sim.recorder.fills[INST][:n])


def _row(fill: Any) -> dict[str, str]:
    return {
        "instId": fill.inst_id,
        "tradeId": str(fill.trade_id),
        "px": fill.px,
        "sz": fill.sz,
        "side": fill.side,
        "source": "0",
        "ts": str(fill.ts_ms),
    }


def _truth(fills: list[Any]) -> list[tuple[str, str, str, str]]:
    return [(str(f.trade_id), f.px, f.sz, f.side) for f in fills]


def _stored(h: Harness) -> list[tuple[str, str, str, str]]:
    return [(r["trade_id"], r["price"], r["qty_contracts"], r["side"]) for r in h.vault_records()]


async def test_metadata_from_the_simulator(sim: Simulator, tmp_path: Path) -> None:
    async with OkxRest(sim.rest_url, **_REST) as rest:
        meta = await load_instrument_meta(rest, VaultPaths(tmp_path), INST)
    assert (meta.inst_type, meta.ct_mult, meta.ct_type) == ("SWAP", "1", "linear")


async def test_hole_is_backfilled_from_simulator_rest(sim: Simulator, tmp_path: Path) -> None:
    fills = await _fills(sim, 260)
    live = fills[:100] + fills[230:]  # 130 fills never arrive live
    h = Harness(tmp_path, FakeHistory(), rest_url=sim.rest_url, rest_kwargs=_REST)
    h.reorder_window_s = 0.05
    await h.run([*(frame([_row(f)]) for f in live), 1.0])
    assert _stored(h) == _truth(fills)
    assert h.fed_ids() == [f.trade_id for f in fills]
    assert h.health.counters["backfilled"] == 130
    assert h.quarantine_records() == []


async def test_reconnect_catches_up_to_the_simulator(sim: Simulator, tmp_path: Path) -> None:
    first = await _fills(sim, 50)
    h = Harness(tmp_path, FakeHistory(), rest_url=sim.rest_url, rest_kwargs=_REST)
    await h.run([frame([_row(f)]) for f in first[:20]])
    await _fills(sim, 200)
    await h.run([up(2), 1.0])  # restart + reconnect: REST from the newest back to trade 20
    stored = _stored(h)
    assert len(stored) >= 200
    assert stored == _truth(list(sim.recorder.fills[INST][: len(stored)]))


async def test_rest_failure_is_recorded_as_a_gap(sim: Simulator, tmp_path: Path) -> None:
    fills = await _fills(sim, 120)
    sim.set_rest_failure("error")
    live = fills[:40] + fills[60:]
    h = Harness(tmp_path, FakeHistory(), rest_url=sim.rest_url, rest_kwargs=_REST)
    h.reorder_window_s = 0.05
    await h.run([*(frame([_row(f)]) for f in live), 1.0])
    assert _stored(h) == _truth(live)
    (gap,) = h.quarantine_records()
    expected = (str(fills[40].trade_id), str(fills[59].trade_id))
    assert (gap["kind"], gap["from_trade_id"], gap["to_trade_id"]) == ("gap", *expected)
    assert "50001" in gap["reason"]
    sim.set_rest_failure(None)
