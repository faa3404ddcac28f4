"""Derived metrics: a live capture's outputs equal `rq derive --rebuild` on a copy of the vault,
a second `rq derive` changes nothing, and a slowed derived actor catches up from the vault
without ever delaying capture."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rq_actors.actors.testing_hooks import TestHooks
from rq_actors.config import Config, parse_config
from rq_actors.io.health_read import latest_by_actor
from rq_actors.io.metrics.batch import derive_instrument
from tests.helpers.sim import fast_live_doc, run_live_until

pytestmark = pytest.mark.slow  # process-level or long end-to-end runs

INSTS = ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]
START_MS = 1_765_756_740_000  # 2025-12-14T23:59:00Z: the run crosses a UTC midnight


def _config(root: Path) -> Config:
    return parse_config(fast_live_doc(root, INSTS, START_MS))


def _covers_midnight(root: Path) -> bool:
    files = _derived_files(root) if (root / "derived").exists() else {}
    return (
        any("cvd/okx/BTC-USDT-SWAP/1m/2025-12-15" in k for k in files)
        and any("cvd/okx/BTC-USDT-SWAP/1m/2025-12-14" in k for k in files)
        and any(k.startswith("vwap/") for k in files)
        and any("candles/okx/ETH-USDT-SWAP/5m/" in k for k in files)
        and any("wicks/okx/perps/BTC-USDT-SWAP/events/" in k for k in files)
        and sum(v.count(b"\n") for k, v in files.items() if "/1m/" in k) >= 4 * 5
    )


def _lagged_while_capturing(root: Path) -> bool:
    health_file = root / "logs" / "health.jsonl"
    if not health_file.exists():
        return False
    health = latest_by_actor(health_file)
    return all(
        health.get((inst, "cvd"), {}).get("counters", {}).get("lagged", 0) >= 1
        and health.get((inst, "trade_writer"), {}).get("counters", {}).get("trades_written", 0)
        for inst in INSTS
    )


def _derived_files(root: Path) -> dict[str, bytes]:
    base = root / "derived"
    files = [*base.rglob("*.jsonl"), *base.rglob("wicks_active.json")]
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(files)}


async def test_live_outputs_equal_batch_rebuild_and_derive_is_idempotent(tmp_path: Path) -> None:
    live = tmp_path / "live"
    # several minutes on both sides of midnight, every kind and timeframe present
    # one market minute per second: about 8 s on a free machine
    await run_live_until(_config(live), lambda: _covers_midnight(live))
    live_files = _derived_files(live)
    assert _covers_midnight(live)  # still true after the orderly stop
    assert "wicks/okx/perps/ETH-USDT-SWAP/wicks_active.json" in live_files  # saved at the stop

    batch = tmp_path / "batch"
    shutil.copytree(live, batch)
    cfg = _config(batch)
    for inst in INSTS:
        derive_instrument(cfg, inst, rebuild=True)
    assert _derived_files(batch) == live_files

    before = _derived_files(batch)
    states = {p: p.read_bytes() for p in (batch / "state").rglob("*.json")}
    for inst in INSTS:
        res = derive_instrument(cfg, inst)
        assert res.records_written == 0
    assert _derived_files(batch) == before
    assert {p: p.read_bytes() for p in (batch / "state").rglob("*.json")} == states


async def test_slow_consumer_lags_catches_up_and_ends_identical(tmp_path: Path) -> None:
    slow = tmp_path / "slow"
    hooks = TestHooks(feed_capacity=2, derived_slowdown_s={"cvd": 0.3})
    # each slowed CVD actor fell behind and said so, while capture went on
    await run_live_until(_config(slow), lambda: _lagged_while_capturing(slow), hooks=hooks)
    assert _lagged_while_capturing(slow)
    # capture was never held up: the slowed actor's peers saw every trade live
    rebuilt = tmp_path / "rebuilt"
    shutil.copytree(slow, rebuilt)
    cfg = _config(rebuilt)
    for inst in INSTS:
        derive_instrument(cfg, inst, rebuild=True)
    assert _derived_files(rebuilt) == _derived_files(slow)
