"""Rejected input goes to `quarantine/okx/{instId}/{date}.jsonl` with its raw text and reason.

Nothing else changes when a line is quarantined: capture keeps running (SPEC §5).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import orjson

from rq_actors.core.timefmt import date_str, iso_ms
from rq_actors.io.vault.files import JsonlAppender
from rq_actors.io.vault.paths import VaultPaths


class QuarantineCounters(Protocol):
    """Where a write is counted (an actor's `HealthReporter`): structural, so the vault layer
    does not depend on the health module, which itself writes through the vault's files."""

    last_error: str | None

    def incr(self, counter: str, n: int = 1) -> None: ...


class QuarantineLog:
    """One per instrument, shared by that instrument's actors (single-threaded: no interleaving).

    The file date is the event time when the input had a usable `ts`, else the wall clock (a
    malformed frame has no event time). No file stays open between writes: quarantined input is
    rare, and the three actors sharing the log end in any order, so none has to close it.
    """

    def __init__(self, paths: VaultPaths, inst_id: str) -> None:
        self._paths = paths
        self._inst_id = inst_id
        self._out = JsonlAppender()
        self.count = 0
        self.write_errors = 0

    def write(
        self,
        raw: str,
        reason: str,
        *,
        ts_ms: int | None = None,
        kind: str = "rejected",
        health: QuarantineCounters | None = None,
        **extra: Any,
    ) -> None:
        now_ms = int(time.time() * 1000)
        day_ms = ts_ms if ts_ms is not None else now_ms
        record: dict[str, Any] = {
            "quarantined_at_utc": iso_ms(now_ms),
            "kind": kind,
            "instId": self._inst_id,
            "reason": reason,
            "event_time_utc": iso_ms(ts_ms) if ts_ms is not None else None,
            **extra,
            "raw": raw,
        }
        try:
            self._out.append(
                self._paths.quarantine_file(self._inst_id, date_str(day_ms)),
                [orjson.dumps(record)],
            )
            self._out.close()
        except OSError as exc:
            # Disk full: the rejected input is dropped and counted; capture matters more, and
            # no caller (socket, book, trade writer) should fail or reconnect over it.
            self.write_errors += 1
            if health is not None:
                health.incr("quarantine_write_errors")
                health.last_error = f"quarantine not written ({reason[:80]}): {exc}"
            return
        self.count += 1
        if health is not None:
            health.incr("gaps" if kind == "gap" else "quarantined")

    def close(self) -> None:
        self._out.close()
