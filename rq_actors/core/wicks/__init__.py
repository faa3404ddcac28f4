"""Untouched wicks (SPEC §8): detector, tracker, persisted state and the signal finder.

Pure, synchronous, I/O-free core; the wicks actor and `rq derive`/`rq signals` are thin shells
around it, so live and batch results are identical by construction.
"""

from rq_actors.core.wicks.detect import detect_wicks, detect_wicks_px, wicks_from_candle
from rq_actors.core.wicks.model import (
    OffGridPrice,
    Wick,
    WickSnapshot,
    price_to_ticks,
    ticks_to_price,
    timeframe_ms,
)
from rq_actors.core.wicks.signals import (
    Signal,
    find_hidden_signals,
    format_signals_table,
    snapshot_from_active,
)
from rq_actors.core.wicks.tracker import WickTracker

__all__ = [
    "OffGridPrice",
    "Signal",
    "Wick",
    "WickSnapshot",
    "WickTracker",
    "detect_wicks",
    "detect_wicks_px",
    "find_hidden_signals",
    "format_signals_table",
    "price_to_ticks",
    "snapshot_from_active",
    "ticks_to_price",
    "timeframe_ms",
    "wicks_from_candle",
]
