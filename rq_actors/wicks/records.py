"""The JSON shapes of wick events and `wicks_active.json` entries (fixed key order).

Prices are canonical decimal strings, counts of ticks are JSON numbers, times are ISO UTC text:
`open_time_utc`, `created_at`, `expires_at` and `minute_open_utc` are whole minutes
(`…T21:34:00Z`); `event_time_utc`, `touched_at` and `near_miss_at` carry milliseconds
(`…T21:34:56.123Z`) because they can be a trade's time. Trade ids are strings, as in the vault.

`fill_fraction` is the exact ratio clamped to [0, 1], rounded DOWN to `FILL_DP` (4) decimal
places and written in canonical text (`"0.8125"`, `"0"`, `"1"`): rounding down means an untouched
wick never shows `"1"`, which only a touch earns.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rq_actors.timefmt import iso_ms, iso_s
from rq_actors.wicks.model import Side, Wick, fmt_scaled, ticks_to_price

FILL_DP = 4

# Rank of each event kind among events with the same event time (see `tracker`).
KIND_RANK: dict[str, int] = {"touched": 0, "expired": 1, "created": 2, "near_miss": 3}


def tip_distance(side: Side, tip: int, extreme: int | None) -> int | None:
    """Ticks between the tip and the closest price seen (None if no price seen yet)."""
    if extreme is None:
        return None
    return tip - extreme if side == "upper" else extreme - tip


def fill_fraction(side: Side, tip: int, base: int, extreme: int | None) -> str:
    """`clamp((extreme − base) / (tip − base), 0, 1)` (mirrored for lower), see module doc."""
    if extreme is None:
        return "0"
    num, den = (extreme - base, tip - base) if side == "upper" else (base - extreme, base - tip)
    num = min(max(num, 0), den)
    return fmt_scaled(num * 10**FILL_DP // den, FILL_DP)


def identity(w: Wick, tick: Decimal) -> dict[str, Any]:
    return {
        "id": w.id,
        "instId": w.inst_id,
        "tf": w.tf,
        "side": w.side,
        "open_time_utc": iso_s(w.open_ms),
        "created_at": iso_s(w.created_ms),
        "tip": ticks_to_price(w.tip, tick),
        "base": ticks_to_price(w.base, tick),
        "size_ticks": w.size_ticks,
    }


def event_record(
    kind: str, event_ms: int, w: Wick, tick: Decimal, fields: dict[str, Any]
) -> dict[str, Any]:
    """`{"event_time_utc", "event", <identity>, <event fields>}` in that key order."""
    return {"event_time_utc": iso_ms(event_ms), "event": kind, **identity(w, tick), **fields}


def iso_ms_or_none(ts_ms: int | None) -> str | None:
    return None if ts_ms is None else iso_ms(ts_ms)


def price_or_none(ticks: int | None, tick: Decimal) -> str | None:
    return None if ticks is None else ticks_to_price(ticks, tick)
