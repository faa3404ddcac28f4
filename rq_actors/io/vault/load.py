"""Reading the trade vault back: an iterator in vault order, and a one-day DataFrame loader.

Order: the live system hands trades to the derived actors in trade-id order (the order they
were appended), so the reader yields the same order. Each daily file is increasing in trade id;
at a UTC midnight a few trades of consecutive days can interleave by id (timestamps may step
back a few milliseconds), so files are merged by id. Only a file and its successor are open at a
time, which is enough because such interleaving never spans more than a day boundary.

pandas and polars are optional: imported only when a DataFrame is asked for.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import date as Date
from pathlib import Path
from typing import Any, Literal

import orjson

from rq_actors.core.okx.trades import parse_positive_int
from rq_actors.core.timefmt import parse_iso_ms
from rq_actors.core.trades.record import TradeRecordError, trade_from_record
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.io.vault.trade_files import TradeVaultError, day_files
from rq_actors.messages import Trade


def iter_records(
    paths: VaultPaths, inst_id: str, start_day: str | None = None, end_day: str | None = None
) -> Iterator[dict[str, Any]]:
    """Every trade record of `inst_id` with file date in `[start_day, end_day]` (inclusive,
    `YYYY-MM-DD`, either open), in trade-id order."""
    return (
        record for _, record in _merge_by_trade_id(_day_files(paths, inst_id, start_day, end_day))
    )


def _day_files(
    paths: VaultPaths, inst_id: str, start_day: str | None, end_day: str | None
) -> list[Path]:
    return [
        p
        for p in day_files(paths, inst_id)
        if (start_day is None or p.stem >= start_day) and (end_day is None or p.stem <= end_day)
    ]


def iter_trades(
    paths: VaultPaths, inst_id: str, start_day: str | None = None, end_day: str | None = None
) -> Iterator[Trade]:
    """Like `iter_records`, as `Trade` messages (what the live feed carries)."""
    for trade_id, record in _merge_by_trade_id(_day_files(paths, inst_id, start_day, end_day)):
        try:
            yield trade_from_record(record, trade_id)
        except TradeRecordError as exc:
            raise TradeVaultError(f"{paths.trades_dir(inst_id)}: {exc}") from exc


def _read_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """`(trade_id, record)` for every complete line; `TradeVaultError` names a bad line.

    An unterminated tail is skipped (the writer cuts it on its next start); a complete line
    that is not a trade record cannot come from a crash, so it is reported, never skipped."""
    with path.open("rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                return
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise TradeVaultError(
                    f"{path}:{lineno}: not JSON ({exc}): {line[:120]!r}"
                ) from None
            trade_id = (
                parse_positive_int(record.get("trade_id")) if isinstance(record, dict) else None
            )
            if trade_id is None:
                raise TradeVaultError(f"{path}:{lineno}: no trade_id: {line[:120]!r}")
            yield trade_id, record


def _merge_by_trade_id(files: list[Path]) -> Iterator[tuple[int, dict[str, Any]]]:
    heap: list[tuple[int, int, dict[str, Any], Iterator[tuple[int, dict[str, Any]]]]] = []
    opened = 0

    def open_next() -> None:
        nonlocal opened
        while opened < len(files):
            index = opened
            opened += 1
            lines = _read_records(files[index])
            first = next(lines, None)
            if first is not None:
                heapq.heappush(heap, (first[0], index, first[1], lines))
                return

    open_next()
    while heap:
        trade_id, index, record, lines = heapq.heappop(heap)
        if index == opened - 1:  # the newest open file has started: its successor may interleave
            open_next()
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
    vault_root: str | Path,
    inst_id: str,
    date: str | Date,
    engine: Literal["polars", "pandas"] = "polars",
) -> Any:
    """One day of trades as a polars or pandas DataFrame, in trade-id order.

    Prices and sizes stay exact decimal strings (`price`, `qty_contracts`, `ctVal`, `ctMult`);
    cast them yourself (e.g. polars `pl.col("price").str.to_decimal()`, pandas
    `df.price.map(Decimal)`) to keep exactness. `time` is the event time as a UTC datetime.
    """
    day = date.isoformat() if isinstance(date, Date) else date
    records = iter_records(VaultPaths(Path(vault_root)), inst_id, day, day)
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
