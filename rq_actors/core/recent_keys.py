"""`RecentKeys`: a set that remembers only its last `limit` keys.

For "have I done this already?" marks whose keys keep coming for as long as the process runs
(one file path an hour, one request id a resubscribe): a plain set of them grows for months.
Use it only where forgetting a key costs a repeat of idempotent work, never correctness.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

_K = TypeVar("_K", bound=Hashable)


class RecentKeys(Generic[_K]):
    """The last `limit` distinct keys added; adding one more forgets the least recently added."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"RecentKeys needs a limit of at least 1, got {limit}")
        self._limit = limit
        self._keys: dict[_K, None] = {}  # insertion order is the age order

    def add(self, key: _K) -> None:
        self._keys.pop(key, None)  # re-adding makes it the newest
        self._keys[key] = None
        if len(self._keys) > self._limit:
            del self._keys[next(iter(self._keys))]

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)
