"""The persisted alert outbox: an fsync'd JSONL journal that survives `kill -9`.

`alerts/outbox.jsonl` under the vault holds two kinds of line:
- `{"op": "add", "key", "created_ms", "notifiers": [...], "alert": {...}}` once per alert, before
  any notifier sees it;
- `{"op": "done", "key", "notifier", "outcome", "status"}` once a notifier is finished with it
  (`outcome`: `sent` = the receiver answered 2xx, `stale`, `failed`, `overflow`).
Replaying the journal gives what each notifier still owes. An alert whose send had started but
whose `done` line was not written yet is sent again after a crash, with the same key: at least
once, at most one repeat per crash. A `done` is never undone, so a clean restart resends nothing.

Bound: at most `max_pending` alerts are owed; adding one more drops the oldest (outcome
`overflow`, counted per notifier). The journal is compacted (atomically rewritten with what is
still owed) once it holds `4 × max_pending` lines, so the file stays bounded too.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import IO, Any

import attrs
import orjson

from rq_actors.core.alerts.model import Alert
from rq_actors.io.vault.files import atomic_write_bytes, iter_jsonl, repair_torn_tail

OUTCOMES = ("sent", "stale", "failed", "overflow")


@attrs.define
class Pending:
    alert: Alert
    created_ms: int
    owed: set[str]  # notifier names that have not finished with it

    def add_line(self) -> bytes:
        doc = {
            "op": "add",
            "key": self.alert.key,
            "created_ms": self.created_ms,
            "notifiers": sorted(self.owed),
            "alert": self.alert.to_json(),
        }
        return orjson.dumps(doc) + b"\n"


class Outbox:
    """Synchronous and called on the trio thread: alerts are a few a minute, and one small
    fsync'd append each is cheaper than handing every write to a worker thread."""

    def __init__(self, path: Path, notifiers: list[str], max_pending: int) -> None:
        self.path = path
        self._notifiers = list(notifiers)
        self._max = max_pending
        self.pending: OrderedDict[str, Pending] = OrderedDict()
        self._known: set[str] = set()  # keys in the journal now: an alert made twice is added once
        self._lines = 0
        self.overflow: dict[str, int] = dict.fromkeys(notifiers, 0)
        path.parent.mkdir(parents=True, exist_ok=True)
        repair_torn_tail(path)  # a kill mid-line leaves half a line: it was never acted on
        self._replay()
        self._file: IO[bytes] = path.open("ab")

    def _replay(self) -> None:
        if not self.path.exists():
            return
        for doc in iter_jsonl(self.path):
            self._lines += 1
            key = doc["key"]
            self._known.add(key)
            if doc["op"] == "add":
                # notifiers removed from the config since are owed nothing; new ones get only
                # what is made from now on (a new phone must not receive yesterday's backlog)
                owed = set(doc["notifiers"]) & set(self._notifiers)
                if owed:
                    alert = Alert.from_json(doc["alert"])
                    self.pending[key] = Pending(alert, int(doc["created_ms"]), owed)
            elif doc["op"] == "done" and key in self.pending:
                entry = self.pending[key]
                entry.owed.discard(doc["notifier"])
                if not entry.owed:
                    del self.pending[key]

    def add(self, alert: Alert, created_ms: int) -> bool:
        """Journal a new alert for every notifier; False when the key is already journaled."""
        if alert.key in self._known or not self._notifiers:
            return False
        lines = []
        while len(self.pending) >= self._max:
            _, oldest = self.pending.popitem(last=False)
            for name in sorted(oldest.owed):
                self.overflow[name] += 1
                lines.append(self._done_line(oldest.alert.key, name, "overflow", None))
            oldest.owed.clear()  # a delivery busy retrying it sees that and lets go
        entry = Pending(alert, created_ms, set(self._notifiers))
        lines.append(entry.add_line())
        self._write(lines)
        self.pending[alert.key] = entry
        self._known.add(alert.key)
        return True

    def next_for(self, notifier: str) -> Pending | None:
        """The oldest alert `notifier` still owes (an O(pending) scan; pending is bounded)."""
        for entry in self.pending.values():
            if notifier in entry.owed:
                return entry
        return None

    def done(self, key: str, notifier: str, outcome: str, status: int | None) -> None:
        entry = self.pending.get(key)
        if entry is None or notifier not in entry.owed:
            return  # dropped as overflow meanwhile
        self._write([self._done_line(key, notifier, outcome, status)])
        entry.owed.discard(notifier)
        if not entry.owed:
            del self.pending[key]
        if self._lines >= 4 * self._max:
            self._compact()

    @staticmethod
    def _done_line(key: str, notifier: str, outcome: str, status: int | None) -> bytes:
        doc: dict[str, Any] = {"op": "done", "key": key, "notifier": notifier}
        doc.update(outcome=outcome, status=status)
        return orjson.dumps(doc) + b"\n"

    def _write(self, lines: list[bytes]) -> None:
        self._file.write(b"".join(lines))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._lines += len(lines)

    def _compact(self) -> None:
        lines = [e.add_line() for e in self.pending.values()]
        self._file.close()
        atomic_write_bytes(self.path, b"".join(lines))
        self._file = self.path.open("ab")
        self._lines = len(lines)
        self._known = set(self.pending)

    def close(self) -> None:
        self._file.close()
