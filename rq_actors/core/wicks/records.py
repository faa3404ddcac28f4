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

import weakref
from decimal import Decimal
from typing import Any

from rq_actors.core.cache_census import family
from rq_actors.core.derive.exact import fmt_scaled
from rq_actors.core.timefmt import iso_ms, iso_s
from rq_actors.core.wicks.model import Wick, WickEventKind, WickSide, price_to_ticks

_CACHE_LIMIT = 1 << 10  # per cache; refills cost nothing measurable (bench.quant_cache)
_CENSUS = family("wick_text", _CACHE_LIMIT)

FILL_DP = 4

# Rank of each event kind among events with the same event time (see `tracker`).
KIND_RANK: dict[WickEventKind, int] = {"touched": 0, "expired": 1, "created": 2, "near_miss": 3}


class Formatter:
    """Price and whole-minute time text for one instrument, memoised: a tracker writes the same
    few thousand tips and minutes over and over (`wicks_active.json` every minute), and
    formatting them afresh each time would dominate its cost. Caches are bounded."""

    __slots__ = ("__weakref__", "_minutes", "_prices", "_texts", "dp", "mantissa", "tick")

    def __init__(self, tick: Decimal) -> None:
        sign, digits, exp = tick.as_tuple()
        if sign or not isinstance(exp, int):
            raise ValueError(f"bad tick size {tick}")
        self.tick = tick
        self.mantissa = int("".join(map(str, digits)))
        self.dp = -exp
        self._prices: dict[int, str] = {}
        self._texts: dict[str, int] = {}
        self._minutes: dict[int, str] = {}
        _CENSUS.track(self, self._prices, self._texts, self._minutes)

    def price(self, ticks: int) -> str:
        """Canonical decimal text of `ticks × tick`."""
        text = self._prices.get(ticks)
        if text is None:
            if len(self._prices) >= _CACHE_LIMIT:
                self._prices.clear()
                _CENSUS.cleared(self._prices)
            text = self._prices[ticks] = fmt_scaled(ticks * self.mantissa, self.dp)
        return text

    def ticks(self, text: str) -> int:
        """`text` as a whole number of ticks (`OffGridPrice` otherwise)."""
        value = self._texts.get(text)
        if value is None:
            if len(self._texts) >= _CACHE_LIMIT:
                self._texts.clear()
                _CENSUS.cleared(self._texts)
            value = self._texts[text] = price_to_ticks(text, self.tick)
        return value

    def minute(self, ts_ms: int) -> str:
        """`iso_s` of a whole-minute time."""
        text = self._minutes.get(ts_ms)
        if text is None:
            if len(self._minutes) >= _CACHE_LIMIT:
                self._minutes.clear()
                _CENSUS.cleared(self._minutes)
            text = self._minutes[ts_ms] = iso_s(ts_ms)
        return text


_SHARED: weakref.WeakValueDictionary[tuple[str, str], Formatter] = weakref.WeakValueDictionary()


def shared_formatter(inst_id: str, tick: Decimal) -> Formatter:
    """The process's one `Formatter` for an instrument, while anything uses it: its wick
    trackers and its signal lifecycle format the same tips and minutes, so they share one set
    of caches. Per instrument, not per tick size: fifty instruments on one tick would thrash a
    shared bound. Keyed by the tick's text too (`0.10` equals `0.1`, but its digits differ)."""
    key = (inst_id, str(tick))
    fmt = _SHARED.get(key)
    if fmt is None:
        fmt = _SHARED[key] = Formatter(tick)
    return fmt


def tip_distance(side: WickSide, tip: int, extreme: int | None) -> int | None:
    """Ticks between the tip and the closest price seen (None if no price seen yet)."""
    if extreme is None:
        return None
    return tip - extreme if side == "upper" else extreme - tip


def fill_fraction(side: WickSide, tip: int, base: int, extreme: int | None) -> str:
    """`clamp((extreme − base) / (tip − base), 0, 1)` (mirrored for lower), see module doc."""
    if extreme is None:
        return "0"
    num, den = (extreme - base, tip - base) if side == "upper" else (base - extreme, base - tip)
    num = min(max(num, 0), den)
    return fmt_scaled(num * 10**FILL_DP // den, FILL_DP)


def identity(w: Wick, fmt: Formatter) -> dict[str, Any]:
    return {
        "id": w.id,
        "instId": w.inst_id,
        "tf": w.tf,
        "side": w.side,
        "open_time_utc": fmt.minute(w.open_ms),
        "created_at": fmt.minute(w.created_ms),
        "tip": fmt.price(w.tip),
        "base": fmt.price(w.base),
        "size_ticks": w.size_ticks,
    }


def event_record(
    kind: WickEventKind, event_ms: int, w: Wick, fmt: Formatter, fields: dict[str, Any]
) -> dict[str, Any]:
    """`{"event_time_utc", "event", <identity>, <event fields>}` in that key order."""
    return {"event_time_utc": iso_ms(event_ms), "event": kind, **identity(w, fmt), **fields}


def iso_ms_or_none(ts_ms: int | None) -> str | None:
    return None if ts_ms is None else iso_ms(ts_ms)


def price_or_none(ticks: int | None, fmt: Formatter) -> str | None:
    return None if ticks is None else fmt.price(ticks)
