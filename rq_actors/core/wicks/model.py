"""Wick identity and the exact price grid (SPEC §8.1).

Inside the wick core every price is an `int` counted in ticks (`price / tickSz`). Everything the
spec asks for is a tick count (`size_ticks`, `tip_distance_ticks`), so comparisons and distances
become integer arithmetic and no float ever appears. A price that is not on the tick grid is
refused (`OffGridPrice`) rather than rounded: rounding could turn a miss into a touch. Prices are
turned back into decimal strings only when a record is written, in canonical text (plain
positional, no trailing zeros, `"0"` for zero — the same rules as the other derived outputs).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Literal

import attrs

from rq_actors.core.derive.common import timeframe_minutes
from rq_actors.core.derive.exact import fmt_scaled  # one canonical decimal text everywhere
from rq_actors.core.timefmt import MS_PER_MINUTE, iso_s

WickSide = Literal["upper", "lower"]
SIDE_RANK: dict[WickSide, int] = {"upper": 0, "lower": 1}
# `expired` is reached only in memory: a state file holds untouched and touched wicks
WickStatus = Literal["untouched", "touched", "expired"]
TouchVariant = Literal["tip_exact", "swept", "broken"]
WickEventKind = Literal["created", "touched", "near_miss", "expired"]


class OffGridPrice(ValueError):
    """A price that is not a whole number of ticks (the instrument was re-ticked, or bad data)."""


def touch_variant(side: str, tip: int, high: int, low: int, close: int) -> TouchVariant:
    """SPEC §8.2, decided from the 1m candle that holds the touching trade."""
    if side == "upper":
        beyond, broken = high > tip, close > tip
    else:
        beyond, broken = low < tip, close < tip
    return "broken" if broken else "swept" if beyond else "tip_exact"


def timeframe_ms(tf: str) -> int:
    """`"1m"` → 60000, `"4h"` → 14400000. Timeframes divide a day, so every window starts on a
    minute boundary aligned to 00:00 UTC, which the touch-variant rule relies on (`tracker`)."""
    return timeframe_minutes(tf) * MS_PER_MINUTE


def parse_tick(tick: Decimal | str) -> Decimal:
    """The tick size as a positive finite `Decimal`."""
    try:
        value = Decimal(tick)
    except InvalidOperation as exc:
        raise ValueError(f"bad tick size {tick!r}") from exc
    if not value.is_finite() or value <= 0:
        raise ValueError(f"tick size must be a positive number, got {tick!r}")
    return value


def price_to_ticks(px: str | Decimal | int, tick: Decimal) -> int:
    """`px / tick` as an exact integer, or `OffGridPrice`."""
    try:
        value = Decimal(px)
    except InvalidOperation as exc:
        raise OffGridPrice(f"not a decimal price: {px!r}") from exc
    if not value.is_finite():
        raise OffGridPrice(f"not a finite price: {px!r}")
    whole, rest = divmod(value, tick)
    if rest != 0:
        raise OffGridPrice(f"price {px} is not a multiple of the tick size {tick}")
    return int(whole)


def ticks_to_price(ticks: int, tick: Decimal) -> str:
    """Canonical decimal text of `ticks × tick` (exact: a string-built Decimal never rounds)."""
    sign, digits, exp = tick.as_tuple()
    assert isinstance(exp, int) and not sign
    mantissa = int("".join(map(str, digits)))
    return fmt_scaled(ticks * mantissa, -exp)


def wick_id(inst_id: str, tf: str, open_ms: int, side: WickSide) -> str:
    return f"{inst_id}:{tf}:{iso_s(open_ms)}:{side}"


@attrs.frozen(slots=True)
class Wick:
    """One wick of one final candle. `tip`/`base` are in ticks; `created_ms` is the candle's
    close time (`open_ms + tf_ms`), the first instant a trade may touch it."""

    id: str
    inst_id: str
    tf: str
    tf_ms: int
    side: WickSide
    open_ms: int
    created_ms: int
    tip: int
    base: int
    size_ticks: int

    @property
    def order_key(self) -> tuple[int, int, int]:
        """The canonical wick order used everywhere (events, files, tables): creation time,
        then the shorter timeframe, then upper before lower. Unique per instrument."""
        return (self.created_ms, self.tf_ms, SIDE_RANK[self.side])


def make_wick(inst_id: str, tf: str, open_ms: int, side: WickSide, tip: int, base: int) -> Wick:
    """Build a wick, checking the invariants the tracker relies on."""
    tf_ms = timeframe_ms(tf)
    if open_ms % tf_ms:
        raise ValueError(f"{tf} candle open time {open_ms} is not aligned to its timeframe")
    size = tip - base if side == "upper" else base - tip
    if size < 1:
        raise ValueError(f"{side} wick with tip {tip} and base {base} has no size")
    return Wick(
        id=wick_id(inst_id, tf, open_ms, side),
        inst_id=inst_id,
        tf=tf,
        tf_ms=tf_ms,
        side=side,
        open_ms=open_ms,
        created_ms=open_ms + tf_ms,
        tip=tip,
        base=base,
        size_ticks=size,
    )


@attrs.frozen(slots=True)
class WickSnapshot:
    """What the signal finder needs to know about one wick (prices in ticks).

    `touched_ms`/`touch_price` are the touching trade's time and price, or None while untouched
    (as far as the producer of the snapshot knows; the finder treats a touch after its `as_of`
    as not having happened yet)."""

    id: str
    tf: str
    side: WickSide
    open_ms: int
    created_ms: int
    tip: int
    size_ticks: int
    touched_ms: int | None = None
    touch_price: int | None = None
