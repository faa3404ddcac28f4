"""Market context of a setup event: price, VWAP 1h/4h, deviation from VWAP 1h, CVD over 30 min.

Pure arithmetic on values the calculators already produced, so the context is exact and the
same live and in a rebuild. All values are canonical decimal text or None.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from fractions import Fraction

import attrs

from rq_actors.core.derive.exact import fmt_decimal, fmt_scaled
from rq_actors.core.timefmt import MS_PER_MINUTE

CVD_SPAN_MS = 30 * MS_PER_MINUTE


@attrs.frozen(slots=True)
class MarketContext:
    vwap_1h: str | None = None
    vwap_4h: str | None = None
    vwap_1h_dev_bps: str | None = None
    cvd_30m: str | None = None


def deviation_bps(price: Decimal, vwap: Decimal | None) -> str | None:
    """`(price − vwap) / vwap × 10 000`, truncated toward zero to 0.01 bp (None without vwap).

    Exact rational arithmetic (a `Decimal` context could round a long VWAP), never a float."""
    if vwap is None or vwap == 0:
        return None
    ratio = (Fraction(price) - Fraction(vwap)) * 1_000_000 / Fraction(vwap)
    return fmt_scaled(int(ratio), 2)  # int() truncates toward zero


class CvdTrail:
    """The cumulative CVD at the end of each recent 1m window, enough to answer "CVD change over
    the last 30 minutes". Bound: the windows of the last 30 minutes plus one older."""

    def __init__(self, points: list[tuple[int, str]] | None = None) -> None:
        self._points: deque[tuple[int, Decimal]] = deque(
            (end, Decimal(v)) for end, v in (points or [])
        )

    def add(self, window_end_ms: int, cvd_value: Decimal) -> None:
        """The cumulative CVD as of `window_end_ms` (a closed 1m window's end)."""
        self._points.append((window_end_ms, cvd_value))
        # keep exactly one point at or before the oldest time a query can ask about
        while len(self._points) >= 2 and self._points[1][0] <= window_end_ms - CVD_SPAN_MS:
            self._points.popleft()

    def change(self, as_of: int) -> str | None:
        """CVD(as_of) − CVD(as_of − 30 min), each the value at the newest window end at or
        before that time; None while the history does not reach back 30 minutes."""
        now = old = None
        for end, value in self._points:  # at most ~31 points
            if end <= as_of:
                now = value
            if end <= as_of - CVD_SPAN_MS:
                old = value
        if now is None or old is None:
            return None
        return fmt_decimal(now - old)

    def state(self) -> list[tuple[int, str]]:
        return [(end, fmt_decimal(v)) for end, v in self._points]
