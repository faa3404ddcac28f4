"""Bounded per-instrument fill history behind the REST trade endpoints.

Trade ids are consecutive per instrument, so a page is a slice found by arithmetic.
"""

from __future__ import annotations

from rq_actors.sim.events import Fill


class FillHistory:
    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self._fills: dict[str, list[Fill]] = {}

    def add(self, fills: tuple[Fill, ...] | list[Fill]) -> None:
        for fill in fills:
            rows = self._fills.setdefault(fill.inst_id, [])
            if rows and rows[-1].trade_id + 1 != fill.trade_id:
                raise ValueError("fill history expects consecutive trade ids")
            rows.append(fill)
        for rows in self._fills.values():
            if len(rows) > self.limit * 5 // 4:
                del rows[: len(rows) - self.limit]

    def recent(self, inst_id: str, limit: int) -> list[Fill]:
        """Newest first."""
        rows = self._fills.get(inst_id, [])
        return rows[: -limit - 1 : -1] if limit > 0 else []

    def page(
        self, inst_id: str, *, after: int | None, before: int | None, limit: int
    ) -> list[Fill]:
        """Newest first. `after`: ids older than it; `before`: ids newer than it.

        With only `before`, the page holds the `limit` ids right above it, so paging forward
        with `before=<newest seen>` never skips a trade.
        """
        rows = self._fills.get(inst_id, [])
        if not rows or limit <= 0:
            return []
        first = rows[0].trade_id
        lo = 0 if before is None else max(0, before + 1 - first)  # first index allowed
        hi = len(rows) if after is None else max(0, min(len(rows), after - first))  # exclusive
        if lo >= hi:
            return []
        if after is None and before is not None:
            hi = min(hi, lo + limit)
        else:
            lo = max(lo, hi - limit)
        return rows[lo:hi][::-1]

    def page_by_time(self, inst_id: str, *, after_ts: int, limit: int) -> list[Fill]:
        """`type=2`: the newest `limit` fills strictly older than `after_ts`, newest first."""
        rows = self._fills.get(inst_id, [])
        lo, hi = 0, len(rows)
        while lo < hi:
            mid = (lo + hi) // 2
            if rows[mid].ts_ms < after_ts:
                lo = mid + 1
            else:
                hi = mid
        return rows[max(0, lo - limit) : lo][::-1]
