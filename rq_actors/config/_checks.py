"""Field validators for the config classes, and the error a validator raises."""

from __future__ import annotations

import re
from typing import Any

import attrs

INST_ID_PATTERN = re.compile(r"^[A-Z0-9]+(-[A-Z0-9_]+){1,3}$")
MAX_INST_ID_LEN = 64  # OKX instIds are ~20 characters; an instId becomes a path component
TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")


class _FieldError(ValueError):
    """A validator's complaint about one attribute; `name` completes the key path."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        super().__init__(problem)


Validator = Any


def _check(test: Any, problem: str) -> Validator:
    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not test(value):
            raise _FieldError(attribute.name, problem.format(value=value))

    return check


_positive = _check(lambda x: x > 0, "must be > 0, got {value!r}")
_non_negative = _check(lambda x: x >= 0, "must be >= 0, got {value!r}")


def _between(lo: float, hi: float) -> Validator:
    return _check(lambda x: lo <= x <= hi, f"must be in {lo}..{hi}, got {{value!r}}")


def _at_least(lo: float) -> Validator:
    return _check(lambda x: x >= lo, f"must be >= {lo}, got {{value!r}}")


def _one_of(*choices: str) -> Validator:
    allowed = ", ".join(repr(c) for c in choices)
    return _check(lambda x: x in choices, f"{{value!r}} is not one of {allowed}")


def _timeframes(_inst: Any, attribute: attrs.Attribute[Any], value: list[str]) -> None:
    bad = [tf for tf in value if tf not in TIMEFRAMES]
    if bad:
        raise _FieldError(
            attribute.name, f"unknown timeframe(s) {bad}; allowed: {list(TIMEFRAMES)}"
        )
    if len(set(value)) != len(value):
        raise _FieldError(attribute.name, f"duplicate timeframes in {value}")


def _url(*schemes: str) -> Validator:
    prefixes = tuple(f"{s}://" for s in schemes)
    return _check(lambda x: x.startswith(prefixes), f"must start with {' or '.join(prefixes)}")
