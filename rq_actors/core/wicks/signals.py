"""Signal finder (SPEC §8.3): small untouched wicks hidden among touched ones. Pure.

Input: the wicks known at `as_of` as `WickSnapshot`s (prices in ticks; touched ones with the
touching trade's time and price — e.g. `WickTracker.snapshots()` or `snapshot_from_active` over
`wicks_active.json`), the last trade price at `as_of` (ticks), `as_of` itself (ms, normally the
newest trade's time) and the tick size (for display only). Snapshots may come from a later state:
a touch after `as_of` counts as not yet happened, a wick created after `as_of` is ignored.

Rules, exactly:
- age = `as_of − created_at`; candidate iff `age_min·60 s ≤ age ≤ age_max·60 s` (inclusive) and
  either untouched just before `as_of` (never touched, or touched at/after `as_of` — the newest
  trade may be the touching one), or touched within the last minute
  (`as_of − 60 s < touched_at ≤ as_of`) by a trade exactly at the tip;
- surrounding: the other wicks of the same timeframe (and side, unless `side="any"`), created at
  or before `as_of`, with `|created_at − candidate's| ≤ surround_minutes`; touched_surrounding =
  those touched at or before `as_of`;
- small: `size_ticks ≤ max_size_ticks` if given, else `≤` the median `size_ticks` of the
  surrounding (middle value; the mean of the two middle values for an even count; with no
  surrounding wicks there is no median and the candidate is not small);
- signal: small and `touched_surrounding ≥ min_touched_surrounding`;
- distance (ticks): 0 for the exact-tip touch of the last minute, else `|last price − tip|`;
  tier EXACT (0), NEAR (1), CLOSE (≤ close_ticks), WATCH; strength VERY_HIGH (EXACT and
  touched_surrounding ≥ 15), HIGH (other EXACT, NEAR), MEDIUM (CLOSE), LOW; fade `short` for an
  upper wick, `long` for a lower one.
Order: strongest first, then nearest, then most touched surrounding, then wick order.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal

import attrs

from rq_actors.core.derive.exact import fmt_scaled
from rq_actors.core.timefmt import MS_PER_MINUTE, iso_s, parse_iso_ms
from rq_actors.core.wicks.model import (
    SIDE_RANK,
    WickSide,
    WickSnapshot,
    parse_tick,
    price_to_ticks,
    ticks_to_price,
)

Tier = Literal["EXACT", "NEAR", "CLOSE", "WATCH"]
Strength = Literal["VERY_HIGH", "HIGH", "MEDIUM", "LOW"]

VERY_HIGH_TOUCHED = 15
EXACT_TOUCH_WINDOW_MS = MS_PER_MINUTE
_STRENGTH_RANK = {"VERY_HIGH": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 3}


@attrs.frozen
class FinderParams:
    """The options of one §8.3 finder run (`find_hidden_signals`, `rq signals`); the live
    signal stream and the backtest both ask the finder through this."""

    timeframe: str = "1m"
    age_min: int = 20
    age_max: int = 40
    min_touched_surrounding: int = 10
    surround_minutes: int = 30
    side: Literal["same", "any"] = "same"
    close_ticks: int = 3
    max_size_ticks: int | None = None

    @property
    def window_ms(self) -> int:
        """How far back (from `as_of`) a wick can matter: oldest candidate's surroundings."""
        return (self.age_max + self.surround_minutes) * MS_PER_MINUTE

    def find(
        self,
        wicks: Iterable[WickSnapshot],
        last_price: int,
        as_of: int,
        *,
        tick: Decimal | str,
        **override: Any,
    ) -> list[Signal]:
        """`find_hidden_signals` with these options (`override` replaces some for one run)."""
        options = {name: getattr(self, name) for name in _FINDER_OPTIONS}
        return find_hidden_signals(wicks, last_price, as_of, tick=tick, **{**options, **override})


_FINDER_OPTIONS = tuple(f.name for f in attrs.fields(FinderParams))  # not a subclass's extras


@attrs.frozen(slots=True)
class Signal:
    id: str
    tf: str
    side: WickSide
    open_ms: int
    created_ms: int
    tip: str
    size_ticks: int
    age_ms: int
    touched_surrounding: int
    total_surrounding: int
    median_size_ticks: str | None
    distance_ticks: int
    tier: Tier
    strength: Strength
    fade: Literal["short", "long"]

    @property
    def age_minutes(self) -> str:
        """Age in minutes, rounded down to 2 decimal places (never shown above the bound)."""
        return fmt_scaled(self.age_ms * 100 // MS_PER_MINUTE, 2)

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tf": self.tf,
            "side": self.side,
            "open_time_utc": iso_s(self.open_ms),
            "created_at": iso_s(self.created_ms),
            "tip": self.tip,
            "size_ticks": self.size_ticks,
            "age_minutes": self.age_minutes,
            "touched_surrounding": self.touched_surrounding,
            "total_surrounding": self.total_surrounding,
            "median_size_ticks": self.median_size_ticks,
            "distance_ticks": self.distance_ticks,
            "tier": self.tier,
            "strength": self.strength,
            "fade": self.fade,
        }


def find_hidden_signals(
    wicks: Iterable[WickSnapshot],
    last_price: int,
    as_of: int,
    *,
    tick: Decimal | str,
    timeframe: str = "1m",
    age_min: int = 20,
    age_max: int = 40,
    min_touched_surrounding: int = 10,
    surround_minutes: int = 30,
    side: Literal["same", "any"] = "same",
    close_ticks: int = 3,
    max_size_ticks: int | None = None,
) -> list[Signal]:
    """The signals at `as_of` (ms); `last_price` in ticks. See the module doc for the rules."""
    if side not in ("same", "any"):
        raise ValueError(f"side must be 'same' or 'any', got {side!r}")
    if age_min > age_max or surround_minutes < 0 or close_ticks < 0:
        raise ValueError("need age_min ≤ age_max, surround_minutes ≥ 0, close_ticks ≥ 0")
    t = parse_tick(tick)
    known = [w for w in wicks if w.tf == timeframe and w.created_ms <= as_of]
    groups: dict[str, list[WickSnapshot]] = {}
    for w in known:
        groups.setdefault(w.side if side == "same" else "any", []).append(w)
    found: list[Signal] = []
    for group in groups.values():
        group.sort(key=lambda w: (w.created_ms, SIDE_RANK[w.side]))
        created = [w.created_ms for w in group]
        for cand in group:
            age = as_of - cand.created_ms
            if not age_min * MS_PER_MINUTE <= age <= age_max * MS_PER_MINUTE:
                continue
            exact_recent = _exact_recent_touch(cand, as_of)
            if not (exact_recent or cand.touched_ms is None or cand.touched_ms >= as_of):
                continue
            lo = bisect_left(created, cand.created_ms - surround_minutes * MS_PER_MINUTE)
            hi = bisect_right(created, cand.created_ms + surround_minutes * MS_PER_MINUTE)
            around = [w for w in group[lo:hi] if w.id != cand.id]
            touched = sum(1 for w in around if w.touched_ms is not None and w.touched_ms <= as_of)
            twice_median = _twice_median([w.size_ticks for w in around])
            if max_size_ticks is not None:
                small = cand.size_ticks <= max_size_ticks
            else:
                small = twice_median is not None and 2 * cand.size_ticks <= twice_median
            if not small or touched < min_touched_surrounding:
                continue
            distance = 0 if exact_recent else abs(last_price - cand.tip)
            tier, strength = _grade(distance, touched, close_ticks)
            found.append(
                Signal(
                    id=cand.id,
                    tf=cand.tf,
                    side=cand.side,
                    open_ms=cand.open_ms,
                    created_ms=cand.created_ms,
                    tip=ticks_to_price(cand.tip, t),
                    size_ticks=cand.size_ticks,
                    age_ms=age,
                    touched_surrounding=touched,
                    total_surrounding=len(around),
                    median_size_ticks=None
                    if twice_median is None
                    else fmt_scaled(twice_median * 5, 1),
                    distance_ticks=distance,
                    tier=tier,
                    strength=strength,
                    fade="short" if cand.side == "upper" else "long",
                )
            )
    found.sort(
        key=lambda s: (
            _STRENGTH_RANK[s.strength],
            s.distance_ticks,
            -s.touched_surrounding,
            s.created_ms,
            SIDE_RANK[s.side],
            s.id,
        )
    )
    return found


def _exact_recent_touch(w: WickSnapshot, as_of: int) -> bool:
    """Touched within the last minute (up to and including `as_of`) by a trade at the tip."""
    return (
        w.touched_ms is not None
        and as_of - EXACT_TOUCH_WINDOW_MS < w.touched_ms <= as_of
        and w.touch_price == w.tip
    )


def _twice_median(sizes: list[int]) -> int | None:
    """2 × the median (an integer even for an even count: the sum of the middle two)."""
    if not sizes:
        return None
    s = sorted(sizes)
    mid = len(s) // 2
    return 2 * s[mid] if len(s) % 2 else s[mid - 1] + s[mid]


def _grade(distance: int, touched: int, close_ticks: int) -> tuple[Tier, Strength]:
    if distance == 0:
        return "EXACT", "VERY_HIGH" if touched >= VERY_HIGH_TOUCHED else "HIGH"
    if distance == 1:
        return "NEAR", "HIGH"
    if distance <= close_ticks:
        return "CLOSE", "MEDIUM"
    return "WATCH", "LOW"


def snapshot_from_active(record: Mapping[str, Any], tick: Decimal | str) -> WickSnapshot:
    """A `WickSnapshot` from one `wicks_active.json` entry (`WickTracker.active_wicks()`)."""
    t = parse_tick(tick)
    touched_at = record.get("touched_at")
    touch_price = record.get("touch_price")
    return WickSnapshot(
        id=str(record["id"]),
        tf=str(record["tf"]),
        side=record["side"],
        open_ms=parse_iso_ms(str(record["open_time_utc"])),
        created_ms=parse_iso_ms(str(record["created_at"])),
        tip=price_to_ticks(str(record["tip"]), t),
        size_ticks=int(record["size_ticks"]),
        touched_ms=None if touched_at is None else parse_iso_ms(str(touched_at)),
        touch_price=None if touch_price is None else price_to_ticks(str(touch_price), t),
    )


_COLUMNS = (
    ("STRENGTH", "<"),
    ("TIER", "<"),
    ("FADE", "<"),
    ("SIDE", "<"),
    ("OPEN_UTC", "<"),
    ("AGE_MIN", ">"),
    ("SIZE", ">"),
    ("TOUCHED", ">"),
    ("MEDIAN", ">"),
    ("DIST", ">"),
    ("TIP", ">"),
)


def format_signals_table(signals: Iterable[Signal]) -> str:
    """A fixed-width text table, one signal a row, in the given order."""
    rows = [
        (
            s.strength,
            s.tier,
            s.fade,
            s.side,
            iso_s(s.open_ms),
            s.age_minutes,
            str(s.size_ticks),
            f"{s.touched_surrounding}/{s.total_surrounding}",
            "-" if s.median_size_ticks is None else s.median_size_ticks,
            str(s.distance_ticks),
            s.tip,
        )
        for s in signals
    ]
    if not rows:
        return "no signals"
    heads = [name for name, _ in _COLUMNS]
    widths = [max(len(r[i]) for r in [heads, *rows]) for i in range(len(heads))]
    lines = []
    for r in [heads, *rows]:
        cells = [f"{v:{align}{w}}" for v, (_, align), w in zip(r, _COLUMNS, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
