"""Recovering missed trades from the REST trade history (SPEC §5, okx-protocol §2.3).

`fetch_history` pages `/api/v5/market/history-trades` by tradeId, newest first: it starts just
above the hole (`after = upper + 1`), or at the newest page when the upper end is unknown (right
after a reconnect), and follows `after = <smallest id seen>` until it reaches an id at or below
`floor + 1`. It never raises for exchange trouble: the result says how far it got, and the
caller records what stayed unrecoverable as a gap. The whole fetch is bounded by a deadline so a
long outage cannot hold the live stream back indefinitely.

What to do with the answer (gaps, re-aggregation for the `trades` channel) is pure and lives in
`rq_actors.core.trades.backfill_plan`; its names are re-exported here.
"""

from __future__ import annotations

from typing import Any

import trio

from rq_actors.core.okx.trades import Reject, parse_positive_int, parse_trade_row
from rq_actors.core.trades.backfill_plan import Fetched, aggregate_fills, drop_covered, uncovered
from rq_actors.io.rest import OkxRest, RestError
from rq_actors.messages import Trade

__all__ = ["PAGE_LIMIT", "Fetched", "aggregate_fills", "drop_covered", "fetch_history", "uncovered"]

PAGE_LIMIT = 100


async def fetch_history(
    rest: OkxRest, inst_id: str, *, floor: int, upper: int | None, deadline: float
) -> Fetched:
    """Fetch fills with `floor < id <= upper` (`upper=None`: up to the newest trade)."""
    fills: dict[int, Trade] = {}
    rejects: list[tuple[Any, str]] = []
    lowest: int | None = None
    top: int | None = None
    requests = 0
    error: str | None = "time limit reached"
    cursor = None if upper is None else upper + 1
    with trio.move_on_at(deadline):
        while True:
            try:
                requests += 1
                rows = await rest.history_trades(inst_id, after=cursor, limit=PAGE_LIMIT)
            except RestError as exc:
                error = str(exc)
                break
            ids = [i for i in (_row_id(r) for r in rows) if i is not None]
            if cursor is not None:
                ids = [i for i in ids if i < cursor]  # a server that ignores `after`
            if not ids:
                error = "history ends before the hole" if rows or cursor else "history is empty"
                break
            for row in rows:
                parsed = parse_trade_row(row, inst_id)
                if isinstance(parsed, Reject):
                    rejects.append((row, f"REST history row: {parsed.reason}"))
                elif floor < parsed.trade_id and (upper is None or parsed.trade_id <= upper):
                    fills[parsed.trade_id] = parsed
            top = max(ids) if top is None else max(top, max(ids))
            lowest = min(ids)
            if lowest <= floor + 1:
                error = None
                break
            cursor = lowest
    ordered = [fills[i] for i in sorted(fills)]
    return Fetched(ordered, rejects, error is None, lowest, top, requests, error)


def _row_id(row: Any) -> int | None:
    return parse_positive_int(row.get("tradeId")) if isinstance(row, dict) else None
