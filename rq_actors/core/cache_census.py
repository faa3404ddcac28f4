"""How full the process's memoising caches are (the `process` health line, issue #15).

Every text cache on the hot paths is bounded and cleared when it reaches its bound, so once a
cache has been cleared its memory has peaked. A soak that sees RSS still rising can read here
whether that is a cache filling (entries rising towards the capacity, no clears yet) or
something else. Owners register their caches when they are built; nothing is counted per hit.
"""

from __future__ import annotations

import weakref
from collections.abc import Sized
from typing import Any

import attrs

__all__ = ["FAMILIES", "CacheFamily", "CacheFill", "cache_fills", "family", "lru_size"]


@attrs.frozen
class CacheFill:
    """One family's caches, summed over their live owners."""

    entries: int  # held now
    capacity: int  # the bound of each cache, summed
    clears: int  # caches found full and cleared since the process started
    caches: int  # how many caches (live owners' and global)
    peaked: int  # of those, how many have been full at least once: their memory has peaked


class CacheFamily:
    """Caches of one kind that share a bound (one per `Quant`, say).

    `track(owner, *caches)` registers an owner's caches for as long as the owner lives (a
    calculator rebuilt on restart drops out with its old self); `track_global` registers
    module-level caches. Owners call `cleared(cache)` whenever they empty a full cache."""

    def __init__(self, name: str, bound: int) -> None:
        self.name = name
        self.bound = bound
        self.clears = 0
        self._owned: weakref.WeakKeyDictionary[object, tuple[Sized, ...]] = (
            weakref.WeakKeyDictionary()
        )
        self._global: list[Sized] = []
        self._ever_full: set[int] = set()  # ids of tracked caches once cleared; pruned in fill

    def track(self, owner: object, *caches: Sized) -> None:
        self._owned[owner] = caches

    def track_global(self, *caches: Sized) -> None:
        self._global.extend(caches)

    def cleared(self, cache: Sized) -> None:
        self.clears += 1
        self._ever_full.add(id(cache))

    def fill(self) -> CacheFill:
        caches = [c for group in list(self._owned.values()) for c in group] + self._global
        live = {id(c) for c in caches}
        self._ever_full &= live  # a dead owner's ids must not outlive it (or be mistaken later)
        sizes = [len(c) for c in caches]
        peaked = sum(
            1
            for c, n in zip(caches, sizes, strict=True)
            if n >= self.bound or id(c) in self._ever_full
        )
        return CacheFill(sum(sizes), self.bound * len(caches), self.clears, len(caches), peaked)


FAMILIES: dict[str, CacheFamily] = {}


def family(name: str, bound: int) -> CacheFamily:
    """The family `name`, created on first use (modules declare theirs at import)."""
    found = FAMILIES.get(name)
    if found is None:
        found = FAMILIES[name] = CacheFamily(name, bound)
    return found


class _LruSize:
    """An `functools.lru_cache` function as a `Sized` (it evicts one by one, never clears)."""

    def __init__(self, fn: Any) -> None:
        self._fn = fn

    def __len__(self) -> int:
        return int(self._fn.cache_info().currsize)


def lru_size(fn: Any) -> Sized:
    return _LruSize(fn)


def cache_fills() -> dict[str, CacheFill]:
    """Every declared family's fill, by name."""
    return {name: fam.fill() for name, fam in sorted(FAMILIES.items())}
