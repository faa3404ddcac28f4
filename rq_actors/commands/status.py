"""`rq status CONFIG`: the latest health line of every actor, as a table (SPEC §9).

A health line says what was true when it was written; a process killed with `kill -9` leaves
`running` behind. So status also asks whether the process is still there (the pid in the vault
lock, see `rq_actors.io.vault.lock`) and how old the newest line is: when the holder is gone,
or has written nothing for `_SILENT_INTERVALS` × `health.interval_s`, every actor that does not
already say `stopped` or `failed` is shown as `stale`, and a last line says why.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rq_actors.config import Config
from rq_actors.core.timefmt import parse_iso_ms
from rq_actors.io.health_read import latest_by_actor
from rq_actors.io.vault.lock import read_holder
from rq_actors.io.vault.paths import VaultPaths

_SILENT_INTERVALS = 3  # health lines missed before a live process counts as silent
_FINAL_STATES = ("stopped", "failed")


def liveness(
    config: Config, latest: dict[tuple[str, str], dict[str, Any]], now_ms: int
) -> str | None:
    """None when a live process is writing health lines; otherwise why the table is stale."""
    holder = read_holder(config.vault_root)
    stamps = [ms for ms in (_ts_ms(rec) for rec in latest.values()) if ms is not None]
    newest = max(stamps, default=None)
    age = "never" if newest is None else f"{max(0, now_ms - newest) / 1000:.0f} s ago"
    if holder is None:
        return f"no rq-run holds this vault (not running); newest health line {age}"
    if not holder.alive:
        return (
            f"{holder.command} (pid {holder.pid}) is gone (not running); newest health line {age}"
        )
    silent_ms = _SILENT_INTERVALS * config.health.interval_s * 1000
    if newest is None or now_ms - newest > silent_ms:
        return f"{holder.command} (pid {holder.pid}) is alive but silent: newest health line {age}"
    return None


def _ts_ms(rec: dict[str, Any]) -> int | None:
    try:
        return parse_iso_ms(str(rec.get("ts")))
    except ValueError:
        return None


def mark_stale(latest: dict[tuple[str, str], dict[str, Any]]) -> None:
    for rec in latest.values():
        if rec.get("state") not in _FINAL_STATES:
            rec["state"] = "stale"


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
    why = liveness(config, latest, int(time.time() * 1000))
    if why is not None:
        mark_stale(latest)
    print(format_table(latest), file=out)
    print(why or "rq-run is running", file=out)
    return 0 if why is None else 1
