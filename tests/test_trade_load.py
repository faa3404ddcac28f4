"""Reading the trade vault back: trade-id order across daily files, day filters, DataFrames."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from rq_actors.core.trades.record import encode_trade
from rq_actors.io.vault.load import iter_records, iter_trades, load_trades_df, trade_columns
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade
from tests.helpers.trades import INST, META

MIDNIGHT = 1_765_756_800_000  # 2025-12-15T00:00:00.000Z
DAY = 86_400_000


def _vault(tmp_path: Path, trades: list[Trade]) -> VaultPaths:
    """Write `trades` (given in trade-id order) as the writer would: by their own ts date."""
    paths = VaultPaths(tmp_path)
    for t in trades:
        path = paths.trades_file(INST, t.ts_ms)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as f:
            f.write(encode_trade(t, META) + b"\n")
    return paths


def _t(trade_id: int, ts_ms: int, count: int | None = None) -> Trade:
    return Trade(INST, trade_id, ts_ms, "buy", "100.5", "2", count)


def test_merged_in_trade_id_order_across_midnight(tmp_path: Path) -> None:
    trades = [
        _t(1, MIDNIGHT - DAY + 5),
        _t(2, MIDNIGHT - 3),
        _t(3, MIDNIGHT + 1),
        _t(4, MIDNIGHT - 1),  # a step back across midnight: filed in the older day
        _t(5, MIDNIGHT + 2),
        _t(6, MIDNIGHT + DAY + 7),
    ]
    paths = _vault(tmp_path, trades)
    assert [p.name for p in sorted(paths.trades_dir(INST).iterdir())] == [
        "2025-12-14.jsonl",
        "2025-12-15.jsonl",
        "2025-12-16.jsonl",
    ]
    assert list(iter_trades(paths, INST)) == trades
    assert [r["trade_id"] for r in iter_records(paths, INST, "2025-12-15")] == ["3", "5", "6"]
    assert [r["trade_id"] for r in iter_records(paths, INST, None, "2025-12-14")] == ["1", "2", "4"]
    assert [r["trade_id"] for r in iter_records(paths, INST, "2025-12-15", "2025-12-15")] == [
        "3",
        "5",
    ]


def test_empty_or_missing_vault(tmp_path: Path) -> None:
    assert list(iter_records(VaultPaths(tmp_path), INST)) == []
    paths = _vault(tmp_path, [_t(1, MIDNIGHT)])
    (paths.trades_dir(INST) / "2025-12-13.jsonl").write_bytes(b"")
    (paths.trades_dir(INST) / "notes.txt").write_text("ignored")
    assert [t.trade_id for t in iter_trades(paths, INST)] == [1]


def test_trade_columns() -> None:
    records = [
        {"timestamp_utc": "2025-12-15T00:00:00.001Z", "trade_id": "7", "price": "1.50"},
        {"timestamp_utc": "2025-12-15T00:00:00.002Z", "trade_id": "8", "price": "2", "count": 3},
    ]
    assert trade_columns(records) == {
        "timestamp_utc": ["2025-12-15T00:00:00.001Z", "2025-12-15T00:00:00.002Z"],
        "trade_id": [7, 8],
        "price": ["1.50", "2"],
        "ts_ms": [MIDNIGHT + 1, MIDNIGHT + 2],
        "count": [None, 3],
    }


def test_unknown_engine(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="engine"):
        load_trades_df(tmp_path, INST, "2025-12-15", engine="duckdb")  # type: ignore[arg-type]


_ENGINES = [e for e in ("polars", "pandas") if importlib.util.find_spec(e) is not None]


@pytest.mark.skipif(not _ENGINES, reason="neither polars nor pandas is installed")
@pytest.mark.parametrize("engine", _ENGINES or ["polars"])
def test_load_trades_df(tmp_path: Path, engine: str) -> None:
    _vault(tmp_path, [_t(1, MIDNIGHT + 1), _t(2, MIDNIGHT + 2), _t(3, MIDNIGHT + DAY)])
    frame = load_trades_df(tmp_path, INST, "2025-12-15", engine=engine)  # type: ignore[arg-type]
    assert list(frame["trade_id"]) == [1, 2]
    assert list(frame["price"]) == ["100.5", "100.5"]
    assert len(frame["time"]) == 2
