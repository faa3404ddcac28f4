"""Hypothesis strategies for parser and actor fuzzing: JSON-shaped junk and near-numbers."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)


def _nested(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # a named function: hypothesis reads the source of `extend` to check that it recurses, and
    # cannot find a lambda's inside a multi-line expression (HypothesisDeprecationWarning)
    return st.recursive(scalars, _containers, max_leaves=12)


json_values = _nested(json_scalars)  # what a parser may be handed (Python values)
# What can travel as JSON text (orjson writes 64-bit integers only)
wire_values = _nested(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
# Strings that look almost like numbers: exponents, signs, NaN/inf, unicode digits, huge.
numberish = st.sampled_from(
    [
        "1e5", "1E-3", "-1", "+1", "0", "0.0", "00.1", ".5", "5.", "NaN", "nan", "Infinity",
        "-inf", " 1", "1 ", "1_000", "0x10", "١٢٣", "²", "1" * 41, "9" * 5000,
        "0." + "0" * 60 + "1", "1" * 1_000_000, "", "1.2.3", "٣.٥", "1\n", "1\x00",
    ]
)  # fmt: skip
plain_decimals = st.from_regex(r"(0|[1-9][0-9]{0,7})(\.[0-9]{1,8})?", fullmatch=True)
