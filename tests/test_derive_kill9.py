"""`rq derive` killed with SIGKILL at random moments, then run again until it finishes: the
derived files equal those of one uninterrupted run (SPEC §4 crash repair, issue 5)."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rq_actors.config import load_config
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.timefmt import MS_PER_MINUTE
from rq_actors.core.trades.record import encode_trade
from rq_actors.io.instruments import meta_to_doc
from rq_actors.io.metrics.batch import derive_instrument
from rq_actors.io.vault.files import atomic_write_json
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade
from rq_actors.sim.events import TradeGroup
from rq_actors.sim.market import Market

pytestmark = pytest.mark.slow  # process-level or long end-to-end runs

INST = "BTC-USDT-SWAP"
META = InstrumentMeta(INST, "SWAP", "0.01", "1", "linear", "0.1", "0.01")
T0 = 1_765_755_900_000  # 2025-12-14T23:45:00Z: the data crosses a UTC midnight


def _make_vault(root: Path) -> Path:
    paths = VaultPaths(root)
    atomic_write_json(paths.instrument_meta(INST), meta_to_doc(META, {}, T0))
    market = Market(INST, seed=21, start_ms=T0, trades_per_s=40.0, book_interval_ms=5000)
    by_file: dict[Path, list[bytes]] = {}
    for ev in market.advance(30 * MS_PER_MINUTE):
        if isinstance(ev, TradeGroup):
            for f in ev.fills:
                t = Trade(INST, f.trade_id, f.ts_ms, f.side, f.px, f.sz)  # type: ignore[arg-type]
                by_file.setdefault(paths.trades_file(INST, f.ts_ms), []).append(
                    encode_trade(t, META)
                )
    for path, lines in by_file.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(line + b"\n" for line in lines))
    cfg = root.parent / f"{root.name}.toml"
    cfg.write_text(f'instruments = ["{INST}"]\n[vault]\nroot = "{root.name}"\n')
    return cfg


def _derived(root: Path) -> dict[str, bytes]:
    base = root / "derived"
    files = [*base.rglob("*.jsonl"), *base.rglob("wicks_active.json")]
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(files)}


def test_derive_killed_at_random_points_ends_identical(tmp_path: Path) -> None:
    cfg = _make_vault(tmp_path / "killed")
    clean = tmp_path / "clean"
    shutil.copytree(tmp_path / "killed", clean)
    (tmp_path / "clean.toml").write_text(cfg.read_text().replace('"killed"', '"clean"'))
    derive_instrument(load_config(tmp_path / "clean.toml"), INST)
    want = _derived(clean)
    assert sum(v.count(b"\n") for v in want.values()) > 200

    rng = random.Random(5)
    cmd = [sys.executable, "-m", "rq_actors", "derive", str(cfg)]
    kills = 0
    for _ in range(4):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 1.2))  # past start-up, somewhere inside the replay
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.wait()
    assert kills >= 2, "the derive finished before it could be killed: make the vault bigger"
    final = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert _derived(tmp_path / "killed") == want
