"""Shared helpers for the backtest tests (no tests here): tapes and a real tmp vault."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from pathlib import Path

from rq_actors.config import Config, parse_config
from rq_actors.core.backtest.setup import Setup
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.timefmt import MS_PER_MINUTE
from rq_actors.core.trades.record import encode_trade
from rq_actors.io.instruments import meta_to_doc
from rq_actors.io.vault.files import atomic_write_json
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade

INST = "BTC-USDT-SWAP"
META = InstrumentMeta(INST, "SWAP", "0.01", "1", "linear", "0.1", "0.01")
T0 = 1_765_710_000_000  # 2025-12-14T11:00:00Z, minute-aligned


def tape(minutes: Sequence[Sequence[str]], start_ms: int = T0, first_id: int = 1) -> list[Trade]:
    """One list of prices per minute; the i-th trade of minute k at `k min + (i + 1) s`."""
    out: list[Trade] = []
    tid = first_id
    for k, prices in enumerate(minutes):
        for i, px in enumerate(prices):
            ts = start_ms + k * MS_PER_MINUTE + (i + 1) * 1000
            out.append(Trade(INST, tid, ts, "buy" if i % 2 else "sell", px, "1"))
            tid += 1
    return out


def random_walk(seed: int, minutes: int, per_minute: int = 20) -> list[Trade]:
    """A seeded walk on the 0.1 grid with ±1-3 tick steps: many small wicks and touches."""
    rng = random.Random(seed)
    ticks = 1_000_000
    out: list[Trade] = []
    for k in range(minutes):
        offsets = sorted(rng.sample(range(1, 59_999), per_minute))
        for off in offsets:
            ticks += rng.choice((-3, -2, -1, -1, 0, 1, 1, 2, 3))
            side = "buy" if rng.random() < 0.5 else "sell"
            px = f"{ticks // 10}.{ticks % 10}"
            out.append(Trade(INST, len(out) + 1, T0 + k * MS_PER_MINUTE + off, side, px, "1"))  # type: ignore[arg-type]
    return out


def write_vault(root: Path, trades: Iterable[Trade], meta: InstrumentMeta = META) -> Config:
    """A real vault: saved metadata and daily trade files written with the vault encoder."""
    paths = VaultPaths(root)
    atomic_write_json(paths.instrument_meta(meta.inst_id), meta_to_doc(meta, {}, T0))
    by_file: dict[Path, list[bytes]] = {}
    for t in trades:
        by_file.setdefault(paths.trades_file(meta.inst_id, t.ts_ms), []).append(
            encode_trade(t, meta)
        )
    for path, lines in by_file.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(line + b"\n" for line in lines))
    return parse_config({"instruments": [meta.inst_id], "vault": {"root": str(root)}})


def planted_walk(
    seed: int, minutes: int, p_turn: float | None, *, age: tuple[int, int] = (20, 40),
    per_minute: int = 20, run: int = 15,
) -> list[Trade]:  # fmt: skip
    """A walk with a planted edge: when price first reaches the tip of an untouched 1m wick
    aged `age[0] + 1 .. age[1]` minutes, it trades 1 tick through the tip, then with
    probability `p_turn` runs `run` ticks back (the fade wins), else `run` ticks on (it loses).
    `p_turn=None`: the plain walk (same steps, nothing planted)."""
    rng = random.Random(seed)
    ticks = 1_000_000
    out: list[Trade] = []
    wicks: list[tuple[int, int, int]] = []  # (created_ms, tip, +1 upper / -1 lower), untouched
    forced: list[int] = []  # the next steps, when a plant is running
    m_open = m_high = m_low = m_close = ticks
    for k in range(minutes):
        start = T0 + k * MS_PER_MINUTE
        if k:
            top, bottom = max(m_open, m_close), min(m_open, m_close)
            if m_high > top:
                wicks.append((start, m_high, 1))
            if m_low < bottom:
                wicks.append((start, m_low, -1))
            wicks = [w for w in wicks if start - w[0] <= age[1] * MS_PER_MINUTE]
        offsets = sorted(rng.sample(range(1, 59_999), per_minute))
        for i, off in enumerate(offsets):
            ts = start + off
            step = forced.pop(0) if forced else rng.choice((-2, -1, -1, 0, 1, 1, 2))
            ticks += step
            if i == 0:
                m_open = m_high = m_low = ticks
            m_high, m_low, m_close = max(m_high, ticks), min(m_low, ticks), ticks
            hit = [w for w in wicks if (ticks - w[1]) * w[2] >= 0]
            wicks = [w for w in wicks if w not in hit]
            for created, tip, d in hit:
                old = age[0] * MS_PER_MINUTE < ts - created
                if p_turn is not None and old and not forced:
                    ticks = tip  # the touch lands exactly on the tip; the next trade goes through
                    m_high, m_low, m_close = max(m_high, ticks), min(m_low, ticks), ticks
                    back = -d if rng.random() < p_turn else d
                    forced = [d] + [back] * (run + 1)
            side = "buy" if rng.random() < 0.5 else "sell"
            out.append(Trade(INST, len(out) + 1, ts, side, f"{ticks // 10}.{ticks % 10}", "1"))  # type: ignore[arg-type]
    return out


# A hand-checked tape: 1m candles of a few trades each (prices), and its rules
BASE = [
    ["100.0", "101.0", "100.0"],
    ["100.0", "101.2", "100.0"],
    ["99.0", "99.2", "99.0"],
    ["98.5"],
    ["98.5"],
]
W1 = f"{INST}:1m:2025-12-14T11:01:00Z:upper"
W2 = f"{INST}:1m:2025-12-14T11:02:00Z:upper"
RULES = {
    "age_min": 2,
    "age_max": 10,
    "min_touched_surrounding": 1,
    "surround_minutes": 5,
    "stop": "5t",
    "target": "1R",
    "baselines": False,
}


def make_setup(seq: int, tip: int = 1000, fade: str = "short", until: int = 10_000) -> Setup:
    return Setup(
        seq=seq, group="signal", rules=0, id=f"w{seq}", inst_id="X-USDT-SWAP", tf="1m",
        side="upper" if fade == "short" else "lower", fade=fade, as_of_ms=0, created_ms=0,  # type: ignore[arg-type]
        tip=tip, base=tip - 2 if fade == "short" else tip + 2, size_ticks=2, age_min=20,
        tier="WATCH", strength="LOW", touched_surrounding=10, surrounding=12,
        median_size_ticks="3", price=tip - 5, distance_ticks=5, order_until_ms=until,
    )  # fmt: skip
