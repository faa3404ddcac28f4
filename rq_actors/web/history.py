"""History for the dashboard: bounded, paged reads of the derived vault streams (SPEC §4).

Every reader here is synchronous file I/O; the web app runs it in a worker thread so a slow disk
never stalls the trio loop that also runs capture. Each call is bounded: at most `limit` records
come back, and a stream is read one daily file at a time from the newest backwards, stopping as
soon as the page is full, so the cost of a request is at most one day file beyond the page.

Paging goes backwards in time: a page is the newest `limit` records with time in
`[start, end)`; `next_end` is the time of its oldest record when older ones exist, to pass as
`end` for the page before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import orjson

from rq_actors.core.timefmt import date_str, iso_ms, parse_iso_ms
from rq_actors.io.vault.files import iter_jsonl, read_json
from rq_actors.io.vault.paths import VaultPaths

MAX_ROWS = 5000  # per request; larger asks are refused with 400, never silently cut
MAX_WICKS = 2000
SETUP_EVENTS_SHOWN = 100
_SETUP_LIVE = ("appeared", "tier_changed")  # any other lifecycle event ends a setup


@attrs.frozen
class Stream:
    """One daily-rotated JSONL stream and the key holding each record's time."""

    folder: Path
    time_key: str


def stream_for(paths: VaultPaths, inst_id: str, kind: str, tf: str) -> Stream:
    if kind == "candles":
        return Stream(paths.candles_dir(inst_id) / tf, "open_time_utc")
    if kind == "cvd":
        return Stream(paths.cvd_dir(inst_id) / tf, "window_start_utc")
    if kind == "vwap":
        return Stream(paths.vwap_dir(inst_id) / "1m", "window_start_utc")
    if kind == "wick_events":
        return Stream(paths.wicks_dir(inst_id) / "events", "event_time_utc")
    if kind == "signals":
        return Stream(paths.signals_dir(inst_id), "event_time_utc")
    raise ValueError(f"unknown stream kind {kind!r}")


@attrs.frozen
class Page:
    records: list[dict[str, Any]]  # oldest first
    next_end: str | None

    def to_json(self) -> dict[str, Any]:
        return {"records": self.records, "count": len(self.records), "next_end": self.next_end}


def read_page(stream: Stream, start_ms: int | None, end_ms: int | None, limit: int) -> Page:
    """The newest `limit` records with `start_ms <= time < end_ms` (either bound open)."""
    if not 1 <= limit <= MAX_ROWS:
        raise ValueError(f"limit must be in 1..{MAX_ROWS}")
    newest_first: list[tuple[int, dict[str, Any]]] = []
    more = False
    for path in _day_files_newest_first(stream.folder, start_ms, end_ms):
        day = [(t, r) for t, r in _timed(path, stream.time_key) if _within(t, start_ms, end_ms)]
        for item in reversed(day):
            if len(newest_first) == limit:
                more = True
                break
            newest_first.append(item)
        if more:
            break
    newest_first.reverse()
    next_end = iso_ms(newest_first[0][0]) if more and newest_first else None
    return Page([r for _, r in newest_first], next_end)


def _within(t: int, start_ms: int | None, end_ms: int | None) -> bool:
    return (start_ms is None or t >= start_ms) and (end_ms is None or t < end_ms)


def _day_files_newest_first(folder: Path, start_ms: int | None, end_ms: int | None) -> list[Path]:
    if not folder.is_dir():
        return []
    first = None if start_ms is None else date_str(start_ms)
    last = None if end_ms is None else date_str(max(end_ms - 1, 0))
    files = [
        p
        for p in folder.glob("*.jsonl")
        if (first is None or p.stem >= first) and (last is None or p.stem <= last)
    ]
    return sorted(files, reverse=True)


def _timed(path: Path, time_key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        for record in iter_jsonl(path):
            value = record.get(time_key) if isinstance(record, dict) else None
            if isinstance(value, str):
                yield parse_iso_ms(value), record
    except FileNotFoundError:
        return  # removed between listing and reading (retention, --rebuild)


class _JsonCache:
    """The last parsed copy of a rewritten JSON document, reused while its file is unchanged:
    `wicks_active.json` can hold tens of thousands of wicks and is rewritten about twice a
    minute, while every open page asks for it. Bound: one document per path, one path per
    configured instrument."""

    def __init__(self) -> None:
        self._docs: dict[Path, tuple[tuple[int, int], Any]] = {}

    def get(self, path: Path) -> Any | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        key = (st.st_mtime_ns, st.st_size)
        hit = self._docs.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        try:
            doc = read_json(path)
        except (OSError, orjson.JSONDecodeError):
            return None  # mid-replace on a filesystem without atomic rename: next call
        self._docs[path] = (key, doc)
        return doc


_ACTIVE = _JsonCache()


def wick_levels(
    paths: VaultPaths, inst_id: str, tfs: set[str], touched: bool, limit: int
) -> dict[str, Any]:
    """Active wicks of the timeframes `tfs` (untouched; touched ones too with `touched`), the
    newest `limit` by creation of each timeframe (so the many 1m wicks never crowd out the few
    4h ones), from `wicks_active.json`."""
    if not 1 <= limit <= MAX_WICKS:
        raise ValueError(f"limit must be in 1..{MAX_WICKS}")
    doc = _ACTIVE.get(paths.wicks_active(inst_id))
    wicks = doc.get("wicks", []) if isinstance(doc, dict) else []
    chosen = [
        w
        for w in wicks
        if isinstance(w, dict)
        and w.get("tf") in tfs
        and (w.get("state") == "untouched" or (touched and w.get("state") == "touched"))
    ]
    chosen.sort(key=lambda w: (str(w.get("created_at")), str(w.get("id"))))
    per_tf: dict[str, list[dict[str, Any]]] = {}
    for w in chosen:
        per_tf.setdefault(str(w["tf"]), []).append(w)
    kept = [w for tf in sorted(per_tf) for w in per_tf[tf][-limit:]]
    as_of = doc.get("as_of_utc") if isinstance(doc, dict) else None
    return {"as_of_utc": as_of, "wicks": kept, "total": len(chosen)}


def setups(paths: VaultPaths, inst_id: str) -> dict[str, Any]:
    """The live setups (latest event per wick id is `appeared` or `tier_changed`) and the
    newest lifecycle events, from today's and yesterday's signal files (a setup lives for
    minutes: older files cannot hold a live one)."""
    folder = paths.signals_dir(inst_id)
    files = _day_files_newest_first(folder, None, None)[:2]
    latest: dict[str, dict[str, Any]] = {}
    recent: list[dict[str, Any]] = []
    for path in reversed(files):
        for _, record in _timed(path, "event_time_utc"):
            wick_id = record.get("id")
            if isinstance(wick_id, str):
                latest[wick_id] = record
            recent.append(record)
            del recent[:-SETUP_EVENTS_SHOWN]
    live = [r for r in latest.values() if r.get("event") in _SETUP_LIVE]
    live.sort(key=lambda r: str(r.get("event_time_utc")), reverse=True)
    return {"setups": live, "events": recent}
