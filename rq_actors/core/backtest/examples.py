"""A few example setups with the 1m candles around them, for the report's charts. Pure.

The first `limit` signal setups of the base rules are captured: the `before_min` minutes of 1m
candles up to the setup's instant and the `after_min` minutes after it. Memory: one deque of
`before_min` candles plus at most `limit × (before_min + after_min)` captured ones.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rq_actors.core.derive.candles import Candle
from rq_actors.core.timefmt import MS_PER_MINUTE

from .setup import Setup


class Examples:
    def __init__(self, limit: int = 6, before_min: int = 45, after_min: int = 45) -> None:
        self.limit = limit
        self.after_ms = after_min * MS_PER_MINUTE
        self._recent: deque[Candle] = deque(maxlen=before_min)
        self.captured: dict[int, list[Candle]] = {}  # setup seq → candles
        self._open: list[tuple[Setup, list[Candle]]] = []

    def on_candles(self, candles: Iterable[Candle]) -> None:
        for c in candles:
            if c.timeframe != "1m":
                continue
            self._recent.append(c)
            for _, bars in self._open:
                bars.append(c)
            self._open = [
                (s, bars) for s, bars in self._open if c.close_time_ms < s.as_of_ms + self.after_ms
            ]

    def on_setups(self, setups: Iterable[Setup]) -> None:
        for s in setups:
            if len(self.captured) >= self.limit:
                return
            if s.group == "signal" and s.rules == 0:
                bars = list(self._recent)
                self.captured[s.seq] = bars
                self._open.append((s, bars))
