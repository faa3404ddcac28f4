"""What every calculator shares: trade strings → exact scaled integers, timeframes, cursors.

Scales. Prices are held as integers at `px_dp = decimals(tickSz) + SCALE_SLACK_DP` places and
sizes (`qty_contracts`) at `sz_dp = decimals(lotSz) + SCALE_SLACK_DP`. The slack means a tick or
lot size that later shrinks (OKX does re-tick instruments) still parses old and new trades
exactly. A price or size with more decimal places than its scale can hold is never rounded: the
trade is counted as `invalid` and skipped (see `Quant.px`).

Quantities (SPEC §7), with `ct = ctVal × ctMult` (swaps) or 1 (spot):
- linear swap and spot: `base = qty × ct` (exact), `quote = base × px` (exact);
- inverse swap: `quote = qty × ct` (exact), `base = quote / px` ROUNDED HALF-EVEN TO
  `INVERSE_BASE_DP` (12) decimal places, per trade. That rounded per-trade base is the one
  definition of an inverse trade's base volume everywhere (candles, CVD unit `base`, VWAP).

Input contract. Each calculator is per instrument: the caller passes only trades of that
instrument, already validated by the trade writer (SPEC §5: side is `buy` or `sell`). Trades
must arrive in `(ts_ms, trade_id)` order; a trade at or before the cursor — the `(ts_ms,
trade_id)` of the last trade processed — is skipped and counted in `skipped`. This makes
replaying overlapping vault ranges and live batches harmless, live and batch alike.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from typing import Any, Literal

from rq_actors.core.cache_census import family
from rq_actors.core.derive.exact import decimals_of, div_half_even, parse_scaled
from rq_actors.core.meta import InstrumentMeta
from rq_actors.errors import IncompatibleState, InstrumentMetaError
from rq_actors.messages import Trade

SCALE_SLACK_DP = 4
INVERSE_BASE_DP = 12
VALUE_DP = 8  # VWAP, std and candle vwap: exact quotient rounded half-even to 8 places
STATE_VERSION = 1
MINUTES_PER_DAY = 1440

_CACHE_LIMIT = 1 << 10  # per cache; ~0.23 MB a full pair, as fast as 4,096 (bench.quant_cache)
_CENSUS = family("quant", _CACHE_LIMIT)
_TF_PATTERN = re.compile(r"^([1-9][0-9]*)([mhd])$")
_TF_UNIT_MINUTES = {"m": 1, "h": 60, "d": MINUTES_PER_DAY}


class Quant:
    """Parses one instrument's price and size strings into scaled integers (memoised).

    Prices and sizes repeat a lot (a price grid, round lot sizes), so a parsed value is cached
    per string: the hot loops do one dict lookup instead of a decimal parse.
    """

    def __init__(self, meta: InstrumentMeta) -> None:
        if meta.ct_type not in ("linear", "inverse", "spot"):
            raise InstrumentMetaError(
                f"{meta.inst_id}: unknown ctType {meta.ct_type!r}; expected linear, inverse or spot"
            )
        self.inst_id = meta.inst_id
        self.ct_type = meta.ct_type
        self.inverse = meta.ct_type == "inverse"
        self.px_dp = decimals_of(meta.tick_sz) + SCALE_SLACK_DP
        self.sz_dp = decimals_of(meta.lot_sz) + SCALE_SLACK_DP
        if meta.ct_type == "spot":
            self.ct, self.ct_dp = 1, 0
        else:
            val_dp, mult_dp = decimals_of(meta.ct_val), decimals_of(meta.ct_mult)
            self.ct = parse_scaled(meta.ct_val, val_dp) * parse_scaled(meta.ct_mult, mult_dp)
            self.ct_dp = val_dp + mult_dp
            if self.ct <= 0:
                raise InstrumentMetaError(f"{meta.inst_id}: ctVal × ctMult must be > 0")
        self.base_dp = INVERSE_BASE_DP if self.inverse else self.sz_dp + self.ct_dp
        self.quote_dp = self.sz_dp + self.ct_dp + (0 if self.inverse else self.px_dp)
        # inverse base × 10**12 = qty·ct·10**(12 + px_dp) / (px · 10**(sz_dp + ct_dp))
        shift = INVERSE_BASE_DP + self.px_dp - self.sz_dp - self.ct_dp
        self._inv_num = self.ct * 10 ** max(shift, 0)
        self._inv_den = 10 ** max(-shift, 0)
        self.px_cache: dict[str, int] = {}
        self.sz_cache: dict[str, int] = {}
        _CENSUS.track(self, self.px_cache, self.sz_cache)

    def px(self, text: str) -> int | None:
        """Cache-miss path for a price: the scaled int, or None if not a positive decimal at
        `px_dp` places (the caller counts the trade as invalid)."""
        return _parse_into(self.px_cache, text, self.px_dp)

    def sz(self, text: str) -> int | None:
        """Cache-miss path for a size, like `px`."""
        return _parse_into(self.sz_cache, text, self.sz_dp)

    def inverse_base(self, qty: int, px: int) -> int:
        """Base volume of an inverse-swap trade at `INVERSE_BASE_DP`, rounded half-even."""
        return div_half_even(qty * self._inv_num, px * self._inv_den)


_SHARED: weakref.WeakValueDictionary[InstrumentMeta, Quant] = weakref.WeakValueDictionary()


def shared_quant(meta: InstrumentMeta) -> Quant:
    """The process's one `Quant` for `meta`, while anything uses it.

    A parsed value depends on the instrument's scales only, so every calculator of one
    instrument (CVD, VWAP, candles, wicks, signals: nine live) can share one pair of caches:
    the same hit rate for a ninth of the memory."""
    quant = _SHARED.get(meta)
    if quant is None:
        quant = _SHARED[meta] = Quant(meta)
    return quant


def _parse_into(cache: dict[str, int], text: str, dp: int) -> int | None:
    try:
        value = parse_scaled(text, dp)
    except (ValueError, TypeError):
        return None
    if value <= 0:
        return None
    if len(cache) >= _CACHE_LIMIT:  # bounded memory; refilling is cheap
        cache.clear()
        _CENSUS.cleared(cache)
    cache[text] = value
    return value


def accept_trade(
    q: Quant, cursor: tuple[int, int], t: Trade
) -> tuple[int, int] | Literal["skipped", "invalid"]:
    """The acceptance rule every calculator applies to each trade, in this order: a trade at or
    before `cursor` (the last trade used) is `skipped` (a replay); else its price and size must
    parse at `q`'s scales, or it is `invalid` (counted; the cursor does not move); else it is
    used, as `(price, size)` scaled ints, and becomes the cursor.

    The calculators (`cvd`, `vwap`, `candles`) inline this rule in their per-trade loops: a call
    per trade adds ~150-250 ns to a calculator's ~450-550 ns (`python -m bench.prelude`, 2026-12).
    tests/test_derive_prelude.py checks each copy against this function, so every metric
    rejects exactly the same trades."""
    if (t.ts_ms, t.trade_id) <= cursor:
        return "skipped"
    p = q.px_cache.get(t.px)
    if p is None:
        p = q.px(t.px)
    z = q.sz_cache.get(t.sz)
    if z is None:
        z = q.sz(t.sz)
    if p is None or z is None:
        return "invalid"
    return p, z


def timeframe_minutes(tf: str) -> int:
    """`"1m"` → 1, `"4h"` → 240, `"1d"` → 1440. A timeframe must divide a day, so that its
    windows, aligned to the Unix epoch, are aligned to 00:00 UTC of every day."""
    match = _TF_PATTERN.match(tf)
    if not match:
        raise ValueError(f"bad timeframe {tf!r}")
    minutes = int(match.group(1)) * _TF_UNIT_MINUTES[match.group(2)]
    if MINUTES_PER_DAY % minutes:
        raise ValueError(f"timeframe {tf!r} does not divide a day")
    return minutes


def sorted_timeframes(timeframes: list[str] | tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """`(tf, minutes)` pairs, shortest first; rejects duplicates."""
    pairs = sorted(((tf, timeframe_minutes(tf)) for tf in timeframes), key=lambda p: p[1])
    if len({m for _, m in pairs}) != len(pairs):
        raise ValueError(f"duplicate timeframes in {list(timeframes)}")
    return tuple(pairs)


def check_state(
    state: Mapping[str, Any], kind: str, quant: Quant, settings: Mapping[str, Any]
) -> None:
    """Refuse a state written for another calculator, instrument, contract type or settings:
    resuming from it would silently mix incompatible numbers (rebuild instead)."""
    expected = {"kind": kind, "version": STATE_VERSION, "instId": quant.inst_id}
    expected |= {"ctType": quant.ct_type, **settings}
    for key, value in expected.items():
        if state.get(key) != value:
            raise IncompatibleState(
                f"{kind} state for {quant.inst_id}: {key} is {state.get(key)!r}, expected "
                f"{value!r}; rebuild from the vault"
            )


def state_header(kind: str, quant: Quant, settings: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "kind": kind,
        "version": STATE_VERSION,
        "instId": quant.inst_id,
        "ctType": quant.ct_type,
        **settings,
    }


def cursor_to_state(ts_ms: int, trade_id: int) -> dict[str, Any]:
    """Cursor keys of every state: `last_ts_ms` (int, -1 = nothing processed yet) and
    `last_trade_id` (string, like the trade record's `trade_id`)."""
    return {"last_ts_ms": ts_ms, "last_trade_id": str(trade_id)}


def cursor_from_state(state: Mapping[str, Any]) -> tuple[int, int]:
    return int(state["last_ts_ms"]), int(state["last_trade_id"])
