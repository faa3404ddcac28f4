"""The `RqError` tree: user-actionable errors say what to do, and only a saved state that does not
fit is reported as one (SPEC-independent; issue #16 item 4)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from rq_actors.config import Config, ConfigError, parse_config
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.wicks.tracker import WickTracker
from rq_actors.errors import IncompatibleState, InstrumentMetaError, RqError
from rq_actors.io.metrics.jobs import StateMismatch, make_job
from rq_actors.io.vault.files import atomic_write_json
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade

INST = "BTC-USDT-SWAP"
GOOD = InstrumentMeta(INST, "SWAP", "0.01", "1", "linear", "0.1", "0.01")
BAD_CT = InstrumentMeta(INST, "SWAP", "0.01", "1", "quanto", "0.1", "0.01")


def _config(root: Path, **wicks: int) -> Config:
    return parse_config({"instruments": [INST], "vault": {"root": str(root)}, "wicks": wicks})


def _trades(n: int) -> list[Trade]:
    t0 = 1_765_756_800_000
    return [Trade(INST, i + 1, t0 + i * 20_000, "buy", "100.1", "1") for i in range(n)]


def _save(kind: str, config: Config, meta: InstrumentMeta) -> VaultPaths:
    paths = VaultPaths(config.vault_root)
    job = make_job(kind, config, meta, paths, rebuild=True)
    job.process(_trades(10))
    job.save_state()
    job.close()
    return paths


def test_config_error_is_an_rq_error_with_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"instruments": [INST], "wicks": {"expiry_hours": 0}}, "x.toml")
    assert isinstance(info.value, RqError)
    assert str(info.value).startswith("x.toml: wicks.expiry_hours")


@pytest.mark.parametrize("kind", ["cvd", "vwap", "candles", "wicks"])
@pytest.mark.parametrize("rebuild", [False, True])
def test_a_bad_contract_type_is_an_instrument_error_not_a_state_mismatch(
    tmp_path: Path, kind: str, rebuild: bool
) -> None:
    config = _config(tmp_path)
    paths = _save(kind, config, GOOD)  # a valid saved state exists
    with pytest.raises(InstrumentMetaError, match="quanto") as info:
        make_job(kind, config, BAD_CT, paths, rebuild=rebuild)
    assert not isinstance(info.value, (IncompatibleState, StateMismatch))
    assert isinstance(info.value, RqError)


@pytest.mark.parametrize("setting", [{"expiry_hours": 24}, {"near_ticks": 3}])
def test_a_state_written_with_other_wick_settings_is_incompatible(
    tmp_path: Path, setting: dict[str, int]
) -> None:
    paths = _save("wicks", _config(tmp_path), GOOD)
    with pytest.raises(StateMismatch, match="--rebuild") as info:
        make_job("wicks", _config(tmp_path, **setting), GOOD, paths)
    assert isinstance(info.value.__cause__, IncompatibleState)
    # the same settings resume, and --rebuild ignores the state
    make_job("wicks", _config(tmp_path), GOOD, paths).close()
    make_job("wicks", _config(tmp_path, **setting), GOOD, paths, rebuild=True).close()


def test_an_unreadable_wick_state_is_incompatible() -> None:
    first = WickTracker(INST, "0.1")
    first.on_trade(1_765_756_800_000, 1, 1001)
    doc = first.state()
    doc["last_trade_id"] = "not a number"
    with pytest.raises(IncompatibleState, match="unreadable"):
        WickTracker(INST, "0.1").restore(doc)
    doc = first.state()
    doc["tickSz"] = "0.01"
    with pytest.raises(IncompatibleState, match="tickSz"):
        WickTracker(INST, "0.1").restore(doc)


def test_a_saved_state_of_another_instrument_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path)
    paths = _save("cvd", config, GOOD)
    other = paths.state_file("cvd", INST)
    doc = orjson.loads(other.read_bytes())
    doc["instId"] = "ETH-USDT-SWAP"
    atomic_write_json(other, doc)
    with pytest.raises(StateMismatch, match="instId") as info:
        make_job("cvd", config, GOOD, paths)
    assert isinstance(info.value.__cause__, IncompatibleState)
