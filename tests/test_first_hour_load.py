"""The vault load API as a newcomer calls it: `str` paths work, and a question the vault cannot
answer as asked (impossible date, lower-case instId, a day with no file) is an error that says
why instead of an empty answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from rq_actors.core.trades.record import encode_trade
from rq_actors.io.vault.load import (
    VaultQueryError,
    iter_records,
    iter_trades,
    load_trades_df,
    trade_days,
)
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade
from tests.helpers.trades import INST, META

T0 = 1_765_756_800_000  # 2025-12-15T00:00:00Z


def _vault(root: Path) -> list[Trade]:
    paths = VaultPaths(root)
    trades = [Trade(INST, 10 + i, T0 + i * 86_400_000, "sell", "100.5", "3") for i in range(2)]
    for t in trades:
        f = paths.trades_file(INST, t.ts_ms)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(encode_trade(t, META) + b"\n")
    return trades


def test_str_paths_are_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trades = _vault(tmp_path / "vault-demo")
    monkeypatch.chdir(tmp_path)
    assert VaultPaths("vault-demo").root == Path("vault-demo")
    assert VaultPaths("vault-demo") == VaultPaths(Path("vault-demo"))
    assert trade_days("vault-demo", INST) == ["2025-12-15", "2025-12-16"]
    assert list(iter_trades("vault-demo", INST)) == trades
    assert list(iter_trades(VaultPaths("vault-demo"), INST, "2025-12-16")) == trades[1:]
    assert [r["trade_id"] for r in iter_records(str(tmp_path / "vault-demo"), INST)] == ["10", "11"]


@pytest.mark.parametrize("day", ["2026-13-01", "2026-02-30", "20251215", "2025-12-15T00:00"])
def test_impossible_dates_are_refused(tmp_path: Path, day: str) -> None:
    _vault(tmp_path)
    with pytest.raises(VaultQueryError, match="is not a date; use YYYY-MM-DD"):
        list(iter_trades(tmp_path, INST, day))
    with pytest.raises(VaultQueryError, match="is not a date"):
        load_trades_df(tmp_path, INST, day)


def test_lowercase_instid_is_refused_with_its_spelling(tmp_path: Path) -> None:
    _vault(tmp_path)
    with pytest.raises(VaultQueryError, match=f"instIds are upper case: {INST}"):
        list(iter_records(tmp_path, INST.lower()))
    with pytest.raises(VaultQueryError, match="not an OKX instId"):
        trade_days(tmp_path, "../etc")


def test_a_day_without_trades_names_the_days_held(tmp_path: Path) -> None:
    _vault(tmp_path)
    with pytest.raises(VaultQueryError, match=r"on 2025-12-14 .*holds 2025-12-15 \.\. 2025-12-16"):
        load_trades_df(tmp_path, INST, "2025-12-14")
    with pytest.raises(VaultQueryError, match="holds no trades of it"):
        load_trades_df(tmp_path, "ETH-USDT-SWAP", "2025-12-15")
