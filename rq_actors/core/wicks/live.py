"""Per-wick tracking state and its read-only views (`wicks_active.json` entry, finder input)."""

from __future__ import annotations

from typing import Any

from rq_actors.core.wicks import records as rec
from rq_actors.core.wicks.model import TouchVariant, Wick, WickSnapshot, WickStatus, make_wick
from rq_actors.core.wicks.state import WickState
from rq_actors.errors import IncompatibleState


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
        self.status: WickStatus = "untouched"
        self.near_ms: int | None = None
        self.touched_ms: int | None = None
        self.trade_id: int | None = None
        self.touch_price: int | None = None
        self.variant: TouchVariant | None = None  # known at the close of the touching minute


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


def saved(live: Live, extreme: int | None) -> WickState:
    """The persisted form of a retained (untouched or touched) wick; `extreme` is kept only
    while untouched."""
    if live.status == "expired":
        raise ValueError(f"wick {live.wick.id} has expired: it is not part of the state")
    w = live.wick
    return WickState(
        tf=w.tf,
        side=w.side,
        open_ms=w.open_ms,
        tip=w.tip,
        base=w.base,
        status=live.status,
        extreme=extreme if live.status == "untouched" else None,
        near_ms=live.near_ms,
        touched_ms=live.touched_ms,
        trade_id=live.trade_id,
        touch_price=live.touch_price,
        variant=live.variant,
    )


def restored(inst_id: str, entry: WickState, expiry_ms: int) -> Live:
    """`saved` reversed (the wick's invariants are checked again)."""
    w = make_wick(inst_id, entry.tf, entry.open_ms, entry.side, entry.tip, entry.base)
    live = Live(w, w.created_ms + expiry_ms)
    live.status = entry.status
    live.near_ms, live.touched_ms, live.trade_id = entry.near_ms, entry.touched_ms, entry.trade_id
    live.touch_price, live.variant = entry.touch_price, entry.variant
    if live.status == "touched" and (live.touched_ms is None or live.touch_price is None):
        raise IncompatibleState(f"wick state: touched wick {w.id} has no touch")
    return live
