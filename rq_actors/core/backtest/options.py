"""Backtest knobs: the finder rules a setup must pass and the execution model that trades it.

Distances are written with a unit so a config reads like a trader talks:
`"12t"` = 12 ticks, `"2w"` = 2 × the wick's size (rounded up to whole ticks, at least 1),
`"1.5R"` = 1.5 × the stop distance (targets only: R is the risk, so a stop cannot be in R).
Fees are basis points of notional as exact decimal strings (OKX base tier for USDT-margined
swaps: maker 2, taker 5).
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Literal

import attrs

from rq_actors.core.wicks.signals import FinderParams

FillRule = Literal["through", "touch"]
FILL_RULES = ("through", "touch")
DEFAULT_MAKER_BPS = "2"
DEFAULT_TAKER_BPS = "5"

_DISTANCE = re.compile(r"^(?P<n>[0-9]+(?:\.[0-9]+)?)(?P<unit>[twR])$")


class OptionError(ValueError):
    """A knob with a value the backtest cannot use; the message names it."""


@attrs.frozen(slots=True)
class Distance:
    """A price distance: `amount` × unit, unit `t` (ticks), `w` (wick sizes) or `R` (stops)."""

    amount: Decimal
    unit: Literal["t", "w", "R"]

    @classmethod
    def parse(cls, text: str, what: str, *, allow_r: bool = True) -> Distance:
        m = _DISTANCE.fullmatch(text.strip())
        if m is None:
            raise OptionError(f"{what}: {text!r} is not a distance like 12t, 2w or 1.5R")
        amount, unit = Decimal(m["n"]), m["unit"]
        if amount <= 0:
            raise OptionError(f"{what}: {text!r} must be > 0")
        if unit == "R" and not allow_r:
            raise OptionError(f"{what}: {text!r}: R is the stop distance, give the stop in t or w")
        if unit == "t" and amount != amount.to_integral_value():
            raise OptionError(f"{what}: {text!r}: ticks are whole numbers")
        return cls(amount, unit)  # type: ignore[arg-type]

    def ticks(self, wick_size: int, stop_ticks: int | None = None) -> int:
        """Whole ticks for a wick of `wick_size` ticks (and, for R, the stop distance)."""
        if self.unit == "t":
            return int(self.amount)
        base = wick_size if self.unit == "w" else stop_ticks
        assert base is not None, "an R distance needs the stop distance"
        return max(1, int((self.amount * base).to_integral_value(rounding=ROUND_CEILING)))

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


def parse_bps(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise OptionError(f"{what}: {text!r} is not a decimal number of bps") from None
    if not value.is_finite() or value < 0 or value > 1000:
        raise OptionError(f"{what}: {text!r} must be between 0 and 1000 bps")
    return value


@attrs.frozen(slots=True)
class RuleSet(FinderParams):
    """The finder rules (SPEC §8.3) a wick must pass to become a setup, and the weakest tier
    traded. The backtest asks the 1m finder (`timeframe` stays "1m")."""

    max_tier: Literal["EXACT", "NEAR", "CLOSE", "WATCH"] = "WATCH"

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.age_min <= self.age_max:
            raise OptionError(f"need 0 ≤ age_min ≤ age_max, got {self.age_min}..{self.age_max}")
        if self.min_touched_surrounding < 0 or self.surround_minutes < 0 or self.close_ticks < 0:
            raise OptionError("min_touched_surrounding, surround_minutes, close_ticks must be ≥ 0")
        if self.max_size_ticks is not None and self.max_size_ticks < 1:
            raise OptionError("max_size_ticks must be ≥ 1")

    def label(self) -> str:
        return f"age {self.age_min}-{self.age_max} touched≥{self.min_touched_surrounding}"


@attrs.frozen(slots=True)
class ExitRules:
    """How a setup is traded: a resting limit fade at the tip, then target / stop / time stop."""

    fill_rule: FillRule = "through"
    target: Distance = Distance(Decimal(1), "R")
    stop: Distance = Distance(Decimal(10), "t")
    time_stop_min: int = 30
    order_ttl_min: int | None = None  # None: the order rests while the finder lists the wick
    maker_fee_bps: Decimal = Decimal(DEFAULT_MAKER_BPS)
    taker_fee_bps: Decimal = Decimal(DEFAULT_TAKER_BPS)
    size_base: Decimal = Decimal(1)
    no_overlap: bool = False

    def __attrs_post_init__(self) -> None:
        if self.fill_rule not in FILL_RULES:
            raise OptionError(f"fill_rule must be one of {FILL_RULES}, got {self.fill_rule!r}")
        if self.stop.unit == "R":
            raise OptionError("stop: R is the stop distance, give the stop in t or w")
        if self.time_stop_min < 1:
            raise OptionError(f"time_stop_min must be ≥ 1, got {self.time_stop_min}")
        if self.order_ttl_min is not None and self.order_ttl_min < 1:
            raise OptionError(f"order_ttl_min must be ≥ 1, got {self.order_ttl_min}")
        if self.size_base <= 0:
            raise OptionError(f"size_base must be > 0, got {self.size_base}")

    def label(self) -> str:
        return f"target {self.target} stop {self.stop}"
