"""Confluence features known at a setup's instant: VWAP distance, CVD change, the book. Pure.

- `vwap_{1h,4h}`: the live `RollingVwap` record of the minute that just closed;
  `vwap_{L}_dev_bps` = (price − vwap) / vwap × 10 000 and `vwap_{L}_dev_sigma` = (price − vwap) /
  std (the window's volume-weighted σ), both exact quotients rounded half-even to 2 places, null
  when the window is empty (or σ is 0).
- `cvd_{N}m`: the live `CvdCalculator`'s running CVD at the instant minus its value N minutes
  earlier (each "as of" = the last 1m window closed by then; 0 before the first trade), null
  when the replay started less than N minutes before.
- book (`book_features`, from the newest L2 snapshot at or before the instant, attached by the
  shell when snapshot files exist): size resting at the tip and within ±`near` ticks of it on
  the side the fade sells into (asks for a short, bids for a long), the near-tip size per level
  over the mean level size of the top `levels` levels of that side (`tip_wall_ratio`), and the
  bid/ask imbalance (Σbid − Σask)/(Σbid + Σask) of the top `levels` levels.
- `confluence_score` (0–3): +1 if price is stretched from `vwap_1h` the way the fade bets
  against (above it for a short, below for a long) by at least 1σ; +1 if the CVD change does
  not confirm the move into the tip (≤ 0 before a short, ≥ 0 before a long); +1 for a wall at
  the tip (`tip_wall_ratio` ≥ 2).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from rq_actors.core.derive.cvd import CvdCalculator
from rq_actors.core.derive.exact import fmt_decimal, fmt_scaled
from rq_actors.core.derive.vwap import RollingVwap, VwapMinute
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.timefmt import MS_PER_MINUTE, parse_iso_ms
from rq_actors.core.wicks.model import price_to_ticks
from rq_actors.messages import Trade

from .outcome import ratio_scaled

_DP = 2


class Context:
    """VWAP and CVD fed the same trades as the candles; `at(as_of, price)` reads them."""

    def __init__(
        self, meta: InstrumentMeta, vwap: RollingVwap, cvd: CvdCalculator, cvd_minutes: int
    ) -> None:
        self.tick = meta.tick
        self.vwap = vwap
        self.cvd = cvd
        self.cvd_minutes = cvd_minutes
        self._last_vwap: VwapMinute | None = None
        self._cvd: deque[tuple[int, Decimal]] = deque()  # (window end, cvd as of it)
        self._first_ms: int | None = None

    def feed(self, trades: Sequence[Trade]) -> None:
        if self._first_ms is None and trades:
            self._first_ms = trades[0].ts_ms
        # a run after quiet minutes closes several (the vwap of empty minutes too): keep the
        # first, the minute with trades that the run's first trade closed (the setup instant)
        minutes = self.vwap.feed(trades)
        if minutes:
            self._last_vwap = minutes[0]
        for w in self.cvd.feed(trades):
            self._cvd.append((w.window_start_ms + MS_PER_MINUTE, w.cvd_value))

    def at(self, as_of: int, price_ticks: int) -> dict[str, Any]:
        price = Decimal(price_ticks) * self.tick
        out: dict[str, Any] = {}
        vm = self._last_vwap
        current = vm is not None and vm.window_start_ms + MS_PER_MINUTE == as_of
        for w in vm.windows if vm is not None else ():
            ok = current and w.vwap is not None and w.vwap > 0
            vwap = w.vwap if ok else None
            out[f"vwap_{w.label}"] = None if vwap is None else fmt_decimal(vwap)
            out[f"vwap_{w.label}_dev_bps"] = (
                None if vwap is None else fmt_scaled(ratio_scaled(price - vwap, vwap, _DP + 4), _DP)
            )
            std = w.std if ok else None
            out[f"vwap_{w.label}_dev_sigma"] = (
                None
                if vwap is None or not std
                else fmt_scaled(ratio_scaled(price - vwap, std, _DP), _DP)
            )
        out[f"cvd_{self.cvd_minutes}m"] = self._cvd_change(as_of)
        return out

    def _cvd_change(self, as_of: int) -> str | None:
        cutoff = as_of - self.cvd_minutes * MS_PER_MINUTE
        if self._first_ms is None or self._first_ms >= cutoff:
            return None
        q = self._cvd
        while len(q) >= 2 and q[1][0] <= cutoff:
            q.popleft()  # keep one window at or before the cutoff: memory is N minutes
        then = q[0][1] if q and q[0][0] <= cutoff else Decimal(0)
        now = next((v for end, v in reversed(q) if end <= as_of), then)
        return fmt_decimal(now - then)


def book_features(
    snap: Mapping[str, Any],
    fade: str,
    tip_ticks: int,
    tick: Decimal,
    as_of: int,
    *,
    near: int = 2,
    levels: int = 20,
) -> dict[str, Any]:
    """Features of one L2 snapshot record (SPEC §6) for a fade at `tip_ticks`."""
    bids = [(price_to_ticks(p, tick), Decimal(s)) for p, s, *_ in snap["bids_top400"][:levels]]
    asks = [(price_to_ticks(p, tick), Decimal(s)) for p, s, *_ in snap["asks_top400"][:levels]]
    side = asks if fade == "short" else bids
    all_side = [
        (price_to_ticks(p, tick), Decimal(s))
        for p, s, *_ in snap["asks_top400" if fade == "short" else "bids_top400"]
    ]
    at_tip = sum((s for p, s in all_side if p == tip_ticks), Decimal(0))
    near_tip = sum((s for p, s in all_side if abs(p - tip_ticks) <= near), Decimal(0))
    bid_sum = sum((s for _, s in bids), Decimal(0))
    ask_sum = sum((s for _, s in asks), Decimal(0))
    total = bid_sum + ask_sum
    side_sum = sum((s for _, s in side), Decimal(0))
    return {
        "book_age_ms": as_of - parse_iso_ms(str(snap["timestamp_utc"])),
        "book_tip_size": fmt_decimal(at_tip),
        "book_near_tip_size": fmt_decimal(near_tip),
        # near-tip size per level over the mean level size: n·near / ((2·near+1)·Σside)
        "book_tip_wall_ratio": None
        if not side_sum
        else fmt_scaled(ratio_scaled(near_tip * len(side), side_sum * (2 * near + 1), _DP), _DP),
        "book_imbalance": None
        if not total
        else fmt_scaled(ratio_scaled(bid_sum - ask_sum, total, 4), 4),
    }


def confluence_score(rec: Mapping[str, Any], cvd_key: str) -> int:
    """The 0–3 score of the module doc, from a setup record's features (missing: no point)."""
    short = rec["fade"] == "short"
    score = 0
    sigma = rec.get("vwap_1h_dev_sigma")
    if sigma is not None and (Decimal(sigma) >= 1 if short else Decimal(sigma) <= -1):
        score += 1
    cvd = rec.get(cvd_key)
    if cvd is not None and (Decimal(cvd) <= 0 if short else Decimal(cvd) >= 0):
        score += 1
    wall = rec.get("book_tip_wall_ratio")
    if wall is not None and Decimal(wall) >= 2:
        score += 1
    return score
