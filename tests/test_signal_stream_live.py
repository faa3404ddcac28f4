"""Signal stream end to end (issue #12): a live run against the simulator writes setup events
that `rq derive --only signals --rebuild` reproduces byte for byte; the live bus carries exactly
those records (kind `signals`, stream `events`); a job stopped, crashed and resumed anywhere
writes the same files with no duplicate."""

from __future__ import annotations

import random
import shutil
from bisect import bisect_right
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio

from rq_actors.commands.cli import main as rq_main
from rq_actors.config import Config, parse_config
from rq_actors.io.instruments import read_saved_meta
from rq_actors.io.live_bus import LiveBus
from rq_actors.io.metrics.jobs import make_job
from rq_actors.io.metrics.signals_job import signals_dir
from rq_actors.io.vault.load import iter_trades
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import LiveRecord
from tests.helpers.sim import fast_live_doc, run_live_until

INST = "BTC-USDT-SWAP"
START_MS = 1_765_756_740_000  # 2025-12-14T23:59:00Z
CONTRACT_KEYS = {
    "event_time_utc", "event", "id", "instId", "tf", "side", "fade", "tip", "base", "size_ticks",
    "age_min", "tier", "strength", "touched_surrounding", "surrounding", "price",
    "distance_ticks", "vwap_1h", "vwap_4h", "vwap_1h_dev_bps", "cvd_30m",
}  # fmt: skip
# small setups that a few simulated minutes produce (the defaults need hours of market)
SIGNALS = {"age_min": 2, "age_max": 8, "min_touched_surrounding": 2, "surround_minutes": 5}


def _doc(root: Path) -> dict[str, Any]:
    doc = fast_live_doc(root, [INST], START_MS)
    return {**doc, "wicks": {"timeframes": ["1m", "5m"]}, "signals": SIGNALS}


def _config(root: Path) -> Config:
    return parse_config(_doc(root))


def _signal_files(root: Path) -> dict[str, bytes]:
    folder = signals_dir(VaultPaths(root), INST)
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.jsonl"))}


def _events(files: dict[str, bytes]) -> list[dict[str, Any]]:
    return [orjson.loads(line) for blob in files.values() for line in blob.splitlines()]


def _a_lifecycle(root: Path) -> bool:
    """Setups appeared and at least one changed: a real lifecycle, not one line."""
    folder = signals_dir(VaultPaths(root), INST)
    kinds = Counter(e["event"] for e in _events(_signal_files(root))) if folder.exists() else {}
    return kinds.get("appeared", 0) >= 1 and len(kinds) >= 2


async def _run_live(root: Path) -> list[LiveRecord]:
    """Run until the signal files hold a lifecycle (~12 s on a free machine; a slow one takes
    longer instead of ending with less)."""
    bus = LiveBus()
    seen: list[LiveRecord] = []
    with bus.subscribe(100_000) as sub:
        # after it, a few more minutes of market
        await run_live_until(_config(root), lambda: _a_lifecycle(root), bus=bus, after_s=2)
        while True:
            try:
                seen.append(sub.receive.receive_nowait())
            except trio.WouldBlock:
                break
    assert sub.dropped == 0
    return seen


@pytest.fixture(scope="module")
def live_vault(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[LiveRecord]]:
    root = tmp_path_factory.mktemp("signals") / "live"
    seen = trio.run(_run_live, root)
    return root, seen


def test_live_signal_files_equal_a_cli_rebuild(
    live_vault: tuple[Path, list[LiveRecord]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live, _ = live_vault
    live_files = _signal_files(live)
    events = _events(live_files)
    assert _a_lifecycle(live), Counter(e["event"] for e in events)
    for e in events:
        assert CONTRACT_KEYS <= e.keys(), e
        assert e["event"] in {"appeared", "tier_changed", "touched", "invalidated", "expired"}
        assert e["id"].startswith(f"{INST}:{e['tf']}:") and e["id"].endswith(e["side"])
        assert e["fade"] == ("short" if e["side"] == "upper" else "long")
        assert SIGNALS["age_min"] <= e["age_min"]
    batch = tmp_path / "batch"
    shutil.copytree(live, batch)
    config = batch / "rq.toml"
    config.write_bytes(_toml(_doc(batch)))
    with pytest.raises(SystemExit) as done:
        rq_main(["derive", str(config), "--only", "signals", "--rebuild"])
    assert done.value.code == 0, capsys.readouterr().err
    assert _signal_files(batch) == live_files


def test_the_live_bus_carries_exactly_the_signal_records(
    live_vault: tuple[Path, list[LiveRecord]],
) -> None:
    live, seen = live_vault
    published = [r for r in seen if r.kind == "signals"]
    assert {(r.inst_id, r.stream) for r in published} == {(INST, "events")}
    assert [r.record for r in published] == _events(_signal_files(live))
    assert all(r.time_ms % 60_000 == 0 for r in published)  # evaluated at 1m closes only


def test_stop_crash_and_resume_anywhere_write_the_same_files(
    live_vault: tuple[Path, list[LiveRecord]], tmp_path: Path
) -> None:
    live, _ = live_vault
    want = _signal_files(live)
    root = tmp_path / "resume"
    shutil.copytree(live, root)
    paths = VaultPaths(root)
    shutil.rmtree(signals_dir(paths, INST))
    paths.state_file("signals", INST).unlink()
    config, meta = _config(root), read_saved_meta(paths, INST)
    assert meta is not None
    trades = list(iter_trades(paths, INST))
    keys = [(t.ts_ms, t.trade_id) for t in trades]
    rng = random.Random(5)
    job = make_job("signals", config, meta, paths)
    i = 0
    while i < len(trades):
        step = rng.randint(1, 400)
        job.process(trades[i : i + step])
        i += step
        roll = rng.random()
        if roll < 0.3:  # orderly stop
            job.save_state()
            job.close()
            job = make_job("signals", config, meta, paths)
        elif roll < 0.5:  # kill -9: outputs on disk, the state older; replay from its cursor
            job.close()
            job = make_job("signals", config, meta, paths)
            i = bisect_right(keys, job.cursor)
            i = max(0, i - rng.randint(0, 800))  # the replay overlaps what the job has seen
        elif roll < 0.6:
            job.save_state()
    job.save_state()
    job.close()
    assert _signal_files(root) == want


def _toml(doc: dict[str, Any]) -> bytes:
    """Just enough TOML for this test's config (tables of scalars and lists)."""
    lines = [f"instruments = {orjson.dumps(doc['instruments']).decode()}"]
    for table, values in doc.items():
        if isinstance(values, dict):
            lines.append(f"[{table}]")
            lines += [f"{k} = {_value(v)}" for k, v in values.items()]
    return ("\n".join(lines) + "\n").encode()


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return orjson.dumps(v).decode()
