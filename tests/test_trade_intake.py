"""The pure trade intake (`rq_actors.core.trades.intake`), driven without trio.

A model exchange holds the truth (trade ids 1..N); hypothesis draws any interleaving of live
frames (subsets, duplicates, any order), clock steps, reconnects, REST answers (complete, cut
short, failed, late) and write failures (partial or total). A driver carries out the intake's
effects the way the actor does. Whatever happens, the vault (every successful write, in order)
is strictly increasing, holds each id at most once, holds only true trades, never holds an id
that was recorded as a gap, and once the trouble is over every id up to the newest seen is
either in the vault or in a gap line.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from rq_actors.core.trades.backfill_plan import Fetched
from rq_actors.core.trades.intake import (
    Count,
    Fetch,
    Gap,
    Problem,
    State,
    TradeIntake,
    Write,
)
from rq_actors.messages import Trade

INST = "BTC-USDT-SWAP"
WINDOW_S = 1.0


def trade(i: int) -> Trade:
    return Trade(INST, i, 1_700_000_000_000 + 10 * i, "buy" if i % 2 else "sell", "100.5", "1")


@attrs.define
class Driver:
    """Carries out effects like `TradeWriterActor` does, with a scripted disk and REST."""

    n: int
    intake: TradeIntake
    now: float = 0.0
    vault: list[Trade] = attrs.Factory(list)
    gaps: list[tuple[int, int]] = attrs.Factory(list)
    counts: dict[str, int] = attrs.Factory(dict)
    states: list[str] = attrs.Factory(list)
    pending: Fetch | None = None
    write_plan: list[int | None] = attrs.Factory(list)  # None: ok; k: fail after k trades
    newest_seen: int = 0

    def run(self, *, closing: bool = False) -> None:
        for _ in range(10_000):
            effects = self.intake.poll(self.now, closing=closing)
            if not effects:
                return
            for effect in effects:
                self.do(effect)
        raise AssertionError("the intake never settles")

    def do(self, effect: Any) -> None:
        if isinstance(effect, Write):
            assert effect.trades, "empty write"
            fail_at = self.write_plan.pop(0) if self.write_plan else None
            if fail_at is None or fail_at >= len(effect.trades):
                self.vault.extend(effect.trades)
                self.intake.written(len(effect.trades), None, self.now)
            else:
                self.vault.extend(effect.trades[:fail_at])
                self.intake.written(fail_at, "disk full", self.now)
        elif isinstance(effect, Fetch):
            assert self.pending is None, "two fetches at once"
            self.pending = effect
        elif isinstance(effect, Gap):
            assert effect.from_id <= effect.to_id
            self.gaps.append((effect.from_id, effect.to_id))
        elif isinstance(effect, Count):
            self.counts[effect.name] = self.counts.get(effect.name, 0) + effect.n
        elif isinstance(effect, State):
            self.states.append(effect.state)
        else:
            assert isinstance(effect, Problem)

    def frame(self, ids: list[int]) -> None:
        self.newest_seen = max([self.newest_seen, *ids])
        self.intake.offer([trade(i) for i in ids], self.now)

    def answer(self, cut: int | None, fail: bool) -> None:
        """The running fetch returns: complete (`cut` None), only ids >= `cut`, or an error."""
        fetch = self.pending
        if fetch is None:
            return
        self.pending = None
        top = self.n if fetch.upper is None else fetch.upper
        ids = list(range(fetch.floor + 1, top + 1))
        if fail or (cut is not None and not ids):
            fetched = Fetched([], [], False, None, None, 1, "REST down")
        elif cut is None:
            fills = [trade(i) for i in ids]
            fetched = Fetched(fills, [], True, fetch.floor + 1 if ids else top, top, 1)
        else:
            low = ids[cut % len(ids)]
            fills = [trade(i) for i in ids if i >= low]
            fetched = Fetched(fills, [], False, low, top, 1, "time limit reached")
        if fetched.top is not None:
            self.newest_seen = max(self.newest_seen, fetched.top)
        self.intake.on_backfill(fetch, fetched)

    def settle(self) -> None:
        """The trouble is over: writes work, REST answers in full, time passes."""
        self.write_plan.clear()
        for _ in range(50):
            self.answer(None, False)
            self.now += WINDOW_S + 1.0
            self.run()
            if self.pending is None and self.intake.deadline() == math.inf:
                return
        raise AssertionError("did not settle")

    def check(self, start: int | None, *, complete: bool) -> None:
        ids = [t.trade_id for t in self.vault]
        assert ids == sorted(set(ids)), "vault out of order or duplicated"
        # REST fills re-aggregated for the `trades` channel carry count=1 instead of None
        assert all(
            attrs.evolve(t, count=None) == trade(t.trade_id) and t.count in (None, 1)
            for t in self.vault
        ), "a trade that does not exist"
        assert start is None or all(i > start for i in ids), "rewrote what was on disk"
        gapped = {i for a, b in self.gaps for i in range(a, b + 1)}
        assert not gapped & set(ids), "an id both written and recorded as a gap"
        if complete and ids:
            first = ids[0] if start is None else start + 1
            expected = set(range(first, self.newest_seen + 1))
            assert expected <= set(ids) | gapped, "ids lost without a gap line"


op = st.one_of(
    st.tuples(st.just("frame"), st.lists(st.integers(1, 40), min_size=1, max_size=6)),
    st.tuples(st.just("tick"), st.floats(0.0, 2.5)),
    st.tuples(st.just("up"), st.none()),
    st.tuples(st.just("answer"), st.tuples(st.none() | st.integers(0, 50), st.booleans())),
    st.tuples(st.just("disk"), st.lists(st.none() | st.integers(0, 5), max_size=3)),
)


@settings(max_examples=300, deadline=None)
@given(
    start=st.none() | st.integers(0, 10),
    ops=st.lists(op, max_size=40),
    aggregated=st.booleans(),
)
def test_any_interleaving_keeps_exactly_once_and_order(
    start: int | None, ops: list[tuple[str, Any]], aggregated: bool
) -> None:
    d = Driver(40, TradeIntake(start, aggregated=aggregated, reorder_window_s=WINDOW_S))
    for name, arg in ops:
        if name == "frame":
            d.frame(arg)
        elif name == "tick":
            d.now += arg
        elif name == "up":
            d.intake.on_connection(d.intake.endpoint, "up")
        elif name == "answer":
            d.answer(*arg)
        else:
            d.write_plan.extend(arg)
        d.run()
        d.check(start, complete=False)
    d.settle()
    # aggregated single fills stand for themselves here (count 1), so the same checks apply
    d.check(start, complete=True)


def test_a_hole_waits_for_the_window_then_fetches_exactly_it() -> None:
    d = Driver(10, TradeIntake(3, aggregated=False, reorder_window_s=WINDOW_S))
    d.frame([4, 7])
    d.run()
    assert [t.trade_id for t in d.vault] == [4]
    assert d.pending is None and d.intake.deadline() == WINDOW_S
    d.now = WINDOW_S
    d.run()
    assert d.pending == Fetch(4, 6)
    d.frame([8])  # held while the fetch runs: nothing is written meanwhile
    d.run()
    assert [t.trade_id for t in d.vault] == [4]
    d.answer(None, False)
    d.run()
    assert [t.trade_id for t in d.vault] == [4, 5, 6, 7, 8]
    assert d.counts["backfills"] == 1 and d.states == ["recovering", "running"]


def test_a_failed_write_is_retried_with_backoff_and_nothing_overtakes_it() -> None:
    d = Driver(10, TradeIntake(0, aggregated=False, disk_retry_initial_s=0.25))
    d.write_plan = [1, 0]  # first write stores one trade, the retry stores nothing
    d.frame([1, 2, 3])
    d.run()
    assert [t.trade_id for t in d.vault] == [1]
    assert d.intake.deadline() == 0.25
    d.frame([4])
    d.now = 0.25
    d.run()  # the retry fails again: the delay doubles
    assert d.intake.deadline() == 0.75 and [t.trade_id for t in d.vault] == [1]
    d.now = 0.75
    d.run()
    assert [t.trade_id for t in d.vault] == [1, 2, 3, 4]
    assert d.counts["write_errors"] == 2 and d.states[-1] == "running"


def test_held_trades_are_capped_under_overload_and_recovered_exactly() -> None:
    """#15: a fetch that takes long while frames pour in holds at most `max_held` trades."""
    d = Driver(500, TradeIntake(0, aggregated=False, reorder_window_s=WINDOW_S, max_held=50))
    d.frame([1, 3])
    d.now = WINDOW_S
    d.run()
    assert d.pending == Fetch(1, 2)
    for i in range(4, 400):  # the fetch is slow; live trades keep coming
        d.frame([i])
        d.run()
        assert d.intake.held_count <= 50
    assert d.counts["held_dropped_overload"] > 0
    d.settle()  # the fetch returns, the dropped trades are re-fetched up to the newest
    assert [t.trade_id for t in d.vault] == list(range(1, 501))
    assert not d.gaps


def test_closing_tries_the_unwritten_rest_once_and_starts_no_fetch() -> None:
    d = Driver(10, TradeIntake(0, aggregated=False))
    d.write_plan = [0, 0]
    d.frame([1, 2, 5])
    d.run()
    d.run(closing=True)  # retried at once, fails: no loop, no fetch for the hole
    assert d.vault == [] and d.pending is None
    assert {c.name: c.n for c in d.intake.stop()} == {
        "held_dropped_at_stop": 1,
        "unwritten_dropped_at_stop": 2,
    }
