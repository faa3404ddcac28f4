"""Untouched wicks indexed by tip: `(tip, id)` entries in a `SortedList`, popped by a bound."""

from __future__ import annotations

from sortedcontainers import SortedList


def pop_le(sl: SortedList, bound: int) -> list[tuple[int, str]]:
    """Remove and return the entries with tip ≤ bound (the lowest tips)."""
    if not sl or sl[0][0] > bound:  # the usual case, cheaper than a bisect
        return []
    k = sl.bisect_left((bound + 1,))
    if k == 0:
        return []
    hits = list(sl.islice(0, k))
    del sl[:k]
    return hits


def pop_ge(sl: SortedList, bound: int) -> list[tuple[int, str]]:
    """Remove and return the entries with tip ≥ bound (the highest tips)."""
    if not sl or sl[-1][0] < bound:  # the usual case, cheaper than a bisect
        return []
    k = sl.bisect_left((bound,))
    if k == len(sl):
        return []
    hits = list(sl.islice(k))
    del sl[k:]
    return hits
