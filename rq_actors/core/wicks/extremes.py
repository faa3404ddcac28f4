"""The highest (or lowest) trade price seen since each of many creation times, at O(1) a trade.

Every untouched wick needs "the max price since my `created_at`" (for `tip_distance_ticks` and
`fill_fraction`), and there are tens of thousands of wicks: updating each on every trade would
cost a scan per trade. Instead, think of one value per creation time ("bucket"). A trade at
price `p` raises every bucket's max to at least `p`. Older buckets have seen a superset of the
trades of newer ones, so the maxima never increase from old to new buckets: the buckets a trade
raises are always a suffix (the newest ones), and after the trade that whole suffix has the same
value `p`. So the buckets form runs ("segments") of equal value kept as a monotone stack: a trade
pops the newest segments whose value is `≤ p` and pushes one merged segment — amortised O(1) —
and a lookup is a binary search. The lowest price is the same structure on negated prices.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable


class RunningExtreme:
    """Per-bucket running max (`highest=True`) or min of the prices pushed since each bucket
    was opened. `None` means no price since the bucket opened."""

    __slots__ = ("_sign", "_starts", "_vals")

    def __init__(self, *, highest: bool) -> None:
        self._sign = 1 if highest else -1
        self._starts: list[int] = []  # segment start (a bucket time), strictly increasing
        self._vals: list[int | None] = []  # sign·extreme, non-increasing; None only at the end

    def open_bucket(self, t: int) -> None:
        """Start tracking creation time `t` (not before the newest bucket)."""
        if self._starts:
            if t < self._starts[-1]:
                raise ValueError(f"bucket {t} opened after bucket {self._starts[-1]}")
            if self._vals[-1] is None:
                return  # joins the newest run of "no price yet": same value, same segment
            if t == self._starts[-1]:
                raise ValueError(f"bucket {t} reopened after prices reached it")
        self._starts.append(t)
        self._vals.append(None)

    def push(self, price: int) -> None:
        """A trade at `price` reached every open bucket."""
        v = self._sign * price
        starts, vals = self._starts, self._vals
        start = None
        while vals:
            last = vals[-1]
            if last is not None and last > v:
                break
            vals.pop()
            start = starts.pop()
        if start is not None:
            starts.append(start)
            vals.append(v)

    def value(self, t: int) -> int | None:
        """The extreme price since bucket `t` was opened (`t` must not be trimmed away)."""
        i = bisect_right(self._starts, t) - 1
        if i < 0:
            raise KeyError(f"bucket {t} is not tracked")
        v = self._vals[i]
        return None if v is None else self._sign * v

    def trim_before(self, t: int) -> None:
        """Forget buckets older than `t` (no wick created before `t` needs them any more)."""
        k = bisect_right(self._starts, t) - 1  # the segment holding t stays
        if k > 0:
            del self._starts[:k]
            del self._vals[:k]

    def clear(self) -> None:
        self._starts.clear()
        self._vals.clear()

    def __len__(self) -> int:
        return len(self._starts)

    @classmethod
    def from_values(
        cls, pairs: Iterable[tuple[int, int | None]], *, highest: bool
    ) -> RunningExtreme:
        """Rebuild from known `(bucket time, extreme)` pairs (a restored state). Buckets with no
        wick left to ask about are simply absent: the answer for the present ones, now and after
        any further trades, is the same as in the structure that produced them."""
        new = cls(highest=highest)
        for t, price in sorted(pairs, key=lambda pair: pair[0]):
            v = None if price is None else new._sign * price
            if new._starts and t == new._starts[-1]:
                if new._vals[-1] != v:
                    raise ValueError(f"bucket {t} restored with two different extremes")
                continue
            if new._vals:
                prev = new._vals[-1]
                if prev is None and v is not None:
                    raise ValueError(f"bucket {t} has a price but an older bucket has none")
                if prev is not None and v is not None and v > prev:
                    raise ValueError(f"bucket {t} has a more extreme price than an older bucket")
            new._starts.append(t)
            new._vals.append(v)
        return new
