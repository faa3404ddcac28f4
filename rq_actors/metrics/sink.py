"""Derived output streams: daily JSONL files, each window written once (SPEC §4, §7).

A stream is one timeframe of one metric (`cvd/1m`, `candles/5m`, `vwap/1m`). Its files are
strictly increasing in window time. On open, the torn tail of the newest file is cut and its last
line tells the newest window already written; the calculator may re-emit windows after a crash
between the outputs and the state file, and those are dropped here. Because the calculators are
deterministic, a re-emitted window is byte-identical to the one on disk, so dropping it is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from rq_actors.timefmt import date_str, parse_iso_ms
from rq_actors.vault.files import JsonlAppender, last_line, repair_torn_tail


class StreamSink:
    def __init__(self, folder: Path, file_for_day: Callable[[str], Path], time_key: str) -> None:
        self._folder = folder
        self._file_for_day = file_for_day
        self._time_key = time_key
        self._out = JsonlAppender()
        self.last_ms = self._restore()
        self.written = 0

    def _restore(self) -> int:
        files = sorted(self._folder.glob("*.jsonl")) if self._folder.is_dir() else []
        for path in reversed(files):
            repair_torn_tail(path)
            line = last_line(path)
            if line:
                return parse_iso_ms(orjson.loads(line)[self._time_key])
        return -1

    def write(self, items: Iterable[tuple[int, dict[str, Any]]]) -> int:
        """Append `(window_ms, record)` items (increasing), skipping windows already written."""
        by_file: dict[Path, list[bytes]] = {}
        last = self.last_ms
        for window_ms, record in items:
            if window_ms <= last:
                continue
            last = window_ms
            path = self._file_for_day(date_str(window_ms))
            by_file.setdefault(path, []).append(orjson.dumps(record))
        for path, lines in by_file.items():
            self._out.append(path, lines)
            self.written += len(lines)
        self.last_ms = last
        return sum(len(v) for v in by_file.values())

    def sync(self) -> None:
        self._out.sync()

    def close(self) -> None:
        self._out.close()
