"""Reading the health log back: the newest line of every actor (`rq status`, the dashboard)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

_TAIL_BYTES = 8 * 1024 * 1024  # the newest lines are at the end; older ones do not matter here


def latest_by_actor(log: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The newest line per (instId, actor) in the health log (and its rotated predecessor)."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for path in (log.with_name(log.name + ".1"), log):
        for line in _tail_lines(path):
            try:
                rec = orjson.loads(line)
                key = (rec["inst_id"], rec["actor"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue  # a torn last line while rq-run is writing
            latest[key] = rec
    return latest


def _tail_lines(path: Path) -> list[bytes]:
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - _TAIL_BYTES))
            data = f.read()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    if size > _TAIL_BYTES:
        lines = lines[1:]  # the first line is cut
    return [ln for ln in lines if ln]
