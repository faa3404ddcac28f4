"""Wick detector (SPEC §8.1): the upper and lower wick of one final candle.

Primitive inputs only — instrument, timeframe, open time and OHLC in ticks — so the detector does
not depend on how candles are built or stored. `detect_wicks_px` takes decimal prices and the
tick size; `wicks_from_candle` adapts a final `rq_actors.core.derive.candles.Candle`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from rq_actors.core.wicks.model import Wick, make_wick, parse_tick, price_to_ticks

if TYPE_CHECKING:  # only the type: the detector itself never depends on the candle builder
    from rq_actors.core.derive.candles import Candle


def detect_wicks(
    inst_id: str, tf: str, open_ms: int, open_: int, high: int, low: int, close: int
) -> tuple[Wick, ...]:
    """The wicks of one final candle, prices in ticks: upper (tip = high, base = max(open,
    close)) then lower (tip = low, base = min(open, close)); a side is omitted when its size is
    0 ticks. Raises `ValueError` for an impossible candle (high below the body, low above it)."""
    top, bottom = max(open_, close), min(open_, close)
    if high < top or low > bottom:
        raise ValueError(
            f"{inst_id} {tf} candle at {open_ms}: OHLC {open_}/{high}/{low}/{close} is inconsistent"
        )
    wicks: list[Wick] = []
    if high > top:
        wicks.append(make_wick(inst_id, tf, open_ms, "upper", high, top))
    if low < bottom:
        wicks.append(make_wick(inst_id, tf, open_ms, "lower", low, bottom))
    return tuple(wicks)


def detect_wicks_px(
    inst_id: str,
    tf: str,
    open_ms: int,
    open_: str | Decimal,
    high: str | Decimal,
    low: str | Decimal,
    close: str | Decimal,
    tick: str | Decimal,
) -> tuple[Wick, ...]:
    """`detect_wicks` with decimal prices (strings or `Decimal`) and the tick size."""
    t = parse_tick(tick)
    return detect_wicks(
        inst_id,
        tf,
        open_ms,
        price_to_ticks(open_, t),
        price_to_ticks(high, t),
        price_to_ticks(low, t),
        price_to_ticks(close, t),
    )


def wicks_from_candle(candle: Candle, tick: str | Decimal) -> tuple[Wick, ...]:
    """The wicks of a final `core.derive.candles.Candle` (reads only its public fields)."""
    return detect_wicks_px(
        candle.inst_id,
        candle.timeframe,
        candle.open_time_ms,
        candle.open,
        candle.high,
        candle.low,
        candle.close,
        tick,
    )
