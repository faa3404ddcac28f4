"""Exact arithmetic helpers of `rq_actors.core.derive`: parsing, canonical text, rounding, sqrt."""

from __future__ import annotations

import re
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rq_actors.core.derive.common import Quant, timeframe_minutes
from rq_actors.core.derive.exact import (
    decimals_of,
    div_half_even,
    fmt_decimal,
    fmt_scaled,
    parse_scaled,
    sqrt_ratio_half_even,
    to_decimal,
)
from rq_actors.core.meta import InstrumentMeta

CANONICAL = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$")


@pytest.mark.parametrize(
    ("value", "dp", "text"),
    [
        (0, 8, "0"),
        (0, 0, "0"),
        (150, 2, "1.5"),
        (100, 2, "1"),
        (-5, 3, "-0.005"),
        (123, 0, "123"),
        (1, 12, "0.000000000001"),
        (-120_000, 4, "-12"),
        (10**40 + 1, 10, "1000000000000000000000000000000.0000000001"),
    ],
)
def test_fmt_scaled(value: int, dp: int, text: str) -> None:
    assert fmt_scaled(value, dp) == text
    assert fmt_decimal(to_decimal(value, dp)) == text


@pytest.mark.parametrize(
    ("d", "text"),
    [
        ("0E-8", "0"),
        ("-0", "0"),
        ("-0.000", "0"),
        ("1E+3", "1000"),
        ("2.50", "2.5"),
        ("1E-9", "0.000000001"),
    ],
)
def test_fmt_decimal_never_exponent_or_negative_zero(d: str, text: str) -> None:
    assert fmt_decimal(Decimal(d)) == text


@given(st.integers(-(10**30), 10**30), st.integers(0, 20))
def test_format_parse_round_trip(value: int, dp: int) -> None:
    text = fmt_scaled(value, dp)
    assert CANONICAL.match(text)
    assert parse_scaled(text, dp) == value
    assert Fraction(text) == Fraction(value, 10**dp)
    assert to_decimal(value, dp) == Decimal(text)


def test_parse_scaled_is_exact_or_refuses() -> None:
    assert parse_scaled("1.50", 1) == 15
    assert parse_scaled("1e-2", 2) == 1
    assert parse_scaled("-3", 2) == -300
    for bad, dp in [("1.55", 1), ("abc", 2), ("NaN", 2), ("Infinity", 0), ("", 0)]:
        with pytest.raises(ValueError):
            parse_scaled(bad, dp)


def test_decimals_of() -> None:
    assert [decimals_of(x) for x in ["0.1", "0.010", "10", "1E-10", "5", "0.5"]] == [
        1, 2, 0, 10, 0, 1,
    ]  # fmt: skip


@given(st.integers(-(10**20), 10**20), st.integers(1, 10**12))
def test_div_half_even_matches_fraction_round(num: int, den: int) -> None:
    assert div_half_even(num, den) == round(Fraction(num, den))


def test_div_half_even_ties_go_to_even() -> None:
    assert [div_half_even(n, 2) for n in (1, 3, 5, -1, -3)] == [0, 2, 2, 0, -2]


@given(st.integers(0, 10**40), st.integers(1, 10**20))
def test_sqrt_ratio_is_correctly_rounded(num: int, den: int) -> None:
    r = sqrt_ratio_half_even(num, den)
    x = Fraction(num, den)
    lo, hi = Fraction(2 * r - 1, 2), Fraction(2 * r + 1, 2)
    assert (lo < 0 or lo * lo <= x) and x <= hi * hi
    if x == hi * hi or (lo > 0 and x == lo * lo):
        assert r % 2 == 0
    with localcontext() as ctx:
        ctx.prec = 80
        approx = (Decimal(num) / Decimal(den)).sqrt()
    assert abs(approx - r) <= Decimal("0.5") + Decimal("1E-60")


def test_sqrt_ratio_exact_ties() -> None:
    # sqrt(6.25) = 2.5 → 2; sqrt(12.25) = 3.5 → 4; sqrt(0.25) = 0.5 → 0; sqrt(2.25) = 1.5 → 2
    assert sqrt_ratio_half_even(625, 100) == 2
    assert sqrt_ratio_half_even(1225, 100) == 4
    assert sqrt_ratio_half_even(1, 4) == 0
    assert sqrt_ratio_half_even(9, 4) == 2
    assert sqrt_ratio_half_even(0, 7) == 0
    assert sqrt_ratio_half_even(10**30, 1) == 10**15


def test_timeframes() -> None:
    assert [timeframe_minutes(tf) for tf in ["1m", "5m", "15m", "1h", "4h", "1d", "2h"]] == [
        1, 5, 15, 60, 240, 1440, 120,
    ]  # fmt: skip
    for bad in ["7m", "0m", "1w", "1H", "m", "2d"]:
        with pytest.raises(ValueError):
            timeframe_minutes(bad)


def test_quant_scales_and_inverse_rounding() -> None:
    linear = Quant(InstrumentMeta("BTC-USDT-SWAP", "SWAP", "0.01", "1", "linear", "0.1", "0.01"))
    assert (linear.px_dp, linear.sz_dp, linear.ct, linear.ct_dp) == (5, 6, 1, 2)
    assert (linear.base_dp, linear.quote_dp) == (8, 13)
    assert linear.px("101250.5") == 10_125_050_000
    assert linear.px("1.000001") is None  # beyond the scale: refused, never rounded
    assert linear.px("0") is None and linear.sz("-1") is None and linear.sz("x") is None
    inverse = Quant(InstrumentMeta("BTC-USD-SWAP", "SWAP", "100", "1", "inverse", "0.1", "1"))
    # 1 contract = 100 USD at 30000.0 → 0.0033333333333333… BTC → 0.003333333333 (12 places)
    px, sz = inverse.px("30000"), inverse.sz("1")
    assert px and sz and inverse.inverse_base(sz, px) == 3_333_333_333
    # exact ties at the 13th place go to even: 1 USD / 2e12 = 0.5e-12 → 0; 3 USD → 1.5e-12 → 2e-12
    tiny = Quant(InstrumentMeta("X-USD-SWAP", "SWAP", "1", "1", "inverse", "0.1", "1"))
    p, one, three = tiny.px("2000000000000"), tiny.sz("1"), tiny.sz("3")
    assert p and one and three
    assert (tiny.inverse_base(one, p), tiny.inverse_base(three, p)) == (0, 2)
    spot = Quant(InstrumentMeta("ETH-USDT", "SPOT", "7", "3", "spot", "0.01", "0.0001"))
    assert (spot.ct, spot.ct_dp) == (1, 0)  # spot ignores ctVal/ctMult: base = qty
