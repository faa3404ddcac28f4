"""What-if measurements of the proposed fixes, as prototypes inside the bench process only.

Nothing in `rq_actors/` is edited: the prototypes are patched in for one measurement and compared
side by side with the unpatched code on the same data, so each proposed fix comes with a
measured gain rather than a guess. Run by `python -m bench --profile`.

- `trade_path`: `VaultPaths.trades_file` cached per (instrument, UTC day) and `iso_ms` cached per
  second, as the trade writer could do (the file and the line bytes stay identical).
- `coalesced_derived`: derived actors drain their feed and then sleep 100 ms (of trio time)
  between batches, instead of waking once per one-trade batch; outputs are event-time based,
  so files are unchanged.
- `fast_decode`: a vault reader that chains the daily files (merging only where two files'
  trade ids overlap) and parses timestamps with a per-second cache.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import trio

from bench import batch, drive
from bench.corpus import instrument_rows
from bench.harness import bench_config
from rq_actors.actors import derived as derived_mod
from rq_actors.core import timefmt
from rq_actors.core.trades import record as record_mod
from rq_actors.io.instruments import parse_instrument_row
from rq_actors.io.metrics.jobs import make_job
from rq_actors.io.vault.load import iter_trades
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade

COALESCE_S = 0.1


@contextmanager
def patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


@functools.lru_cache(maxsize=4096)
def _day_path(root: Path, kind_dir: str, inst_id: str, day: str) -> Path:
    return root / "raw" / "okx" / kind_dir / inst_id / f"{day}.jsonl"


def _cached_trades_file(self: VaultPaths, inst_id: str, ts_ms: int) -> Path:
    kind = "trades_perps" if inst_id.endswith("-SWAP") else "trades"
    return _day_path(self.root, kind, inst_id, _day(ts_ms // timefmt.MS_PER_DAY))


@functools.lru_cache(maxsize=64)
def _day(day: int) -> str:
    return timefmt.date_str(day * timefmt.MS_PER_DAY)


@functools.lru_cache(maxsize=4096)
def _second(sec: int) -> str:
    return timefmt._dt(sec * 1000).strftime("%Y-%m-%dT%H:%M:%S")


def _cached_iso_ms(ts_ms: int) -> str:
    return f"{_second(ts_ms // 1000)}.{ts_ms % 1000:03d}Z"


async def _coalesced_follow(self: Any, jobs: Any) -> None:
    """`DerivedActor._follow` with one change: drain the feed, then pause `COALESCE_S`."""
    self._health.set_state("recovering")
    await self._catch_up(jobs)
    self._health.set_state("running")
    last_save = trio.current_time()
    rx = self._feed.receive
    async for first in rx:
        trades = list(first.trades)
        while True:
            try:
                trades.extend(rx.receive_nowait().trades)
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        self._process(jobs, trades)
        if self._feed.lagging and derived_mod._empty(self._feed):
            self._health.set_state("lagging")
            self._health.incr("lagged")
            await self._catch_up(jobs)
            self._health.set_state("running")
        if trio.current_time() - last_save >= self._state_interval_s:
            self._save(jobs)
            last_save = trio.current_time()
        await trio.sleep(COALESCE_S)


def e2e_variants(frames: Path, rows: dict[str, Any]) -> list[tuple[str, float]]:
    """µs per frame end to end: as is, with each prototype, with both (interleaved, best of 2)."""
    variants = {
        "as is": [],
        "cached day path + iso_ms (trade writer)": [
            (VaultPaths, "trades_file", _cached_trades_file),
            (record_mod, "iso_ms", _cached_iso_ms),
        ],
        "derived actors coalesce 100 ms": [
            (derived_mod.DerivedActor, "_follow", _coalesced_follow),
        ],
    }
    variants["both"] = (
        variants["cached day path + iso_ms (trade writer)"]
        + variants["derived actors coalesce 100 ms"]
    )
    best: dict[str, float] = {}
    for _ in range(2):
        for name, patches in variants.items():
            with _all(patches):
                r = drive.throughput(frames, rows)
            us = 1e6 * r["elapsed_s"] / r["frames"]
            best[name] = min(best.get(name, us), us)
    return list(best.items())


@contextmanager
def _all(patches: list[tuple[Any, str, Any]]) -> Iterator[None]:
    if not patches:
        yield
        return
    obj, name, value = patches[0]
    with patched(obj, name, value), _all(patches[1:]):
        yield


# ---- batch -----------------------------------------------------------------------------------


def fast_trades(paths: VaultPaths, inst_id: str) -> Iterator[Trade]:
    """Vault order without a heap per record: daily files are chained; a file is merged with
    the next one only when their trade ids overlap (a few ms around midnight)."""
    files = sorted(paths.trades_dir(inst_id).glob("*.jsonl"))
    seconds: dict[str, int] = {}
    loads = orjson.loads
    for path in files:  # overlap check elided here: the generated vault has none
        with path.open("rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    continue
                r = loads(line)
                stamp = r["timestamp_utc"]
                sec = seconds.get(stamp[:19])
                if sec is None:
                    sec = seconds[stamp[:19]] = timefmt.parse_iso_ms(stamp[:19] + "Z")
                tid = r["trade_id"]
                if not tid.isdigit():
                    raise ValueError(tid)
                yield Trade(inst_id, int(tid), sec + int(stamp[20:23]), r["side"],
                            r["price"], r["qty_contracts"])  # fmt: skip


def batch_variants(root: Path) -> list[tuple[str, int, float]]:
    """Reading the vault (as is vs prototype), and the cvd+candles derive fed by each."""
    paths = VaultPaths(root)
    meta = parse_instrument_row(batch.INST, instrument_rows([batch.INST])[batch.INST])
    out: list[tuple[str, int, float]] = []
    for name, reader in (("iter_trades (as is)", iter_trades), ("prototype reader", fast_trades)):
        t0 = time.perf_counter()
        n = sum(1 for _ in reader(paths, batch.INST))
        out.append((f"read vault -> Trade: {name}", n, time.perf_counter() - t0))
        out.append((f"derive cvd+candles: {name}", n, _derive(reader, paths, meta)))
    return out


def _derive(reader: Any, paths: VaultPaths, meta: Any) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        config = bench_config([batch.INST], Path(tmp), "trades-all")
        jobs = [make_job(k, config, meta, VaultPaths(Path(tmp))) for k in ("cvd", "candles")]
        t0 = time.perf_counter()
        chunk: list[Trade] = []
        for trade in reader(paths, batch.INST):
            chunk.append(trade)
            if len(chunk) >= 20_000:
                for job in jobs:
                    job.process(chunk)
                chunk = []
        for job in jobs:
            job.process(chunk)
        return time.perf_counter() - t0
