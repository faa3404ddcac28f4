"""Derived output streams: daily JSONL files, each record written once (SPEC §4, §7, §8).

A stream is one timeframe of one metric (`cvd/1m`, `candles/5m`, `vwap/1m`) or the wick event
log. Its files are non-decreasing in record time (windows: strictly increasing). On open, the
torn tail of the newest file is cut, and its last line tells the newest time already written,
with how many records at that very time are on disk (events can share a millisecond). After a
crash between the outputs and the state file the calculator re-emits what follows its older
state; everything already on disk is dropped here. The calculators are deterministic, so a
re-emitted record is byte-identical to the one on disk and dropping it is exact.

A complete line (newline-terminated) that is not a record of the stream cannot come from a crash
(a crash leaves at most an unterminated tail): it means the file was edited or damaged. Restore
then raises `DerivedOutputError` naming the file and line instead of guessing; the outputs are
re-derivable, so the remedy is `rq derive --rebuild` (or deleting the damaged file).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from rq_actors.core.timefmt import date_str, parse_iso_ms
from rq_actors.errors import RqError
from rq_actors.io.vault.files import JsonlAppender, last_line, repair_torn_tail
from rq_actors.io.vault.paths import daily_file


class DerivedOutputError(RqError):
    """A derived output file holds a complete line that is not one of its records."""


class StreamSink:
    def __init__(self, folder: Path, time_key: str) -> None:
        self._folder = folder
        self._time_key = time_key
        self._out = JsonlAppender()
        self.last_ms, self._at_last = self._restore()
        self._skip_at_last = self._at_last  # records at `last_ms` still to be recognised
        self.written = 0
        # called with the records this sink has just appended (not those already on disk)
        self.on_written: Callable[[list[tuple[int, dict[str, Any]]]], None] | None = None

    def _restore(self) -> tuple[int, int]:
        """(time of the last record on disk, how many records on disk have that time)."""
        files = sorted(self._folder.glob("*.jsonl")) if self._folder.is_dir() else []
        for path in reversed(files):
            repair_torn_tail(path)
            line = last_line(path)
            if line is not None:  # an empty line is not a record either: refused by `_time`
                last = self._time(line, path, None)
                lines = path.read_bytes().split(b"\n")[:-1]  # `\n` only, as written
                same = sum(1 for n, ln in enumerate(lines, 1) if self._time(ln, path, n) == last)
                return last, same
        return -1, 0

    def _time(self, line: bytes, path: Path, lineno: int | None) -> int:
        try:
            value = orjson.loads(line)[self._time_key]
            if not isinstance(value, str):
                raise TypeError(f"{self._time_key} is {type(value).__name__}")
            return parse_iso_ms(value)
        except (ValueError, KeyError, TypeError, IndexError) as exc:  # JSONDecodeError: ValueError
            where = f"{path}:{lineno}" if lineno is not None else f"{path} (last line)"
            raise DerivedOutputError(
                f"{where}: not a record with a `{self._time_key}` time ({exc!r}): {line[:120]!r}; "
                "derived outputs are re-derivable: run `rq derive --rebuild` for this metric"
            ) from None

    def write(self, items: Iterable[tuple[int, dict[str, Any]]]) -> int:
        """Append `(time_ms, record)` items (non-decreasing), skipping those already on disk."""
        by_file: dict[Path, list[bytes]] = {}
        fresh: list[tuple[int, dict[str, Any]]] | None = [] if self.on_written else None
        last = self.last_ms
        for window_ms, record in items:
            if window_ms < last:
                continue
            if window_ms == last and self._skip_at_last > 0:
                self._skip_at_last -= 1
                continue
            if window_ms > last:
                last = window_ms
                self._skip_at_last = 0
            path = daily_file(self._folder, date_str(window_ms))
            by_file.setdefault(path, []).append(orjson.dumps(record))
            if fresh is not None:
                fresh.append((window_ms, record))
        for path, lines in by_file.items():
            self._out.append(path, lines)
            self.written += len(lines)
        self.last_ms = last
        if fresh and self.on_written is not None:
            self.on_written(fresh)
        return sum(len(v) for v in by_file.values())

    def sync(self) -> None:
        self._out.sync()

    def close(self) -> None:
        self._out.close()
