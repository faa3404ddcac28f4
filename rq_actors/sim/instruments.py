"""Instrument facts the simulator quotes, and the exact decimal formatting of scaled integers.

Prices are held as integer ticks and sizes as integer lots; strings are produced only at the
edge, so no binary float ever reaches an emitted price or size.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import attrs

_INST_ID_RE = re.compile(r"^[A-Z0-9]+(-[A-Z0-9_]+){1,3}$")
# 2 % daily volatility, expressed per square-root second, drives the mid's random walk.
_VOL_PER_SQRT_S = 0.02 / math.sqrt(86_400)


@attrs.frozen
class InstrumentSpec:
    inst_id: str
    inst_type: str  # "SWAP" | "SPOT"
    base_ccy: str
    quote_ccy: str
    tick_sz: str
    lot_sz: str
    ct_val: str  # "" for spot, as OKX sends it
    ct_type: str  # "linear" | "inverse" | "" (spot)
    ct_val_ccy: str
    settle_ccy: str
    price_ticks: int  # starting mid, in ticks
    level_lots: int  # mean size of one book level, in lots
    taker_lots: int  # typical taker order, in lots

    @property
    def tick_dp(self) -> int:
        return _decimals(self.tick_sz)

    @property
    def tick_units(self) -> int:
        """One tick in units of 10**-tick_dp (1 for 0.1 and 0.01, 5 for 0.5)."""
        return _units(self.tick_sz)

    @property
    def lot_dp(self) -> int:
        return _decimals(self.lot_sz)

    @property
    def lot_units(self) -> int:
        return _units(self.lot_sz)

    @property
    def vol_ticks_per_sqrt_s(self) -> float:
        return max(0.5, self.price_ticks * _VOL_PER_SQRT_S)

    def px(self, ticks: int) -> str:
        return fmt_scaled(ticks * self.tick_units, self.tick_dp)

    def sz(self, lots: int) -> str:
        return fmt_scaled(lots * self.lot_units, self.lot_dp)

    def sz_formatter(self) -> Callable[[int], str]:
        """A fast `sz` for hot loops (the spec's decimals are resolved once)."""
        units, dp = self.lot_units, self.lot_dp
        if dp == 0:
            return str if units == 1 else (lambda lots: str(lots * units))
        return lambda lots: fmt_scaled(lots * units, dp)


def fmt_scaled(value: int, dp: int) -> str:
    """`value × 10**-dp` as OKX writes it: no exponent, no trailing fractional zeros."""
    if dp == 0:
        return str(value)
    sign = "-" if value < 0 else ""
    digits = str(abs(value)).rjust(dp + 1, "0")
    whole, frac = digits[:-dp], digits[-dp:].rstrip("0")
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def _decimals(text: str) -> int:
    return len(text.split(".", 1)[1]) if "." in text else 0


def _units(text: str) -> int:
    return int(text.replace(".", ""))


def valid_inst_id(inst_id: str) -> bool:
    return bool(_INST_ID_RE.match(inst_id))


def spec_for(inst_id: str) -> InstrumentSpec:
    """Facts for any instId: the two majors as OKX lists them, a generic shape for the rest."""
    if not valid_inst_id(inst_id):
        raise ValueError(f"not an OKX instId: {inst_id!r}")
    parts = inst_id.split("-")
    base, quote = parts[0], parts[1]
    if inst_id.endswith("-SWAP"):
        return _swap(inst_id, base, quote)
    return _spot(inst_id, base, quote)


def _swap(inst_id: str, base: str, quote: str) -> InstrumentSpec:
    tick = "0.1" if base == "BTC" else "0.01"
    if quote == "USD":
        # Coin-margined: OKX lists these as inverse contracts of a fixed USD face value.
        return InstrumentSpec(
            inst_id=inst_id, inst_type="SWAP", base_ccy=base, quote_ccy=quote,
            tick_sz=tick, lot_sz="1", ct_val="100" if base == "BTC" else "10",
            ct_type="inverse", ct_val_ccy="USD", settle_ccy=base,
            price_ticks=_start_ticks(base, tick), level_lots=300, taker_lots=20,
        )  # fmt: skip
    if base == "BTC":
        lot, ct_val, level, taker = "0.01", "0.01", 5_000, 400
    elif base == "ETH":
        lot, ct_val, level, taker = "0.01", "0.1", 8_000, 600
    else:
        lot, ct_val, level, taker = "1", "1", 300, 20
    return InstrumentSpec(
        inst_id=inst_id, inst_type="SWAP", base_ccy=base, quote_ccy=quote,
        tick_sz=tick, lot_sz=lot, ct_val=ct_val, ct_type="linear", ct_val_ccy=base,
        settle_ccy=quote, price_ticks=_start_ticks(base, tick), level_lots=level,
        taker_lots=taker,
    )  # fmt: skip


def _spot(inst_id: str, base: str, quote: str) -> InstrumentSpec:
    # Spot sizes are in base currency on a fine lot grid; OKX leaves contract fields "".
    tick = "0.1" if base == "BTC" else "0.01"
    if base == "BTC":
        lot, level, taker = "0.00000001", 40_000_000, 2_000_000
    elif base == "ETH":
        lot, level, taker = "0.000001", 8_000_000, 400_000
    else:
        lot, level, taker = "0.0001", 2_000_000, 100_000
    return InstrumentSpec(
        inst_id=inst_id, inst_type="SPOT", base_ccy=base, quote_ccy=quote,
        tick_sz=tick, lot_sz=lot, ct_val="", ct_type="", ct_val_ccy="", settle_ccy="",
        price_ticks=_start_ticks(base, tick), level_lots=level, taker_lots=taker,
    )  # fmt: skip


def _start_ticks(base: str, tick: str) -> int:
    price = {"BTC": 60_000, "ETH": 3_000}.get(base, 100)
    ticks: int = price * 10 ** _decimals(tick) // _units(tick)  # `10 ** n` is typed Any
    return ticks


def instrument_row(spec: InstrumentSpec, list_time_ms: int) -> dict[str, object]:
    """A REST `public/instruments` row (okx-protocol.md §4.1); "" where a field does not apply."""
    swap = spec.inst_type == "SWAP"
    family = f"{spec.base_ccy}-{spec.quote_ccy}" if swap else ""
    return {
        "instType": spec.inst_type,
        "instId": spec.inst_id,
        "instFamily": family,
        "uly": family,
        "baseCcy": "" if swap else spec.base_ccy,
        "quoteCcy": "" if swap else spec.quote_ccy,
        "settleCcy": spec.settle_ccy,
        "ctVal": spec.ct_val,
        "ctMult": "1" if swap else "",
        "ctValCcy": spec.ct_val_ccy,
        "ctType": spec.ct_type,
        "optType": "",
        "stk": "",
        "tickSz": spec.tick_sz,
        "lotSz": spec.lot_sz,
        "minSz": spec.lot_sz,
        "lever": "100" if swap else "",
        "state": "live",
        "ruleType": "normal",
        "listTime": str(list_time_ms),
        "expTime": "",
        "instIdCode": _inst_id_code(spec.inst_id),
        "upcChg": [],
    }


def _inst_id_code(inst_id: str) -> int:
    # Stable small integer per instId, like OKX's SBE id; the value itself carries no meaning.
    code = 0
    for ch in inst_id:
        code = (code * 131 + ord(ch)) % 1_000_003
    return 10_000 + code
