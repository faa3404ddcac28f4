"""Exact decimal arithmetic on scaled integers, and the one canonical decimal formatter.

Every derived value is held as a Python `int` together with a number of decimal places `dp`
(the value is `int × 10**-dp`). Integer addition and multiplication are exact, so sums and
products never round; the only rounding anywhere in `rq_actors.core.derive` is the explicit,
documented round-half-even of `div_half_even` and `sqrt_ratio_half_even`.

Canonical decimal text (`fmt_scaled`, `fmt_decimal` — every decimal string written by the
derived metrics goes through `fmt_scaled`):
- plain positional notation, never an exponent: `"0.00000123"`, `"1500"`;
- no trailing zeros after the point and no bare point: `2.50 → "2.5"`, `3.00 → "3"`;
- zero is `"0"` (never `"0.0"`, `"0E-8"` or `"-0"`); negatives carry a leading `-`.
So two equal values always have the same text, whatever scale they were computed at.
"""

from __future__ import annotations

from decimal import Decimal
from math import isqrt


def parse_scaled(text: str, dp: int) -> int:
    """`text` (a finite decimal) as an integer count of `10**-dp`; exact or `ValueError`.

    Raises if the value has more significant decimal places than `dp`: silently rounding an
    input would break exactness.
    """
    # fast path for the exchange's plain `123.45` form; anything else goes through Decimal
    whole, dot, frac = text.partition(".")
    if whole.isascii() and whole.isdigit() and ((frac.isascii() and frac.isdigit()) or not dot):
        frac = frac.rstrip("0")
        if len(frac) <= dp:
            return int(whole + frac.ljust(dp, "0"))
    try:
        d = Decimal(text)
    except ArithmeticError as exc:  # decimal.InvalidOperation
        raise ValueError(f"not a decimal number: {text!r}") from exc
    return decimal_to_scaled(d, dp)


def decimal_to_scaled(d: Decimal, dp: int) -> int:
    """`d` as an integer count of `10**-dp`; exact or `ValueError`."""
    sign, digits, exp = d.as_tuple()
    if not isinstance(exp, int):
        raise ValueError(f"not a finite number: {d!r}")
    mantissa = int("".join(map(str, digits))) if digits else 0
    shift = exp + dp
    value: int  # `10**shift` is typed Any (a negative power would be a float); it is not here
    if shift >= 0:
        value = mantissa * 10**shift
    else:
        value, rest = divmod(mantissa, 10**-shift)
        if rest:
            raise ValueError(f"{d} has more than {dp} decimal places")
    return -value if sign else value


def decimals_of(text: str) -> int:
    """Decimal places of `text`'s value, ignoring trailing zeros (`"0.010"` → 2, `"10"` → 0)."""
    d = Decimal(text)
    _, digits, exp = d.as_tuple()
    if not isinstance(exp, int):
        raise ValueError(f"not a finite number: {text!r}")
    places = -exp
    for digit in reversed(digits):
        if places <= 0 or digit != 0:
            break
        places -= 1
    return max(places, 0)


def fmt_scaled(value: int, dp: int) -> str:
    """Canonical text of `value × 10**-dp` (see the module docstring)."""
    if dp <= 0:
        return str(value * 10**-dp)
    negative = value < 0
    whole, frac = divmod(-value if negative else value, 10**dp)
    frac_text = str(frac).rjust(dp, "0").rstrip("0")
    text = f"{whole}.{frac_text}" if frac_text else str(whole)
    return "-" + text if negative else text


def fmt_decimal(d: Decimal) -> str:
    """Canonical text of a finite `Decimal` (same rules as `fmt_scaled`)."""
    sign, digits, exp = d.as_tuple()
    if not isinstance(exp, int):
        raise ValueError(f"not a finite number: {d!r}")
    mantissa = int("".join(map(str, digits))) if digits else 0
    return fmt_scaled(-mantissa if sign else mantissa, -exp)


def to_decimal(value: int, dp: int) -> Decimal:
    """`value × 10**-dp` as an exact `Decimal` (string construction ignores context precision)."""
    return Decimal(f"{value}E{-dp}")


def div_half_even(num: int, den: int) -> int:
    """`num / den` rounded half-even to an integer (`den > 0`)."""
    quotient, rest = divmod(num, den)  # floor division: 0 <= rest < den, also for num < 0
    twice = 2 * rest
    if twice > den or (twice == den and quotient & 1):
        quotient += 1
    return quotient


def sqrt_ratio_half_even(num: int, den: int) -> int:
    """`sqrt(num / den)` rounded half-even to an integer, exactly (`num >= 0`, `den > 0`).

    `r = isqrt(num // den)` is `floor(sqrt(num / den))` (for real x ≥ 0, ⌊√x⌋ = ⌊√⌊x⌋⌋). The true
    root rounds up iff it is ≥ r + ½, i.e. iff `num/den ≥ (2r+1)²/4`, i.e. `4·num ≥ (2r+1)²·den`
    — an integer comparison, so the rounding is exact; equality (an exact tie) goes to even.
    """
    root = isqrt(num // den)
    lhs = 4 * num
    rhs = (2 * root + 1) ** 2 * den
    if lhs > rhs or (lhs == rhs and root & 1):
        root += 1
    return root


def exact_div(num: int, den: int, what: str) -> int:
    """`num / den` when it is an integer; `ValueError` naming `what` otherwise."""
    quotient, rest = divmod(num, den)
    if rest:
        raise ValueError(f"{what}: {num} is not a multiple of {den}")
    return quotient
