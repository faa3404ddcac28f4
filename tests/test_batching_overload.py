"""The trade writer under overload (issue #15): held trades stay under their cap, and capture
ends exact once the load falls. Real files, the fake REST history, virtual time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rq_actors.actors.trade_writer import TradeWriterActor
from rq_actors.core.trades.intake import TradeIntake
from rq_actors.messages import Trade
from tests.helpers.trades import FakeHistory, Harness, SlowHistory, fill_row, frame

CAP = 20


async def test_held_trades_stay_capped_during_a_slow_backfill_and_end_exact(
    tmp_path: Path, autojump_clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = FakeHistory([fill_row(i) for i in range(1, 301)])
    h = Harness(tmp_path, history, reorder_window_s=0.5)
    h.rest_kwargs = {"transport": SlowHistory(history, 2.0)}  # every REST page takes 2 s
    defaults = TradeWriterActor.__init__.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "max_held_trades", CAP)
    most_held = 0
    offer = TradeIntake.offer

    def watched(self: TradeIntake, trades: list[Trade], now: float) -> None:
        nonlocal most_held
        offer(self, trades, now)
        most_held = max(most_held, self.held_count)

    monkeypatch.setattr(TradeIntake, "offer", watched)
    # 1..5, a hole at 6, then 7..250 arriving at 100 trades/s while the hole's fetch is slow
    messages: list[Any] = [frame([fill_row(i)]) for i in range(1, 6)]
    for i in range(7, 251):
        messages += [frame([fill_row(i)]), 0.01]
    await h.run([*messages, 30.0])  # the load falls: time for the re-fetches
    assert most_held <= CAP
    assert h.health.counters["held_dropped_overload"] > 0
    # exact: every trade once, in order, up to the newest REST knows; nothing recorded missing
    assert h.vault_ids() == list(range(1, 301))
    assert h.quarantine_records() == []
