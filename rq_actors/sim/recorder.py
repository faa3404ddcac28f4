"""The truth: every fill and every canonical book message the simulated exchange published.

Wire faults (skipped, duplicated, corrupted frames) never touch the recorder, so a test can
compare what a client stored with what the exchange really published.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from rq_actors.sim.events import BookMessage, Fill, Level, MarketEvent, TradeGroup

_Book = tuple[dict[str, Level], dict[str, Level]]


class _Replay:
    """A replayed book positioned right after `book_log[index]` (absolute index)."""

    def __init__(self, index: int, book: _Book) -> None:
        self.index = index
        self.book = book


class Recorder:
    def __init__(self, limit: int | None = None) -> None:
        """`limit` bounds fills and book messages kept per instrument (0 = none, None = all).

        Between trims a list holds up to `limit * 5 // 4` entries, so trimming costs O(1) per
        event on average; old book state folds into one replayed base book per instrument.
        """
        self.limit = limit
        self.fills: dict[str, list[Fill]] = defaultdict(list)
        self.book_log: dict[str, list[BookMessage]] = defaultdict(list)
        # book state before book_log[inst][0], once old messages were trimmed away
        self._base: dict[str, _Replay] = {}
        self._trimmed: dict[str, int] = defaultdict(int)
        self._cursor: dict[str, _Replay] = {}

    def record(self, event: MarketEvent) -> None:
        if self.limit == 0:
            return
        if isinstance(event, TradeGroup):
            fills = self.fills[event.inst_id]
            fills.extend(event.fills)
            if self.limit is not None and len(fills) > self.limit * 5 // 4:
                del fills[: len(fills) - self.limit]
        else:
            log = self.book_log[event.inst_id]
            log.append(event)
            if self.limit is not None and len(log) > self.limit * 5 // 4:
                self._trim(event.inst_id, len(log) - self.limit)

    def true_book(
        self, inst_id: str, seq_id: int, depth: int = 400
    ) -> tuple[list[Level], list[Level]]:
        """The true book (bids, asks; best first) right after the last message with `seq_id`."""
        log = self.book_log[inst_id]
        offset = self._trimmed[inst_id]
        target = None
        for i in range(len(log) - 1, -1, -1):
            if log[i].seq_id == seq_id:
                target = offset + i
                break
        if target is None:
            raise KeyError(f"{inst_id}: no recorded book message with seqId {seq_id}")
        state = self._replay_to(inst_id, target)
        bids, asks = state.book
        return _sorted(bids, depth, reverse=True), _sorted(asks, depth, reverse=False)

    # ---- replay ---------------------------------------------------------------------------

    def _replay_to(self, inst_id: str, target: int) -> _Replay:
        log = self.book_log[inst_id]
        offset = self._trimmed[inst_id]
        cursor = self._cursor.get(inst_id)
        if cursor is None or cursor.index > target or cursor.index < offset - 1:
            start = self._last_snapshot_at_or_before(inst_id, target)
            if start is None:
                base = self._base[inst_id]
                cursor = _Replay(base.index, (dict(base.book[0]), dict(base.book[1])))
            else:
                cursor = _Replay(start - 1, ({}, {}))
        for i in range(cursor.index + 1, target + 1):
            _apply(cursor.book, log[i - offset])
        cursor.index = target
        self._cursor[inst_id] = cursor
        return cursor

    def _last_snapshot_at_or_before(self, inst_id: str, target: int) -> int | None:
        log = self.book_log[inst_id]
        offset = self._trimmed[inst_id]
        for i in range(target - offset, -1, -1):
            if log[i].action == "snapshot":
                return offset + i
        return None

    def _trim(self, inst_id: str, count: int) -> None:
        log = self.book_log[inst_id]
        offset = self._trimmed[inst_id]
        state = self._replay_to(inst_id, offset + count - 1)
        self._base[inst_id] = _Replay(state.index, (dict(state.book[0]), dict(state.book[1])))
        del log[:count]
        self._trimmed[inst_id] = offset + count


def _apply(book: _Book, msg: BookMessage) -> None:
    bids, asks = book
    if msg.action == "snapshot":
        bids.clear()
        asks.clear()
    for side, levels in ((bids, msg.bids), (asks, msg.asks)):
        for level in levels:
            if level[1] == "0":
                side.pop(level[0], None)
            else:
                side[level[0]] = level


def _sorted(side: dict[str, Level], depth: int, *, reverse: bool) -> list[Level]:
    prices = sorted(side, key=Decimal, reverse=reverse)[:depth]
    return [list(side[p]) for p in prices]
