"""`rq status CONFIG`: the latest health line of every actor, as a table (SPEC §9)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

import orjson

from rq_actors.config import Config
from rq_actors.io.vault.paths import VaultPaths

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


def format_table(latest: dict[tuple[str, str], dict[str, Any]]) -> str:
    header = (
        "INSTRUMENT",
        "ACTOR",
        "STATE",
        "RESTARTS",
        "LAG_MS",
        "UPDATED",
        "COUNTERS",
        "LAST_ERROR",
    )
    rows = [header]
    for (inst, actor), rec in sorted(latest.items()):
        counters = " ".join(f"{k}={v}" for k, v in sorted((rec.get("counters") or {}).items()))
        lag = rec.get("lag_ms")
        rows.append(
            (
                inst,
                actor,
                str(rec.get("state", "?")),
                str(rec.get("restarts", 0)),
                "-" if lag is None else str(lag),
                str(rec.get("ts", "")),
                counters or "-",
                (rec.get("last_error") or "-")[:80],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 2)]
    out = []
    for r in rows:
        fixed = "  ".join(cell.ljust(w) for cell, w in zip(r[:-2], widths, strict=True))
        out.append(f"{fixed}  {r[-2]}  {r[-1]}".rstrip())
    return "\n".join(out)


def print_status(config: Config, out: TextIO = sys.stdout) -> int:
    log = VaultPaths(config.vault_root).health_log()
    latest = latest_by_actor(log)
    if not latest:
        print(f"no health lines yet in {log} (is rq-run running with this config?)", file=out)
        return 1
    print(format_table(latest), file=out)
    return 0
