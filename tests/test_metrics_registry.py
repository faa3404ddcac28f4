"""The METRICS registry (issue #16 item 2): every kind builds a job of its own kind, whatever it
writes is covered by its `--rebuild` outputs, the live wiring reads its actors and intervals
from it, and `[signals] enabled = false` removes the kind from wiring and `rq derive`."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from rq_actors.config import parse_config
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.trades.record import encode_trade
from rq_actors.io.instruments import meta_to_doc
from rq_actors.io.metrics.batch import derive_instrument
from rq_actors.io.metrics.jobs import (
    KINDS,
    METRICS,
    actor_kinds,
    actor_state_interval,
    enabled_kinds,
    make_job,
)
from rq_actors.io.metrics.replay import replay_vault
from rq_actors.io.vault.files import atomic_write_json
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade

INST = "BTC-USDT-SWAP"
META = InstrumentMeta(INST, "SWAP", "0.01", "1", "linear", "0.1", "0.01")
T0 = 1_765_756_800_000  # 2025-12-15T00:00:00Z
SMALL = {"age_min": 1, "age_max": 6, "min_touched_surrounding": 1, "surround_minutes": 4}


def _vault(root: Path) -> VaultPaths:
    paths = VaultPaths(root)
    atomic_write_json(paths.instrument_meta(INST), meta_to_doc(META, {}, T0))
    prices = [100 + (i * 7) % 13 - (i // 40) for i in range(400)]  # a zig-zag drifting down
    lines = [
        encode_trade(
            Trade(INST, 1 + i, T0 + i * 3_000, "buy" if i % 3 else "sell", f"{p}.5", "2"), META
        )
        for i, p in enumerate(prices)
    ]
    f = paths.trades_file(INST, T0)
    f.parent.mkdir(parents=True)
    f.write_bytes(b"".join(line + b"\n" for line in lines))
    return paths


def _files(root: Path) -> set[Path]:
    return {p for top in ("derived", "state") for p in (root / top).rglob("*") if p.is_file()}


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_writes_only_what_its_rebuild_removes(kind: str, tmp_path: Path) -> None:
    paths = _vault(tmp_path)
    config = parse_config(
        {"instruments": [INST], "vault": {"root": str(tmp_path)}, "signals": SMALL}
    )
    job = make_job(kind, config, META, paths)
    assert job.kind == kind and job.cursor[0] < 0
    assert replay_vault(paths, INST, [job]) == 400
    job.save_state()
    job.close()
    written = _files(tmp_path)
    assert written, f"{kind} wrote nothing"
    outputs = METRICS[kind].outputs(paths, INST)
    assert paths.state_file(kind, INST) in written
    for f in written:
        assert any(f == o or o in f.parents for o in outputs), f"{f} is not removed by --rebuild"


def test_live_wiring_reads_actors_and_intervals_from_the_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = parse_config({"instruments": [INST]})
    actors = actor_kinds(config)
    assert sorted(k for kinds in actors.values() for k in kinds) == sorted(KINDS)
    assert actors["wicks"] == ["candles", "wicks"]  # candles live with the wicks (SPEC §2)
    assert actor_state_interval("cvd") == METRICS["cvd"].state_interval_s
    # an actor saves its jobs together, at the pace of the costliest one
    slow_candles = attrs.evolve(METRICS["candles"], state_interval_s=90.0)
    monkeypatch.setitem(METRICS, "candles", slow_candles)
    assert actor_state_interval("wicks") == 90.0
    assert actor_state_interval("cvd") == METRICS["cvd"].state_interval_s


def test_disabled_signals_leave_wiring_and_derive(tmp_path: Path) -> None:
    _vault(tmp_path)
    off = parse_config(
        {"instruments": [INST], "vault": {"root": str(tmp_path)}, "signals": {"enabled": False}}
    )
    assert "signals" not in enabled_kinds(off)
    assert "signals" not in actor_kinds(off)
    derive_instrument(off, INST)
    assert not (tmp_path / "derived" / "signals").exists()
    assert not VaultPaths(tmp_path).state_file("signals", INST).exists()
    assert (tmp_path / "derived" / "wicks").is_dir()
