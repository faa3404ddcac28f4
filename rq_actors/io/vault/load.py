"""Reading the trade vault back: an iterator in vault order, and a one-day DataFrame loader.

Order: the live system hands trades to the derived actors in trade-id order (the order they
were appended), so the reader yields the same order. Each daily file is increasing in trade id;
at a UTC midnight a few trades of consecutive days can interleave by id (timestamps may step
back a few milliseconds), so files are merged by id. Only a file and its successor are open at a
time, which is enough because such interleaving never spans more than a day boundary.

pandas and polars are optional: imported only when a DataFrame is asked for. The vault may be
given as a `VaultPaths`, a `Path` or a `str`. A day that is not a real `YYYY-MM-DD` date, or an
instId that cannot be one (lower case, say), is refused with `VaultQueryError` instead of
silently matching nothing.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator
from datetime import date as Date
from pathlib import Path
from typing import Any, Literal

import orjson

from rq_actors.config import INST_ID_PATTERN
from rq_actors.core.okx.trades import parse_positive_int
from rq_actors.core.timefmt import parse_iso_ms
from rq_actors.core.trades.record import TradeRecordError, trade_from_record
from rq_actors.errors import RqError
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.io.vault.trade_files import TradeVaultError, day_files
from rq_actors.messages import Trade

Vault = VaultPaths | Path | str
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class VaultQueryError(RqError, ValueError):
    """A question the vault cannot answer as asked (bad date, impossible or absent instId)."""


def check_day(day: str, what: str = "day") -> str:
    """`day` if it is a real `YYYY-MM-DD` date, else `VaultQueryError` saying so."""
    if _DAY.fullmatch(day):
        try:
            Date.fromisoformat(day)
            return day
        except ValueError:
            pass
    raise VaultQueryError(f"{what} {day!r} is not a date; use YYYY-MM-DD, e.g. 2026-01-31")


def check_inst_id(inst_id: str) -> str:
    if not INST_ID_PATTERN.fullmatch(inst_id):
        hint = f" (instIds are upper case: {inst_id.upper()})" if inst_id != inst_id.upper() else ""
        raise VaultQueryError(f"{inst_id!r} is not an OKX instId{hint}")
    return inst_id


def _paths(vault: Vault) -> VaultPaths:
    return vault if isinstance(vault, VaultPaths) else VaultPaths(vault)


def trade_days(vault: Vault, inst_id: str) -> list[str]:
    """The days (`YYYY-MM-DD`, oldest first) that have a trade file for `inst_id`."""
    return [p.stem for p in day_files(_paths(vault), check_inst_id(inst_id))]


def iter_records(
    vault: Vault, inst_id: str, start_day: str | None = None, end_day: str | None = None
) -> Iterator[dict[str, Any]]:
    """Every trade record of `inst_id` with file date in `[start_day, end_day]` (inclusive,
    `YYYY-MM-DD`, either open), in trade-id order."""
    return (
        record for _, record in _merge_by_trade_id(_day_files(vault, inst_id, start_day, end_day))
    )


def _day_files(
    vault: Vault, inst_id: str, start_day: str | None, end_day: str | None
) -> list[Path]:
    check_inst_id(inst_id)
    start = None if start_day is None else check_day(start_day, "start day")
    end = None if end_day is None else check_day(end_day, "end day")
    return [
        p
        for p in day_files(_paths(vault), inst_id)
        if (start is None or p.stem >= start) and (end is None or p.stem <= end)
    ]


def iter_trades(
    vault: Vault,
    inst_id: str,
    start_day: str | None = None,
    end_day: str | None = None,
    *,
    after_id: int | None = None,
) -> Iterator[Trade]:
    """Like `iter_records`, as `Trade` messages (what the live feed carries).

    With `after_id`, only trades with a larger id: each file is entered by a binary search on
    its (increasing) ids instead of being read from its start, so a catch-up near the end of a
    large day file costs a few reads, not the whole day."""
    paths = _paths(vault)
    files = _day_files(paths, inst_id, start_day, end_day)
    for trade_id, record in _merge_by_trade_id(files, after_id):
        try:
            yield trade_from_record(record, trade_id)
        except TradeRecordError as exc:
            raise TradeVaultError(f"{paths.trades_dir(inst_id)}: {exc}") from exc


def _read_records(path: Path, after_id: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """`(trade_id, record)` for every complete line (with `after_id`: every one whose id is
    larger); `TradeVaultError` names a bad line.

    An unterminated tail is skipped (the writer cuts it on its next start); a complete line
    that is not a trade record cannot come from a crash, so it is reported, never skipped."""
    with path.open("rb") as f:
        start = 0 if after_id is None else _offset_after(f, after_id)
        f.seek(start)
        mark = "" if start == 0 else "+"  # entered mid-file: line numbers count from there
        for lineno, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                return
            parsed = _parse_line(line)
            if parsed[0] is None:
                raise TradeVaultError(f"{path}:{mark}{lineno}: {parsed[1]}: {line[:120]!r}")
            trade_id, record = parsed
            if after_id is None or trade_id > after_id:
                yield trade_id, record


def _parse_line(line: bytes) -> tuple[int, dict[str, Any]] | tuple[None, str]:
    """`(trade_id, record)`, or `(None, what is wrong)`."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return None, f"not JSON ({exc})"
    trade_id = parse_positive_int(record.get("trade_id")) if isinstance(record, dict) else None
    if trade_id is None:
        return None, "no trade_id"
    return trade_id, record


_SCAN_BYTES = 1 << 16  # below this, reading on is cheaper than another probe


def _offset_after(f: Any, after_id: int) -> int:
    """A line start in `f` (a day file, ids increasing) before which every id is `<= after_id`.

    Binary search on byte offsets: a probe reads the first whole line after `mid`. Anything
    it cannot read (a torn tail, a bad line) moves the search earlier, never past a record,
    so the reader still meets and reports such a line."""
    lo = 0  # a line start; every line before it has an id <= after_id
    hi = f.seek(0, 2)  # a probe at or after hi finds an id > after_id (or nothing usable)
    while hi - lo > _SCAN_BYTES:
        mid = (lo + hi) // 2
        f.seek(mid)
        f.readline()  # the rest of the line that holds `mid`
        line_start = f.tell()
        line = f.readline()
        trade_id = _parse_line(line)[0] if line.endswith(b"\n") else None
        if trade_id is not None and trade_id <= after_id:
            lo = line_start
        else:
            hi = mid
    return lo


def _merge_by_trade_id(
    files: list[Path], after_id: int | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    heap: list[tuple[int, int, dict[str, Any], Iterator[tuple[int, dict[str, Any]]]]] = []
    opened = 0

    def open_next() -> None:
        nonlocal opened
        while opened < len(files):
            index = opened
            opened += 1
            lines = _read_records(files[index], after_id)
            first = next(lines, None)
            if first is not None:
                heapq.heappush(heap, (first[0], index, first[1], lines))
                return

    open_next()
    while heap:
        trade_id, index, record, lines = heapq.heappop(heap)
        if index == opened - 1 and opened < len(files):
            # The newest open file has started: its successor may interleave, and may even
            # begin below this record (a day file holding only trades that stepped back).
            open_next()
            if heap and (trade_id, index) > heap[0][:2]:
                heapq.heappush(heap, (trade_id, index, record, lines))
                continue
        yield trade_id, record
        # Stay on this file while it holds the smallest id: the heap (the successor's head) is
        # consulted per record, but only touched when the files really interleave (midnight).
        for trade_id, following in lines:
            if heap and (trade_id, index) > heap[0][:2]:
                heapq.heappush(heap, (trade_id, index, following, lines))
                break
            yield trade_id, following


def trade_columns(records: Iterable[dict[str, Any]]) -> dict[str, list[Any]]:
    """Column lists for a DataFrame: the record's keys (exact decimal strings kept as strings),
    `trade_id` as an integer, plus `ts_ms` (event time, integer milliseconds). `count` is
    present only if the records have it (aggregated channel)."""
    columns: dict[str, list[Any]] = {}
    n = 0
    for record in records:
        for key, value in record.items():
            column = columns.setdefault(key, [None] * n)
            column.append(int(value) if key == "trade_id" else value)
        columns.setdefault("ts_ms", [None] * n).append(parse_iso_ms(record["timestamp_utc"]))
        n += 1
        for column in columns.values():  # a key missing from this record gets a null
            if len(column) < n:
                column.append(None)
    return columns


def load_trades_df(
    vault_root: Vault,
    inst_id: str,
    date: str | Date,
    engine: Literal["polars", "pandas"] = "polars",
) -> Any:
    """One day of trades as a polars or pandas DataFrame, in trade-id order.

    Prices and sizes stay exact decimal strings (`price`, `qty_contracts`, `ctVal`, `ctMult`);
    cast them yourself (e.g. polars `pl.col("price").str.to_decimal()`, pandas
    `df.price.map(Decimal)`) to keep exactness. `time` is the event time as a UTC datetime.
    """
    day = date.isoformat() if isinstance(date, Date) else check_day(date, "date")
    days = trade_days(vault_root, inst_id)
    if day not in days:
        held = f"it holds {days[0]} .. {days[-1]}" if days else "it holds no trades of it"
        raise VaultQueryError(f"no {inst_id} trades on {day} in {_paths(vault_root).root}: {held}")
    records = iter_records(vault_root, inst_id, day, day)
    columns = trade_columns(records)
    if engine == "polars":
        import polars as pl

        frame = pl.DataFrame(columns)
        if "ts_ms" not in columns:
            return frame
        time = pl.from_epoch(pl.col("ts_ms"), time_unit="ms").dt.replace_time_zone("UTC")
        return frame.with_columns(time.alias("time"))
    if engine == "pandas":
        import pandas as pd

        frame = pd.DataFrame(columns)
        if "ts_ms" in columns:
            frame["time"] = pd.to_datetime(frame["ts_ms"], unit="ms", utc=True)
        return frame
    raise ValueError(f"engine must be 'polars' or 'pandas', got {engine!r}")
