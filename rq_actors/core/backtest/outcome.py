"""One traded setup's result, with exact arithmetic.

Prices are ticks (ints). Money is exact `Decimal`: products of finite decimals are computed in a
context wide enough never to round. Ratios (bps, R) are exact fractions rounded half-even to
`RATIO_DP` places, carried as scaled ints so statistics over them stay exact.

- `pnl_ticks`: gross, `sign × (exit − entry)` (short: sign −1).
- fees: entry is maker (a resting limit); a target exit is maker; a stop, a time stop and the
  end-of-data close are taker. Each fee is `price × size × bps / 10 000`.
- `pnl_quote` = gross − fees; `pnl_bps` = pnl_quote / entry notional × 10 000;
  `pnl_r` = pnl_quote / (stop distance × tick × size), i.e. in units of the risk taken.
- `mfe_ticks` / `mae_ticks`: the best and worst price reached from the fill to the exit, both
  trades included, in ticks from the entry (each ≥ 0).
"""

from __future__ import annotations

from decimal import Context, Decimal
from fractions import Fraction
from typing import Any, Literal

import attrs

from rq_actors.core.derive.exact import div_half_even, fmt_scaled
from rq_actors.core.timefmt import iso_ms
from rq_actors.core.wicks.model import ticks_to_price

from .setup import Setup

ExitReason = Literal["target", "stop", "time", "end_of_data"]
Status = Literal["filled", "unfilled", "skipped_overlap", "open_at_end"]
RATIO_DP = 4
_BPS = Decimal(10_000)
_EXACT = Context(prec=80)  # wide enough that no product here is ever rounded


def ratio_scaled(num: Decimal, den: Decimal, dp: int = RATIO_DP) -> int:
    """`num / den × 10**dp` rounded half-even to an integer, exactly (`den > 0`)."""
    f = Fraction(num) / Fraction(den) * 10**dp
    return div_half_even(f.numerator, f.denominator)


@attrs.frozen(slots=True)
class Outcome:
    setup: Setup
    exits: int  # index of the exit rules
    status: Status
    fill_ms: int | None = None
    entry: int | None = None
    exit_ms: int | None = None
    exit_px: int | None = None
    reason: ExitReason | None = None
    stop_ticks: int = 0
    target_ticks: int = 0
    pnl_ticks: int = 0
    fees_quote: Decimal = Decimal(0)
    pnl_quote: Decimal = Decimal(0)
    pnl_bps: int = 0  # scaled by 10**RATIO_DP
    pnl_r: int = 0  # scaled by 10**RATIO_DP
    mfe_ticks: int = 0
    mae_ticks: int = 0
    order_until_ms: int | None = None  # the order's last valid instant (None: never placed)

    @property
    def closed(self) -> bool:
        """Filled and exited by a rule (target, stop or time), so it counts in the statistics."""
        return self.status == "filled"

    @property
    def win(self) -> bool:
        return self.pnl_quote > 0

    @property
    def holding_ms(self) -> int | None:
        if self.fill_ms is None or self.exit_ms is None:
            return None
        return self.exit_ms - self.fill_ms

    def record(self, tick: Decimal) -> dict[str, Any]:
        def px(v: int | None) -> str | None:
            return None if v is None else ticks_to_price(v, tick)

        return {
            **self.setup.record(tick),
            "order_until_utc": None if self.order_until_ms is None else iso_ms(self.order_until_ms),
            "exits": self.exits,
            "status": self.status,
            "fill_time_utc": None if self.fill_ms is None else iso_ms(self.fill_ms),
            "entry": px(self.entry),
            "exit_time_utc": None if self.exit_ms is None else iso_ms(self.exit_ms),
            "exit_price": px(self.exit_px),
            "exit_reason": self.reason,
            "stop_ticks": self.stop_ticks,
            "target_ticks": self.target_ticks,
            "pnl_ticks": self.pnl_ticks,
            "fees_quote": fmt_quote(self.fees_quote),
            "pnl_quote": fmt_quote(self.pnl_quote),
            "pnl_bps": fmt_scaled(self.pnl_bps, RATIO_DP),
            "pnl_r": fmt_scaled(self.pnl_r, RATIO_DP),
            "mfe_ticks": self.mfe_ticks,
            "mae_ticks": self.mae_ticks,
            "holding_s": None if self.holding_ms is None else self.holding_ms // 1000,
        }


def fmt_quote(d: Decimal) -> str:
    """Canonical text of an exact amount (no exponent, no trailing zeros)."""
    text = format(d.normalize(_EXACT), "f")
    return "0" if text in ("0", "-0") else text


def settle(
    setup: Setup,
    exits: int,
    *,
    tick: Decimal,
    size: Decimal,
    maker_bps: Decimal,
    taker_bps: Decimal,
    fill_ms: int,
    entry: int,
    exit_ms: int,
    exit_px: int,
    reason: ExitReason,
    stop_ticks: int,
    target_ticks: int,
    order_until_ms: int,
    best: int,
    worst: int,
) -> Outcome:
    """The outcome of a filled setup; `best`/`worst` are the extreme prices held (ticks)."""
    sign = -1 if setup.fade == "short" else 1
    gross_ticks = sign * (exit_px - entry)
    c = _EXACT
    notional_in = c.multiply(c.multiply(Decimal(entry), tick), size)
    notional_out = c.multiply(c.multiply(Decimal(exit_px), tick), size)
    exit_bps = maker_bps if reason == "target" else taker_bps
    fees = c.add(
        c.divide(c.multiply(notional_in, maker_bps), _BPS),
        c.divide(c.multiply(notional_out, exit_bps), _BPS),
    )
    gross = c.multiply(c.multiply(Decimal(gross_ticks), tick), size)
    pnl = c.subtract(gross, fees)
    risk = c.multiply(c.multiply(Decimal(stop_ticks), tick), size)
    return Outcome(
        setup=setup,
        exits=exits,
        status="filled" if reason != "end_of_data" else "open_at_end",
        fill_ms=fill_ms,
        entry=entry,
        exit_ms=exit_ms,
        exit_px=exit_px,
        reason=reason,
        stop_ticks=stop_ticks,
        target_ticks=target_ticks,
        pnl_ticks=gross_ticks,
        fees_quote=fees,
        pnl_quote=pnl,
        pnl_bps=ratio_scaled(pnl, notional_in, RATIO_DP + 4),  # × 10 000: bps
        pnl_r=ratio_scaled(pnl, risk),
        mfe_ticks=max(0, sign * (best - entry)),
        mae_ticks=max(0, sign * (entry - worst)),
        order_until_ms=order_until_ms,
    )
