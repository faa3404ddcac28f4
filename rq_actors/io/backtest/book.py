"""Book features for setups from the vault's L2 snapshot files (SPEC §4), when there are any.

For each setup instant the newest snapshot at or before it is taken from that hour's file or,
if the hour holds none that early, the previous hour's (`.jsonl` or retention's `.jsonl.gz`).
Each hour file is read once for all the setups that need it, and only the chosen lines are
parsed (the timestamp is read from the line's fixed prefix).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import orjson

from rq_actors.core.backtest.features import book_features
from rq_actors.core.backtest.setup import Setup
from rq_actors.core.timefmt import MS_PER_HOUR, parse_iso_ms
from rq_actors.io.vault.paths import VaultPaths

_PREFIX = b'{"timestamp_utc":"'
_TS_LEN = len("2025-12-14T21:34:56.123Z")


def attach_book_features(
    paths: VaultPaths,
    inst_id: str,
    setups: Sequence[Setup],
    tick: Decimal,
    *,
    near: int = 2,
    levels: int = 20,
) -> int:
    """Add `book_*` features to each setup's context in place; return how many got them."""
    if not paths.l2_dir(inst_id).is_dir():
        return 0
    instants = sorted({s.as_of_ms for s in setups})
    chosen: dict[int, bytes] = {}
    by_hour: dict[int, list[int]] = {}
    for t in instants:
        by_hour.setdefault(t - t % MS_PER_HOUR, []).append(t)
    for hour, ts in sorted(by_hour.items()):
        found = _newest_at_or_before(paths, inst_id, hour, ts)
        missing = [t for t in ts if t not in found]
        if missing:
            found.update(_newest_at_or_before(paths, inst_id, hour - MS_PER_HOUR, missing))
        chosen.update(found)
    n = 0
    for s in setups:
        line = chosen.get(s.as_of_ms)
        if line is None:
            continue
        feats = book_features(
            orjson.loads(line), s.fade, s.tip, tick, s.as_of_ms, near=near, levels=levels
        )
        s.context.update(feats)
        n += 1
    return n


def _newest_at_or_before(
    paths: VaultPaths, inst_id: str, hour_ms: int, instants: list[int]
) -> dict[int, bytes]:
    """For each instant (ascending), the last line of the hour file with time ≤ it."""
    out: dict[int, bytes] = {}
    lines = _lines(paths.l2_file(inst_id, hour_ms))
    if lines is None:
        return out
    i = 0
    last: bytes | None = None
    for line, ts in lines:
        while i < len(instants) and ts > instants[i]:
            if last is not None:
                out[instants[i]] = last
            i += 1
        if i == len(instants):
            return out
        last = line
    while i < len(instants) and last is not None:
        out[instants[i]] = last
        i += 1
    return out


def _lines(path: Path) -> Iterator[tuple[bytes, int]] | None:
    gz = path.with_name(path.name + ".gz")
    if path.exists():
        return _read(path.open("rb"))
    if gz.exists():
        return _read(gzip.open(gz, "rb"))
    return None


def _read(f: object) -> Iterator[tuple[bytes, int]]:
    with f:  # type: ignore[attr-defined]
        for line in f:  # type: ignore[attr-defined]
            if not line.endswith(b"\n"):
                return  # a torn tail is not a snapshot
            if line.startswith(_PREFIX):
                stamp = line[len(_PREFIX) : len(_PREFIX) + _TS_LEN].decode()
            else:
                stamp = str(orjson.loads(line)["timestamp_utc"])
            yield line, parse_iso_ms(stamp)
