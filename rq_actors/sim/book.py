"""One side of the simulator's live book, with change tracking for 100 ms update batches.

Keys are signed ticks (`-ticks` for bids, `ticks` for asks) so that index 0 is always the best
level and "deeper" always means a larger key on both sides.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice

from sortedcontainers import SortedDict

from rq_actors.sim.events import Level

_DELETED_TAIL = ("0", "0", "0")
_PX_CACHE_LIMIT = 8192  # price texts per side; ~10 x the ticks a side spans


class BookSide:
    def __init__(self, sign: int, px: Callable[[int], str], sz: Callable[[int], str]) -> None:
        self.sign = sign
        self._px = px
        self._sz = sz
        self._px_cache: dict[int, str] = {}
        # live state: key -> [lots, numOrders]
        self.levels: SortedDict = SortedDict()
        self._keys = self.levels.keys()  # a live view; indexing it is the cheap path
        # what the last emitted message left subscribers holding: key -> wire level
        self.published: dict[int, Level] = {}
        self._changed: set[int] = set()

    def __len__(self) -> int:
        return len(self.levels)

    def px(self, key: int) -> str:
        text = self._px_cache.get(key)
        if text is None:
            if len(self._px_cache) >= _PX_CACHE_LIMIT:  # the walk visits new prices for ever
                self._px_cache.clear()
            text = self._px_cache[key] = self._px(self.sign * key)
        return text

    def best_key(self) -> int | None:
        return self._keys[0] if self.levels else None

    def worst_key(self) -> int | None:
        return self._keys[-1] if self.levels else None

    def key_at(self, index: int) -> int:
        key: int = self._keys[index]  # sortedcontainers is untyped
        return key

    def set(self, key: int, lots: int, orders: int) -> None:
        self.levels[key] = [lots, orders]
        self._changed.add(key)

    def remove(self, key: int) -> None:
        del self.levels[key]
        self._changed.add(key)

    def take_changes(self) -> list[Level]:
        """The changed levels since the last call, best first, and mark them published."""
        if not self._changed:
            return []
        out: list[Level] = []
        levels = self.levels
        published = self.published
        for key in sorted(self._changed):
            lvl = levels.get(key)
            if lvl is None:
                if published.pop(key, None) is None:
                    continue  # born and gone within one batch: subscribers never saw it
                out.append([self.px(key), *_DELETED_TAIL])
            else:
                wire = [self.px(key), self._sz(lvl[0]), "0", str(lvl[1])]
                if published.get(key) == wire:
                    continue  # changed and changed back: nothing to tell
                published[key] = wire
                out.append(wire)
        self._changed.clear()
        return out

    def published_levels(self, depth: int) -> list[Level]:
        return [self.published[k] for k in sorted(self.published)[:depth]]

    def top_published(self, n: int) -> list[Level]:
        """Top `n` of the live book as published; valid right after `take_changes`."""
        return [self.published[k] for k in islice(self._keys, n)]
