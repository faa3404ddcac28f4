"""The order-book views: a depth ladder from the newest L2 snapshot and a liquidity heatmap over
recent snapshots (the seed's "whale walls"), read from the hourly snapshot files (SPEC §6).

Bounds: the ladder reads one line (the file's last); the heatmap reads at most `TAIL_BYTES`
from the end of the newest hourly file(s) — about 15-25 minutes of 400-level snapshots taken
every 2 s — and returns at most `MAX_COLUMNS × MAX_ROWS` cells. Sizes are summed exactly
(Decimal) and returned as decimal strings, like everything else the vault holds.
"""

from __future__ import annotations

import gzip
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from rq_actors.core.timefmt import parse_iso_ms
from rq_actors.io.vault.files import last_line
from rq_actors.io.vault.paths import VaultPaths

MAX_LEVELS = 400
MAX_COLUMNS = 120
MAX_ROWS = 100
MAX_MINUTES = 60
TAIL_BYTES = 16 * 1024 * 1024
_GZ_KEEP = 2000  # snapshots kept while streaming an already compressed hour


def _hour_files_newest_first(paths: VaultPaths, inst_id: str) -> list[Path]:
    root = paths.l2_dir(inst_id)
    if not root.is_dir():
        return []
    files = [p for p in root.glob("*/*") if p.name.endswith((".jsonl", ".jsonl.gz"))]
    # `{day}/{HH}.jsonl[.gz]`: the folder and the hour order them, whatever the suffix
    return sorted(files, key=lambda p: (p.parent.name, p.name.split(".")[0]), reverse=True)


def latest_snapshot(paths: VaultPaths, inst_id: str) -> dict[str, Any] | None:
    for path in _hour_files_newest_first(paths, inst_id)[:2]:
        lines = _tail(path, 1, TAIL_BYTES)
        if lines:
            doc: dict[str, Any] = orjson.loads(lines[-1])
            return doc
    return None


def _tail(path: Path, wanted: int, max_bytes: int) -> list[bytes]:
    """Up to the last `wanted` complete lines of `path` within its last `max_bytes`."""
    try:
        if path.name.endswith(".gz"):
            keep: deque[bytes] = deque(maxlen=min(wanted, _GZ_KEEP))
            with gzip.open(path, "rb") as f:
                for line in f:
                    if line.endswith(b"\n"):
                        keep.append(line)
            return list(keep)
        if wanted == 1:
            newest = last_line(path)
            return [] if newest is None else [newest]
        with path.open("rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except (FileNotFoundError, EOFError, gzip.BadGzipFile):
        return []
    lines = data.split(b"\n")[:-1]  # the unterminated tail (or nothing) after the last `\n`
    if size > max_bytes:
        lines = lines[1:]  # cut by the window
    return [ln for ln in lines if ln][-wanted:]


def ladder(snapshot: dict[str, Any], levels: int) -> dict[str, Any]:
    """Top `levels` bids and asks as `[price, size, cumulative size]` strings."""

    def side(rows: list[list[str]]) -> list[list[str]]:
        total = Decimal(0)
        out = []
        for row in rows[:levels]:
            total += Decimal(row[1])
            out.append([row[0], row[1], str(total)])
        return out

    return {
        "timestamp_utc": snapshot.get("timestamp_utc"),
        "best_bid": snapshot.get("best_bid"),
        "best_ask": snapshot.get("best_ask"),
        "mid_price": snapshot.get("mid_price"),
        "bids": side(snapshot.get("bids_top400") or []),
        "asks": side(snapshot.get("asks_top400") or []),
    }


def heatmap(
    paths: VaultPaths, inst_id: str, minutes: int, columns: int, rows: int, span_levels: int
) -> dict[str, Any]:
    """Resting size per (time column, price row) over the last `minutes` of snapshots.

    Price rows split the range between the `span_levels`-th bid and ask of the newest snapshot
    into `rows` equal bins; each column shows the last snapshot of its time slice. Only those
    (at most `columns`) snapshots are parsed: the others are told apart by the time at the
    start of their line, so the cost does not grow with the snapshots in the window."""
    files = _hour_files_newest_first(paths, inst_id)[:2]
    key = (inst_id, minutes, columns, rows, span_levels, *(_stamp(p) for p in files))
    hit = _HEATMAPS.get(key)
    if hit is not None:
        return hit
    doc = _heatmap(files, minutes, columns, rows, span_levels)
    if len(_HEATMAPS) >= _HEATMAP_CACHE:
        _HEATMAPS.pop(next(iter(_HEATMAPS)))
    _HEATMAPS[key] = doc
    return doc


_HEATMAP_CACHE = 16  # every open page asks for the same few heatmaps; files change every 2 s
_HEATMAPS: dict[tuple[Any, ...], dict[str, Any]] = {}
_EMPTY: dict[str, Any] = {"columns": [], "price_edges": [], "cells": []}


def _stamp(path: Path) -> tuple[str, int]:
    try:
        return str(path), path.stat().st_size
    except FileNotFoundError:
        return str(path), -1


def _heatmap(
    files: list[Path], minutes: int, columns: int, rows: int, span_levels: int
) -> dict[str, Any]:
    timed = _recent_lines(files, minutes)
    if not timed:
        return _EMPTY
    start_ms, end_ms = timed[0][0], timed[-1][0] + 1
    per_column = max(1, (end_ms - start_ms + columns - 1) // columns)
    chosen: dict[int, bytes] = {}
    for ts, line in timed:
        chosen[(ts - start_ms) // per_column] = line  # the slice's last snapshot wins
    snaps = [orjson.loads(line) for _, line in sorted(chosen.items())]
    snaps = [s for s in snaps if not s.get("gap_detected")]  # a gap record holds no book
    if not snaps:
        return _EMPTY
    bids, asks = snaps[-1].get("bids_top400") or [], snaps[-1].get("asks_top400") or []
    if not bids or not asks:
        return _EMPTY
    low = Decimal(bids[min(span_levels, len(bids)) - 1][0])
    high = Decimal(asks[min(span_levels, len(asks)) - 1][0])
    width = (high - low) / rows
    return {
        "columns": [s.get("timestamp_utc") for s in snaps],
        "price_edges": [str(low + width * i) for i in range(rows + 1)],
        "cells": [_bucket(s, low, width, rows) for s in snaps],
    }


def _bucket(snap: dict[str, Any], low: Decimal, width: Decimal, rows: int) -> list[str]:
    sums = [Decimal(0)] * rows
    if width > 0:
        for level in (*(snap.get("bids_top400") or []), *(snap.get("asks_top400") or [])):
            offset = Decimal(level[0]) - low
            if offset < 0:
                continue  # below the range (Decimal `//` truncates toward zero, not down)
            row = int(offset // width)
            if row < rows:
                sums[row] += Decimal(level[1])
    return [str(s) for s in sums]


_TIME_KEY = b'"timestamp_utc":"'


def _line_time(line: bytes) -> int | None:
    """The snapshot's time from the start of its line (the writer puts it first)."""
    at = line.find(_TIME_KEY, 0, 64)
    if at < 0:
        return None
    start = at + len(_TIME_KEY)
    try:
        return parse_iso_ms(line[start : line.index(b'"', start)].decode())
    except ValueError:
        return None


def _recent_lines(files: list[Path], minutes: int) -> list[tuple[int, bytes]]:
    budget = TAIL_BYTES
    lines: list[bytes] = []
    for path in files:
        got = _tail(path, 1 << 30, budget)
        lines = got + lines
        budget -= sum(len(x) for x in got)
        if budget <= 0:
            break
    timed = [(t, ln) for ln in lines if (t := _line_time(ln)) is not None]
    if not timed:
        return []
    timed.sort(key=lambda s: s[0])
    since = timed[-1][0] - minutes * 60_000
    return [s for s in timed if s[0] >= since]
