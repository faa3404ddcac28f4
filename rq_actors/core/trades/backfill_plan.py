"""Planning a trade backfill from REST fills (pure): what the answer covers, what stays a gap,
and how single fills become aggregated-channel rows.

The aggregated `trades` channel writes one row per (taker order, price), while REST rows are
single fills. `aggregate_fills` rebuilds rows from fills the way the exchange groups them, as
closely as the REST fields allow: consecutive ids with the same `ts`, `px` and `side` form one
row whose `tradeId` is the last id, `count` the number of fills and `sz` their exact sum. Sums
and covered ids are exact, so derived volumes are right even if two taker orders of the same
millisecond and price end up in one row.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, localcontext
from typing import Any

import attrs

from rq_actors.core.trades.sequencer import first_covered
from rq_actors.messages import Trade


@attrs.frozen
class Fetched:
    """What one backfill got.

    `fills` are the valid rows with `floor < id <= upper`, ascending. The ids from `lowest` up to
    the top of the fetch were covered without interruption; `complete` means that coverage
    reaches down to `floor + 1`, so an id absent from `fills` in that range does not exist.
    """

    fills: list[Trade]
    rejects: list[tuple[Any, str]]
    complete: bool
    lowest: int | None
    top: int | None
    requests: int
    error: str | None = None


def drop_covered(fills: Iterable[Trade], held: Iterable[Trade]) -> list[Trade]:
    """Fills whose ids no held live row already stands for (a live aggregated row wins: its
    grouping is the exchange's own)."""
    covered: set[int] = set()
    for trade in held:
        covered.update(range(first_covered(trade), trade.trade_id + 1))
    return [f for f in fills if f.trade_id not in covered]


def aggregate_fills(fills: Iterable[Trade]) -> list[Trade]:
    """Group ascending single fills into aggregated-channel rows (see the module docstring)."""
    rows: list[Trade] = []
    run: list[Trade] = []
    for fill in fills:
        if run and not _same_order(run[-1], fill):
            rows.append(_merge(run))
            run = []
        run.append(fill)
    if run:
        rows.append(_merge(run))
    return rows


def _same_order(prev: Trade, fill: Trade) -> bool:
    return fill.trade_id == prev.trade_id + 1 and (fill.ts_ms, fill.px, fill.side) == (
        prev.ts_ms,
        prev.px,
        prev.side,
    )


def _merge(run: list[Trade]) -> Trade:
    last = run[-1]
    if len(run) == 1:
        return attrs.evolve(last, count=1)
    with localcontext() as ctx:
        ctx.prec = 200  # far above any size OKX sends: the sum is exact, never rounded
        sz = format(sum((Decimal(f.sz) for f in run), Decimal(0)), "f")
    return attrs.evolve(last, sz=sz, count=len(run))


def uncovered(from_id: int, to_id: int, trades: Iterable[Trade]) -> list[tuple[int, int]]:
    """The sub-ranges of `from_id … to_id` that none of `trades` stands for (inclusive)."""
    ranges: list[tuple[int, int]] = []
    cursor = from_id
    for trade in sorted(trades, key=lambda t: t.trade_id):
        low, high = first_covered(trade), trade.trade_id
        if low > to_id:
            break
        if high < cursor:
            continue
        if low > cursor:
            ranges.append((cursor, low - 1))
        cursor = high + 1
    if cursor <= to_id:
        ranges.append((cursor, to_id))
    return ranges
