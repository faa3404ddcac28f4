"""A derived actor whose outputs hit a full disk rebuilds from its saved state and retries by
itself (no supervisor restart, so no group stop), and its files end identical to a clean run."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest

from rq_actors.actors.derived import DerivedActor
from rq_actors.actors.feed import LiveFeed
from rq_actors.config import parse_config
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.trades.record import encode_trade
from rq_actors.io.health import null_reporter
from rq_actors.io.instruments import meta_to_doc
from rq_actors.io.metrics.batch import derive_instrument
from rq_actors.io.metrics.jobs import make_job
from rq_actors.io.metrics.sink import StreamSink
from rq_actors.io.vault.files import atomic_write_json
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade

INST = "BTC-USDT-SWAP"
META = InstrumentMeta(INST, "SWAP", "0.01", "1", "linear", "0.1", "0.01")
T0 = 1_765_756_800_000  # 2025-12-15T00:00:00Z


def _vault(root: Path) -> VaultPaths:
    paths = VaultPaths(root)
    atomic_write_json(paths.instrument_meta(INST), meta_to_doc(META, {}, T0))
    lines = [
        encode_trade(
            Trade(INST, 1 + i, T0 + i * 7_000, "buy" if i % 3 else "sell", f"{100 + i % 9}.5", "2"),
            META,
        )
        for i in range(120)  # 14 minutes
    ]
    f = paths.trades_file(INST, T0)
    f.parent.mkdir(parents=True)
    f.write_bytes(b"".join(line + b"\n" for line in lines))
    return paths


async def test_disk_full_on_outputs_is_retried_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _vault(tmp_path / "live")
    shutil.copytree(tmp_path / "live", tmp_path / "clean")
    config = parse_config({"instruments": [INST], "vault": {"root": str(tmp_path / "clean")}})
    derive_instrument(config, INST, ["cvd", "candles"])
    want = {
        str(p.relative_to(tmp_path / "clean")): p.read_bytes()
        for p in sorted((tmp_path / "clean" / "derived").rglob("*.jsonl"))
    }
    assert want

    real_write = StreamSink.write
    failures = {"left": 3}

    def flaky_write(self: StreamSink, items):  # type: ignore[no-untyped-def]
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, items)

    monkeypatch.setattr(StreamSink, "write", flaky_write)
    live_config = parse_config({"instruments": [INST], "vault": {"root": str(tmp_path / "live")}})
    feed = LiveFeed("cvd")
    await feed.aclose()  # the writer is done: catch up from the vault, then end
    health = null_reporter("cvd", INST)
    actor = DerivedActor(
        INST,
        lambda: [make_job(k, live_config, META, paths) for k in ("cvd", "candles")],
        feed,
        paths,
        health,
        coalesce_s=0,
    )
    await actor.run()
    assert failures["left"] == 0
    assert health.counters["errors"] == 3
    assert "No space left" in (health.last_error or "")
    got = {
        str(p.relative_to(tmp_path / "live")): p.read_bytes()
        for p in sorted((tmp_path / "live" / "derived").rglob("*.jsonl"))
    }
    assert got == want


async def test_any_other_os_error_reaches_the_supervisor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _vault(tmp_path / "live")

    def broken_write(self: StreamSink, items):  # type: ignore[no-untyped-def]
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(StreamSink, "write", broken_write)
    config = parse_config({"instruments": [INST], "vault": {"root": str(tmp_path / "live")}})
    feed = LiveFeed("cvd")
    await feed.aclose()
    health = null_reporter("cvd", INST)
    actor = DerivedActor(
        INST, lambda: [make_job("cvd", config, META, paths)], feed, paths, health, coalesce_s=0
    )
    with pytest.raises(PermissionError):  # not retried in place: a restart (and its limit) decides
        await actor.run()
    assert health.counters.get("errors", 0) == 0
