"""Knobs that only tests and benchmarks turn: they make faults that the market cannot.

They are not part of the TOML config, so a user cannot set them by accident.
"""

from __future__ import annotations

import attrs


@attrs.define
class TestHooks:
    __test__ = False  # not a pytest test class

    feed_capacity: int = 256  # batches buffered per derived actor before it is marked lagging
    derived_slowdown_s: dict[str, float] = attrs.field(factory=dict)  # actor name → sleep/batch
