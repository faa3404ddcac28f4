"""Seeded, I/O-free market generator for one instrument.

A fair price random-walks on the tick grid; makers keep a 400-level book on each side of it
(pulling quotes the fair price crosses, filling the spread behind it, resizing, cancelling and
adding levels); Poisson takers (with occasional 10x bursts) sweep the best levels, one fill per
maker order matched. Book changes are published in `book_interval_ms` batches carrying only the
changed levels, with non-consecutive seqIds far above 2**31.
"""

from __future__ import annotations

import math
import random

from rq_actors.core.okx.checksum import CHECKSUM_LEVELS, book_checksum
from rq_actors.sim.book import BookSide
from rq_actors.sim.events import BookMessage, Fill, MarketEvent, TradeGroup
from rq_actors.sim.instruments import InstrumentSpec, spec_for

_NEVER = 1 << 62
_MAX_ORDERS = 12  # per level; bounds the fills one level can produce
_MAX_INSIDE_FILL = 60  # new levels per side per batch when the spread opens up
_SPAN_PER_LEVEL = 2  # a side's levels stay within 2 × depth ticks of its best (density ~0.5)
_BURST_FACTOR = 10.0
_BURST_MEAN_GAP_MS = 45_000.0


class Market:
    def __init__(
        self,
        inst_id: str,
        *,
        seed: int,
        start_ms: int,
        trades_per_s: float = 20.0,
        book_interval_ms: int = 100,
        heartbeat_ms: int = 60_000,
        depth: int = 400,
        checksums: bool = False,
        maker_changes_per_s: float = 30.0,
        vol_scale: float = 1.0,
        id_origin: int | None = None,
    ) -> None:
        """`id_origin` (default: `start_ms` in µs) is added to trade ids and both sequence numbers.

        A market started later (a restart with the same seed) begins above every id an earlier
        one published, as long as that one used fewer than 1000 ids per real ms: ~50 fills per
        market second make that true below speed ~2000.
        """
        self.spec: InstrumentSpec = spec_for(inst_id)
        self.inst_id = inst_id
        self.now_ms = start_ms
        self.halted = False
        self._rng = random.Random(seed)
        self._trades_per_s = trades_per_s
        self._interval = book_interval_ms
        self._heartbeat_ms = heartbeat_ms
        self._depth = depth
        self._checksums = checksums
        self._maker_rate = maker_changes_per_s
        self._vol = self.spec.vol_ticks_per_sqrt_s * vol_scale
        self._sz = self.spec.sz_formatter()
        self._bids = BookSide(-1, self.spec.px, self._sz)
        self._asks = BookSide(1, self.spec.px, self._sz)
        rng = self._rng
        self._fair = self.spec.price_ticks * (1 + rng.uniform(-0.01, 0.01)) + 0.5
        origin = start_ms * 1000 if id_origin is None else id_origin
        # Seeded offsets keep instruments apart and stay the same when the simulator restarts.
        self._next_trade_id = origin + rng.randint(1_000_000_000, 2_000_000_000)
        self._trade_seq = origin + rng.randint(1 << 33, 1 << 35)
        self._min_seq = origin + rng.randint(1 << 36, 1 << 38)
        self._reset_pending = False
        self._burst_until = 0
        self._next_burst_at = start_ms + int(rng.expovariate(1 / _BURST_MEAN_GAP_MS))
        self._next_trade_ms = self._schedule_trade(start_ms)
        self._next_batch_ms = start_ms + book_interval_ms
        self._seed_book()
        self.last_message: BookMessage = self._snapshot(start_ms)
        self._snapshot_cache: dict[tuple[int, int, int], BookMessage] = {}
        self._pending: list[MarketEvent] = [self.last_message]

    # ---- public -------------------------------------------------------------------------

    def advance(self, dt_ms: int) -> list[MarketEvent]:
        return self.advance_to(self.now_ms + dt_ms)

    def advance_to(self, ts_ms: int) -> list[MarketEvent]:
        """Run market time forward to `ts_ms`; events come out in publication order.

        The first call also returns the initial snapshot that opens the truth stream.
        """
        out, self._pending = self._pending, []
        while True:
            trade_at, batch_at = self._next_trade_ms, self._next_batch_ms
            if trade_at <= batch_at:
                if trade_at > ts_ms:
                    break
                self.now_ms = trade_at
                if not self.halted:
                    out.extend(self._taker(trade_at))
                self._next_trade_ms = self._schedule_trade(trade_at)
            else:
                if batch_at > ts_ms:
                    break
                self.now_ms = batch_at
                self._next_batch_ms = batch_at + self._interval
                if not self.halted:
                    self._maker_step()
                msg = self._emit(batch_at, snapshot=False)
                if msg is not None:
                    out.append(msg)
        self.now_ms = max(self.now_ms, ts_ms)
        return out

    def next_event_ms(self) -> int:
        """Market time of the next trade or batch boundary (for the server's clock)."""
        return min(self._next_trade_ms, self._next_batch_ms)

    def snapshot(self, depth: int = 400) -> BookMessage:
        """The published book as a `snapshot` message linking to the last seqId."""
        last = self.last_message
        cache_key = (last.seq_id, last.ts_ms, depth)
        cached = self._snapshot_cache.get(cache_key)
        if cached is None:
            cached = BookMessage(
                self.inst_id,
                "snapshot",
                last.seq_id,
                -1,
                last.ts_ms,
                self._bids.published_levels(depth),
                self._asks.published_levels(depth),
                last.checksum,
            )
            self._snapshot_cache = {cache_key: cached}
        return cached

    def trigger_reset(self) -> None:
        """The next book message is a sequence reset (`seqId < prevSeqId`), as after maintenance."""
        self._reset_pending = True

    # ---- book messages -------------------------------------------------------------------

    def _snapshot(self, ts_ms: int) -> BookMessage:
        self._bids.take_changes()
        self._asks.take_changes()
        seq = self._min_seq
        msg = BookMessage(
            self.inst_id,
            "snapshot",
            seq,
            -1,
            ts_ms,
            self._bids.published_levels(self._depth),
            self._asks.published_levels(self._depth),
            self._checksum(),
        )
        self.last_message = msg
        return msg

    def _emit(self, ts_ms: int, *, snapshot: bool) -> BookMessage | None:
        if snapshot:
            return self._snapshot(ts_ms)
        bids = self._bids.take_changes()
        asks = self._asks.take_changes()
        rng = self._rng
        prev = self.last_message
        if self._reset_pending:
            self._reset_pending = False
            self._min_seq -= rng.randint(1_000_000, 10_000_000)
            seq = self._min_seq
        elif bids or asks:
            seq = prev.seq_id + rng.randint(2, 500)
        elif ts_ms - prev.ts_ms >= self._heartbeat_ms:
            seq = prev.seq_id
        else:
            return None
        checksum = self._checksum() if (bids or asks) else prev.checksum
        msg = BookMessage(self.inst_id, "update", seq, prev.seq_id, ts_ms, bids, asks, checksum)
        self.last_message = msg
        return msg

    def _checksum(self) -> int:
        if not self._checksums:
            return 0
        return book_checksum(
            self._bids.top_published(CHECKSUM_LEVELS), self._asks.top_published(CHECKSUM_LEVELS)
        )

    # ---- takers --------------------------------------------------------------------------

    def _schedule_trade(self, now: int) -> int:
        if self._trades_per_s <= 0:
            return _NEVER
        rng = self._rng
        if now >= self._next_burst_at:
            self._burst_until = self._next_burst_at + rng.randint(2_000, 5_000)
            self._next_burst_at = self._burst_until + int(rng.expovariate(1 / _BURST_MEAN_GAP_MS))
        rate = self._trades_per_s * (_BURST_FACTOR if now < self._burst_until else 1.0)
        return now + int(rng.expovariate(rate / 1000.0))

    def _taker(self, ts_ms: int) -> list[TradeGroup]:
        rng = self._rng
        spec = self.spec
        buy = rng.random() < 0.5
        side_name = "buy" if buy else "sell"
        side = self._asks if buy else self._bids
        want = max(1, int(spec.taker_lots * rng.paretovariate(1.6) * 0.4))
        want = min(want, spec.taker_lots * 50)
        self._trade_seq += rng.randint(1, 40)
        groups: list[TradeGroup] = []
        while want > 0 and len(side) > 1:
            key = side.best_key()
            assert key is not None
            lots, orders = side.levels[key]
            take = min(want, lots)
            full = take == lots
            makers = min(orders if full else rng.randint(1, min(orders, 3)), take)
            px = side.px(key)
            fills = []
            for part in self._split(take, makers):
                fills.append(
                    Fill(self.inst_id, self._next_trade_id, ts_ms, px, self._sz(part), side_name)
                )
                self._next_trade_id += 1
            groups.append(
                TradeGroup(
                    self.inst_id,
                    ts_ms,
                    px,
                    self._sz(take),
                    side_name,
                    self._trade_seq,
                    tuple(fills),
                )
            )
            if full:
                side.remove(key)
            else:
                side.set(key, lots - take, max(1, orders - makers + 1))
            want -= take
        self._refill(side)
        return groups

    def _split(self, total: int, parts: int) -> list[int]:
        if parts <= 1:
            return [total]
        cuts = sorted(self._rng.sample(range(1, total), parts - 1))
        return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]

    # ---- makers --------------------------------------------------------------------------

    def _new_level(self) -> tuple[int, int]:
        rng = self._rng
        lots = max(1, int(rng.expovariate(1.0 / self.spec.level_lots)))
        cap = min(_MAX_ORDERS, 1 + lots * 4 // self.spec.level_lots)
        return lots, 1 + int(rng.random() * cap)

    def _seed_book(self) -> None:
        fair = self._fair
        self._fill_inside(self._bids, -math.ceil(fair - 1), self._depth)
        self._fill_inside(self._asks, math.floor(fair + 1), self._depth)
        self._refill(self._bids)
        self._refill(self._asks)

    def _fill_inside(self, side: BookSide, start_key: int, limit: int) -> None:
        """Quote levels from `start_key` (the price nearest fair) back to the current best."""
        best = side.best_key()
        stop = best if best is not None else start_key + limit
        rng = self._rng
        key = start_key
        added = 0
        while key < stop and added < limit:
            if rng.random() < 0.7:
                side.set(key, *self._new_level())
                added += 1
            key += 1

    def _refill(self, side: BookSide) -> None:
        """Keep exactly `depth` levels within `_SPAN_PER_LEVEL × depth` ticks of the best.

        New liquidity is quoted near the top, as makers do: liquidity taken or cancelled near
        the top and replaced only behind the deepest level made a book thin out and spread
        over hours (400 levels of a 100-USDT instrument spanned 130 USDT after six market
        hours, and takers swept 20 % away from the fair price)."""
        rng = self._rng
        best = side.best_key()
        if best is None:
            # Emptied side (a huge sweep): rebuild from the level nearest the fair price.
            near = math.floor(self._fair + 1) if side.sign > 0 else -math.ceil(self._fair - 1)
            best = near
            if _quotable(side, best):
                side.set(best, *self._new_level())
        span = self._depth * _SPAN_PER_LEVEL
        while (worst := side.worst_key()) is not None and worst > best + span:
            side.remove(worst)  # quotes left far behind by the top are pulled
        while len(side) > self._depth:
            side.remove(side.key_at(-1))
        missing = self._depth - len(side)
        for _ in range(4 * missing):
            if missing <= 0:
                return
            key = best + 1 + int(rng.random() * span)
            if key not in side.levels and _quotable(side, key):
                side.set(key, *self._new_level())
                missing -= 1
        # A crowded span (rare): behind the deepest level, as far as one tick of price allows.
        worst = side.worst_key()
        key = best if worst is None else worst
        while missing > 0:
            key += 1
            if not _quotable(side, key):
                break
            if key not in side.levels:
                side.set(key, *self._new_level())
                missing -= 1

    def _maker_step(self) -> None:
        rng = self._rng
        self._fair += rng.gauss(0.0, self._vol * math.sqrt(self._interval / 1000.0))
        fair = self._fair
        bids, asks = self._bids, self._asks
        # Quotes the fair price has crossed are pulled; the spread then fills in behind it.
        while (k := asks.best_key()) is not None and k <= fair:
            asks.remove(k)
        while (k := bids.best_key()) is not None and -k >= fair:
            bids.remove(k)
        self._fill_inside(bids, -math.ceil(fair - 1), _MAX_INSIDE_FILL)
        self._fill_inside(asks, math.floor(fair + 1), _MAX_INSIDE_FILL)
        for _ in range(self._poisson(self._maker_rate * self._interval / 1000.0)):
            self._maker_change(bids if rng.random() < 0.5 else asks)
        self._refill(bids)
        self._refill(asks)

    def _maker_change(self, side: BookSide) -> None:
        rng = self._rng
        n = len(side)
        if n < 2:
            return
        index = min(int(rng.expovariate(0.12)), n - 1)
        key = side.key_at(index)
        roll = rng.random()
        if roll < 0.55:
            lots, orders = side.levels[key]
            delta = int(rng.gauss(0.0, 0.5) * self.spec.level_lots)
            orders = min(_MAX_ORDERS, max(1, orders + rng.choice((-1, 0, 1))))
            side.set(key, max(1, lots + delta), orders)
        elif roll < 0.75 and index > 0:
            side.remove(key)
        elif key + 1 not in side.levels and _quotable(side, key + 1):
            side.set(key + 1, *self._new_level())

    def _poisson(self, lam: float) -> int:
        # Knuth's method: fine for the small per-batch means used here.
        limit = math.exp(-lam)
        k = 0
        p = self._rng.random()
        while p > limit:
            k += 1
            p *= self._rng.random()
        return k


def _quotable(side: BookSide, key: int) -> bool:
    """A price of at least one tick (a bid's key is minus its price in ticks)."""
    return side.sign > 0 or key < 0
