"""Per-wick tracking state and its read-only views (`wicks_active.json` entry, finder input)."""

from __future__ import annotations

from typing import Any

from rq_actors.core.wicks import records as rec
from rq_actors.core.wicks.model import Wick, WickSnapshot


class Live:
    """Mutable tracking state of one wick (the `Wick` itself is immutable identity)."""

    __slots__ = (
        "expires_ms",
        "near_ms",
        "status",
        "touch_price",
        "touched_ms",
        "trade_id",
        "variant",
        "wick",
    )

    def __init__(self, wick: Wick, expires_ms: int) -> None:
        self.wick = wick
        self.expires_ms = expires_ms
        self.status = "untouched"  # → "touched" | "expired"
        self.near_ms: int | None = None
        self.touched_ms: int | None = None
        self.trade_id: int | None = None
        self.touch_price: int | None = None
        self.variant: str | None = None  # known at the close of the touching minute


def active_record(live: Live, extreme: int | None, fmt: rec.Formatter) -> dict[str, Any]:
    """One `wicks_active.json` entry: identity, `expires_at`, `state` (`untouched|touched`),
    `tip_distance_ticks` (closest approach so far; 0 once touched; null before any trade),
    `fill_fraction`, `near_miss_at`, `touched_at`, `trade_id`, `touch_price` and `variant`
    (null until the touching minute has closed)."""
    w = live.wick
    distance = rec.tip_distance(w.side, w.tip, extreme)
    return {
        **rec.identity(w, fmt),
        "expires_at": fmt.minute(live.expires_ms),
        "state": live.status,
        "tip_distance_ticks": 0 if live.status == "touched" else distance,
        "fill_fraction": rec.fill_fraction(w.side, w.tip, w.base, extreme),
        "near_miss_at": rec.iso_ms_or_none(live.near_ms),
        "touched_at": rec.iso_ms_or_none(live.touched_ms),
        "trade_id": None if live.trade_id is None else str(live.trade_id),
        "touch_price": rec.price_or_none(live.touch_price, fmt),
        "variant": live.variant,
    }


def snapshot(live: Live) -> WickSnapshot:
    w = live.wick
    return WickSnapshot(
        id=w.id,
        tf=w.tf,
        side=w.side,
        open_ms=w.open_ms,
        created_ms=w.created_ms,
        tip=w.tip,
        size_ticks=w.size_ticks,
        touched_ms=live.touched_ms,
        touch_price=live.touch_price,
    )
