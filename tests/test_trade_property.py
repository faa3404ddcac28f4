"""Property: whatever the live stream does (drops, duplicates, reorders, restarts, reconnects),
the vault ends strictly increasing with every trade id at most once; with a working REST
history it is also complete from its first trade on."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.trades import FakeHistory, Harness, SlowHistory, fill_row, frame, up


@st.composite
def _streams(draw: st.DrawFn) -> tuple[int, list[list[Any]], bool]:
    """(number of true trades, runs of messages (one list per process lifetime), REST works)."""
    n = draw(st.integers(1, 150))
    ids = [i for i in range(1, n + 1) if not draw(st.booleans()) or i % 7]  # drop some
    ids += draw(st.lists(st.sampled_from(ids), max_size=20)) if ids else []  # duplicates
    ids.sort()
    # Local reordering: shuffle short slices, as two overlapping connections would.
    pos = 0
    while pos < len(ids):
        width = draw(st.integers(1, 6))
        chunk = ids[pos : pos + width]
        ids[pos : pos + width] = draw(st.permutations(chunk))
        pos += width
    messages: list[Any] = []
    while ids:
        size = draw(st.integers(1, 4))
        rows = [fill_row(i) for i in ids[:size]]
        del ids[:size]
        messages.append(frame(rows))
        choice = draw(st.integers(0, 9))
        if choice == 0:
            messages.append(draw(st.sampled_from([0.2, 1.5, 4.0])))
        elif choice == 1:
            messages.append(up(draw(st.integers(1, 5))))
    cuts = sorted(draw(st.lists(st.integers(0, len(messages)), max_size=2)))
    runs = [messages[a:b] for a, b in zip([0, *cuts], [*cuts, len(messages)], strict=True)]
    return n, runs, draw(st.booleans())


@pytest.mark.slow
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(_streams())
def test_vault_is_strictly_increasing_and_exactly_once(case: tuple[int, Any, bool]) -> None:
    n, runs, rest_works = case
    history = FakeHistory([fill_row(i) for i in range(1, n + 1)])
    history.fail = None if rest_works else "error"

    async def main(root: Path) -> list[int]:
        h = Harness(root, history, rest_kwargs={"max_attempts": 2})
        for run in runs:
            await h.run([*run, 5.0])
        await h.run([up(99), 5.0])  # the final reconnect fetches the tail (trades-all)
        return h.vault_ids()

    with tempfile.TemporaryDirectory() as tmp:
        vault = trio.run(main, Path(tmp), clock=trio.testing.MockClock(autojump_threshold=0))
    assert vault == sorted(set(vault)), "strictly increasing, each id once"
    assert set(vault) <= set(range(1, n + 1))
    if rest_works and vault:
        assert vault == list(range(vault[0], n + 1))


@st.composite
def _aggregated(draw: st.DrawFn) -> tuple[list[list[int]], list[Any], bool, float]:
    """(taker groups of fill ids, live messages, REST works, REST delay). Consecutive groups
    sometimes share (ts, px, side), so REST re-aggregation may merge them: only coverage is then
    canonical. A slow REST lets live rows arrive inside a hole while it is being fetched."""
    sizes = draw(st.lists(st.integers(1, 4), min_size=1, max_size=40))
    groups: list[list[int]] = []
    next_id = 1
    for size in sizes:
        groups.append(list(range(next_id, next_id + size)))
        next_id += size
    order = [g for g in range(len(groups)) if draw(st.integers(0, 5))]  # drop some groups
    order += draw(st.lists(st.sampled_from(order), max_size=5)) if order else []
    order.sort()
    pos = 0
    while pos < len(order):
        width = draw(st.integers(1, 4))
        order[pos : pos + width] = draw(st.permutations(order[pos : pos + width]))
        pos += width
    messages: list[Any] = []
    for g in order:
        last = groups[g][-1]
        row = {**_agg_fill(last, g), "sz": str(len(groups[g])), "count": str(len(groups[g]))}
        messages.append(frame([row], channel="trades"))
        if draw(st.integers(0, 3)) == 0:
            messages.append(draw(st.sampled_from([0.3, 1.2, 2.0])))
    return groups, messages, draw(st.booleans()), draw(st.sampled_from([0.0, 0.5, 3.0]))


def _agg_fill(trade_id: int, group: int) -> dict[str, Any]:
    # Every third group shares its key with the previous one (same ms, price and side).
    key = group - (group % 3 == 1)
    return fill_row(trade_id, ts=1_765_748_096_000 + key, sz="1", side="buy" if key % 2 else "sell")


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(_aggregated())
def test_aggregated_channel_never_double_counts(case: tuple[Any, Any, bool, float]) -> None:
    groups, messages, rest_works, delay_s = case
    group_of = {i: g for g, ids in enumerate(groups) for i in ids}
    history = FakeHistory([_agg_fill(i, group_of[i]) for ids in groups for i in ids])
    history.fail = None if rest_works else "error"

    async def main(root: Path) -> list[dict[str, Any]]:
        rest = {"max_attempts": 2, "transport": SlowHistory(history, delay_s)}
        h = Harness(root, history, channel="trades", rest_kwargs=rest)
        await h.run([*messages, 5.0])
        return h.vault_records()

    with tempfile.TemporaryDirectory() as tmp:
        clock = trio.testing.MockClock(autojump_threshold=0)
        records = trio.run(main, Path(tmp), clock=clock)
    ids = [int(r["trade_id"]) for r in records]
    assert ids == sorted(set(ids))
    covered = [
        i
        for r in records
        for i in range(int(r["trade_id"]) - r["count"] + 1, int(r["trade_id"]) + 1)
    ]
    assert covered == sorted(set(covered)), "no fill is stood for twice"
    assert all(int(r["qty_contracts"]) == r["count"] for r in records), "sz is the sum of fills"
    if rest_works and records:
        assert covered == list(range(covered[0], covered[-1] + 1))


def _first(record: dict[str, Any]) -> int:
    return int(record["trade_id"]) - int(record["count"]) + 1
