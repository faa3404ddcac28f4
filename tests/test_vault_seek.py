"""Entering a day file after a trade id (`iter_trades(..., after_id=)`, what a derived actor's
catch-up uses): exactly the trades a full read would give with a larger id, in the same order,
with the midnight interleave, a torn tail and bad lines; and the search really skips the head.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rq_actors.core.trades.record import encode_trade
from rq_actors.io.vault import load
from rq_actors.io.vault.load import iter_trades
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.io.vault.trade_files import TradeVaultError
from rq_actors.messages import Trade
from tests.helpers.trades import INST, META

MIDNIGHT = 1_765_843_200_000  # 2025-12-16T00:00:00Z


def _write(root: Path, trades: list[Trade], tail: bytes = b"") -> VaultPaths:
    """Trades in id order, each in its own day's file (ids interleave across midnight)."""
    paths = VaultPaths(root)
    for t in sorted(trades, key=lambda t: t.trade_id):
        f = paths.trades_file(INST, t.ts_ms)
        f.parent.mkdir(parents=True, exist_ok=True)
        with f.open("ab") as out:
            out.write(encode_trade(t, META) + b"\n")
    if tail:
        with paths.trades_file(INST, MIDNIGHT).open("ab") as out:
            out.write(tail)
    return paths


@st.composite
def _tapes(draw: st.DrawFn) -> list[Trade]:
    """Increasing ids around a midnight; near it a few trades step back across the boundary."""
    n = draw(st.integers(1, 400))
    ids = sorted(draw(st.sets(st.integers(1, 10_000), min_size=n, max_size=n)))
    cut = draw(st.integers(0, n))
    trades = []
    for i, trade_id in enumerate(ids):
        before = i < cut or (i < cut + 3 and draw(st.booleans()))  # ids interleave at midnight
        ts = MIDNIGHT - 1_000 + i if before else MIDNIGHT + i
        trades.append(Trade(INST, trade_id, ts, "buy", f"{100 + i % 7}.5", "0.01"))
    return trades


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(trades=_tapes(), after=st.integers(-1, 10_001), scan=st.sampled_from([64, 256, 1 << 16]))
def test_after_id_is_a_full_read_filtered(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    trades: list[Trade],
    after: int,
    scan: int,
) -> None:
    monkeypatch.setattr(load, "_SCAN_BYTES", scan)  # small: the search itself is exercised
    paths = _write(tmp_path_factory.mktemp("v"), trades, tail=b'{"trade_id": "99999", "px')
    full = list(iter_trades(paths, INST))
    assert [t.trade_id for t in full] == sorted(t.trade_id for t in trades)
    assert list(iter_trades(paths, INST, after_id=after)) == [t for t in full if t.trade_id > after]


def test_the_search_skips_the_head_of_a_large_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trades = [Trade(INST, 1 + i, MIDNIGHT + i, "sell", "100.5", "1") for i in range(20_000)]
    paths = _write(tmp_path, trades)
    parsed = []
    real = load._parse_line
    monkeypatch.setattr(load, "_parse_line", lambda line: parsed.append(line) or real(line))
    assert [t.trade_id for t in iter_trades(paths, INST, after_id=19_990)] == list(
        range(19_991, 20_001)
    )
    assert len(parsed) < 2_000  # the probes and the last 64 KiB, not 20,000 lines


def test_a_bad_line_after_the_entry_point_is_still_reported(tmp_path: Path) -> None:
    trades = [Trade(INST, 1 + i, MIDNIGHT + i, "sell", "100.5", "1") for i in range(5_000)]
    paths = _write(tmp_path, trades, tail=b"not json\n")
    with pytest.raises(TradeVaultError, match="not JSON"):
        list(iter_trades(paths, INST, after_id=4_990))
