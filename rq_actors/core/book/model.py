"""The L2 order book as plain data: absolute-size snapshots and updates, depth truncation, views.

Pure and synchronous (no I/O, no clock). Prices are keyed by `Decimal` so that "64012.40" and
"64012.4" are the same level and ordering is exact; the level itself is kept exactly as received
(`[px, sz, "0", numOrders]` strings), because records and checksums must reproduce the
exchange's strings, never a re-formatted number.

Each side is a `SortedDict` in ascending price order: an update costs one hash lookup (existing
level) or one O(log n) insertion, never a re-sort. Asks are best-first in that order; bids are
read from the end.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal, localcontext
from typing import Any

from sortedcontainers import SortedDict

from rq_actors.core.cache_census import family
from rq_actors.core.okx.checksum import CHECKSUM_LEVELS, book_checksum

Level = Sequence[str]
"""One book level as received: `[px, sz, "0", numOrders]`, all strings."""

PreparedLevel = tuple[Decimal, Level, bool]
"""(exact price key, original level, is a delete) — validated once, before the book changes."""

LEVEL_FIELDS = 4

# Plain decimals only: no sign, exponent, whitespace or underscores (all of which `Decimal`
# would accept), because the original strings are written to the vault verbatim.
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
# Any field longer than this is garbage: OKX levels are a few digits each, and every string is
# written verbatim to every snapshot record (a 1 MB "price" would be copied 30 times a minute).
MAX_FIELD_CHARS = 40


class LevelError(ValueError):
    """A level that cannot be applied (the whole message is rejected, the book is unchanged)."""


def prepare_levels(raw: Any, side: str) -> list[PreparedLevel]:
    """Validate one side of a message and compute its price keys. Raises `LevelError`."""
    if not isinstance(raw, list):
        raise LevelError(f"{side} is not a list")
    out: list[PreparedLevel] = []
    match = _DECIMAL.fullmatch
    keys = _PRICE_KEYS
    sizes = _SIZE_DELETES
    for i, level in enumerate(raw):
        if not isinstance(level, list) or len(level) != LEVEL_FIELDS:
            raise LevelError(f"{side}[{i}] is not a [px, sz, liq, numOrders] list")
        px, sz, liq, orders = level
        if not (type(px) is str and type(sz) is str and type(liq) is str and type(orders) is str):
            raise LevelError(f"{side}[{i}] has a non-string field")
        delete = sizes.get(sz)
        if delete is None:
            if len(sz) > MAX_FIELD_CHARS or match(sz) is None:
                raise LevelError(f"{side}[{i}] size {_show(sz)} is not a plain decimal")
            # After the regex, a string of only zeros and a dot is exactly zero.
            delete = not sz.strip("0.")
            if len(sizes) >= _CACHE_MAX:
                sizes.clear()
                _CENSUS.cleared(sizes)
            sizes[sz] = delete
        # liq is always "0"; str methods are several times cheaper than a regex per level
        if not (liq == "0" or _is_count(liq)) or not _is_count(orders):
            raise LevelError(f"{side}[{i}] liq/numOrders {_show(liq)}/{_show(orders)} not counts")
        key = keys.get(px)
        if key is None:
            key = _price_key(px, f"{side}[{i}]")
        out.append((key, level, delete))
    return out


# Validated price string → key, and validated size string → "is a delete". A book touches the
# same few hundred prices and sizes over and over, so these skip the regex (and for prices the
# Decimal parse) for almost every level. Bounded: each is cleared when it reaches `_CACHE_MAX`
# entries (~5 MB each at OKX's short strings), process-wide.
_PRICE_KEYS: dict[str, Decimal] = {}
_SIZE_DELETES: dict[str, bool] = {}
_CACHE_MAX = 50_000
_CENSUS = family("book_levels", _CACHE_MAX)
_CENSUS.track_global(_PRICE_KEYS, _SIZE_DELETES)


def _is_count(text: str) -> bool:
    """`liq` (deprecated, "0") and `numOrders` are counts: ASCII digits, bounded length."""
    return len(text) <= MAX_FIELD_CHARS and text.isdigit() and text.isascii()


def _show(text: str) -> str:
    return repr(text) if len(text) <= MAX_FIELD_CHARS else f"of {len(text)} characters"


def _price_key(px: str, where: str) -> Decimal:
    if len(px) > MAX_FIELD_CHARS or _DECIMAL.fullmatch(px) is None:
        raise LevelError(f"{where} price {_show(px)} is not a plain decimal")
    key = Decimal(px)
    if not key:
        raise LevelError(f"{where} price {px!r} is not positive")
    if len(_PRICE_KEYS) >= _CACHE_MAX:
        _PRICE_KEYS.clear()
        _CENSUS.cleared(_PRICE_KEYS)
    _PRICE_KEYS[px] = key
    return key


class _Side:
    """One side of the book. `ascending` is True for asks (best = lowest price)."""

    __slots__ = ("_best_index", "_levels", "_worst_index")

    def __init__(self, ascending: bool) -> None:
        self._levels: SortedDict = SortedDict()
        self._best_index = 0 if ascending else -1
        self._worst_index = -1 if ascending else 0

    def __len__(self) -> int:
        return len(self._levels)

    def replace(self, levels: Iterable[PreparedLevel]) -> None:
        # One sort of the whole snapshot instead of n insertions; zero sizes are not levels.
        self._levels = SortedDict({key: level for key, level, delete in levels if not delete})

    def apply(self, levels: Iterable[PreparedLevel]) -> bool:
        book = self._levels
        changed = False
        for key, level, delete in levels:
            old = book.get(key)
            if delete:
                if old is not None:  # a delete for a price we do not hold is ignored
                    del book[key]
                    changed = True
            elif old is None or old != level:
                book[key] = level
                changed = True
        return changed

    def truncate(self, depth: int) -> bool:
        book = self._levels
        cut = len(book) - depth
        for _ in range(cut):
            book.popitem(self._worst_index)
        return cut > 0

    def best(self) -> tuple[Decimal, Level] | None:
        if not self._levels:
            return None
        key, level = self._levels.peekitem(self._best_index)
        return key, level

    def top(self, n: int) -> list[Level]:
        values = self._levels.values()
        if self._best_index == 0:
            return list(values[:n])
        if n <= 0:
            return []
        best_first: list[Level] = values[-n:][::-1]  # sortedcontainers is untyped
        return best_first


class BookModel:
    """A depth-limited L2 book. Levels are the exchange's original lists; views are best-first."""

    def __init__(self, depth: int = 400) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.depth = depth
        self._bids = _Side(ascending=False)
        self._asks = _Side(ascending=True)

    # -- mutation -------------------------------------------------------------------------

    def load_snapshot(self, bids: Iterable[PreparedLevel], asks: Iterable[PreparedLevel]) -> None:
        """Replace the whole book, then cut each side to `depth`."""
        self._bids.replace(bids)
        self._asks.replace(asks)
        self._truncate()

    def apply_update(self, bids: Iterable[PreparedLevel], asks: Iterable[PreparedLevel]) -> bool:
        """Apply absolute sizes ("0" deletes), cut to `depth`; True if any level changed.

        Conservative: a level inserted beyond the depth and cut again also counts as a change
        (at worst one extra snapshot record, never a missed one).
        """
        changed = self._bids.apply(bids)
        changed = self._asks.apply(asks) or changed
        return self._truncate() or changed

    def clear(self) -> None:
        self._bids = _Side(ascending=False)
        self._asks = _Side(ascending=True)

    def _truncate(self) -> bool:
        cut_bids = self._bids.truncate(self.depth)
        return self._asks.truncate(self.depth) or cut_bids

    # -- views ----------------------------------------------------------------------------

    @property
    def bid_count(self) -> int:
        return len(self._bids)

    @property
    def ask_count(self) -> int:
        return len(self._asks)

    def is_empty(self) -> bool:
        return not self._bids and not self._asks

    def best_bid(self) -> Level | None:
        best = self._bids.best()
        return None if best is None else best[1]

    def best_ask(self) -> Level | None:
        best = self._asks.best()
        return None if best is None else best[1]

    def top_bids(self, n: int | None = None) -> list[Level]:
        """The best `n` bids (default: all), highest price first."""
        return self._bids.top(self.depth if n is None else n)

    def top_asks(self, n: int | None = None) -> list[Level]:
        """The best `n` asks (default: all), lowest price first."""
        return self._asks.top(self.depth if n is None else n)

    def is_crossed(self) -> bool:
        """Best bid >= best ask: impossible for a consistent book (corruption)."""
        bid, ask = self._bids.best(), self._asks.best()
        return bid is not None and ask is not None and bid[0] >= ask[0]

    def mid_price(self) -> str | None:
        """Exact (best bid + best ask) / 2 as a plain decimal string, or None if a side is empty."""
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None or ask is None:
            return None
        return mid_price(bid[0], ask[0])

    def checksum(self) -> int:
        """The OKX CRC32 of our top 25 levels (okx-protocol.md §3.5)."""
        return book_checksum(self.top_bids(CHECKSUM_LEVELS), self.top_asks(CHECKSUM_LEVELS))


def mid_price(bid_px: str, ask_px: str) -> str:
    """Exact midpoint of two plain decimal strings: "43250.5", "43251.0" → "43250.75".

    Trailing zeros are dropped ("43251.0" + "43251.0" → "43251") and there is never an exponent.
    """
    with localcontext() as ctx:
        # Halving a sum of two n-digit decimals needs at most n + 2 digits: never rounds.
        ctx.prec = len(bid_px) + len(ask_px) + 4
        mid = ((Decimal(bid_px) + Decimal(ask_px)) / 2).normalize()
        return format(mid, "f")
