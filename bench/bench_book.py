"""Order-book throughput: `python bench/bench_book.py [--messages N] [--seed S]`.

A 400-level book (tick 0.1, ~85 % of ticks occupied) receives a realistic stream of `books`
updates (a busy 100 ms batch): ~6.5 levels per message, each picked near the top (exponential,
mean ≈ 7 levels from the best), 70 % size changes, the rest deletes (sometimes of the best
level) and inserts (sometimes inside the spread) that keep each side at 400 levels with a 1-3
tick spread, so the top of the book moves and levels fall off the 400-level window. The same
messages are fed to:

- ours, end to end: `parse_row` (validation, exact keys) + `BookSync` (sequence, crossed check);
- ours, model only: `prepare_levels` + `BookModel.apply_update`;
- ours, apply only: pre-validated levels into `BookModel.apply_update`;
- the `order_book` PyPI package (C), with the same Decimal conversion, if it is installed
  (`pip install order-book`; it is not a project dependency).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sortedcontainers import SortedSet

from rq_actors.core.book.model import BookModel, prepare_levels
from rq_actors.core.book.parse import parse_row
from rq_actors.core.book.sync import BookSync

DEPTH = 400
TICK = Decimal("0.1")
Levels = list[list[str]]


def _px(tick: int) -> str:
    return str(tick * TICK)


def _sz(rng: random.Random) -> str:
    return f"{rng.randint(1, 5000) / 100:.2f}".rstrip("0").rstrip(".")


class _Generator:
    """Keeps its own view of the book so that deletes hit real levels and nothing crosses."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        mid = 640_000  # in ticks: 64000.0
        fill = self.rng.random
        self.bids = SortedSet(t for t in range(mid - 480, mid) if fill() < 0.85)
        self.asks = SortedSet(t for t in range(mid + 1, mid + 480) if fill() < 0.85)

    def snapshot(self) -> tuple[Levels, Levels]:
        bids = list(reversed(self.bids))[:DEPTH]
        asks = list(self.asks)[:DEPTH]
        self.bids, self.asks = SortedSet(bids), SortedSet(asks)
        return self._levels(bids), self._levels(asks)

    def _levels(self, ticks: list[int]) -> Levels:
        return [[_px(t), _sz(self.rng), "0", str(self.rng.randint(1, 30))] for t in ticks]

    def message(self) -> tuple[Levels, Levels]:
        rng = self.rng
        bids: Levels = []
        asks: Levels = []
        for _ in range(min(40, 1 + int(rng.expovariate(1 / 7)))):
            is_bid = rng.random() < 0.5
            side, other, out = (
                (self.bids, self.asks, bids) if is_bid else (self.asks, self.bids, asks)
            )
            # rank counted from the best price of that side: mostly near the top
            rank = min(int(rng.expovariate(1 / 7)), len(side) - 1)
            tick = side[-1 - rank] if is_bid else side[rank]
            roll = rng.random()
            if roll < 0.15 and len(side) >= DEPTH:  # delete (cancel / fill), maybe the best
                side.discard(tick)
                out.append([_px(tick), "0", "0", "0"])
            elif roll < 0.30:  # insert into an empty tick near that rank, maybe inside the spread
                step = 1 if is_bid else -1  # toward the spread
                new = tick - step * rng.randint(0, 2) if rng.random() < 0.8 else tick + step
                while new in side:
                    new += step
                if (new < other[0]) if is_bid else (new > other[-1]):
                    side.add(new)
                    out.append([_px(new), _sz(rng), "0", str(rng.randint(1, 30))])
                    if len(side) > 480:  # far levels no longer matter (the book keeps 400)
                        side.discard(side[0] if is_bid else side[-1])
            else:  # size change
                out.append([_px(tick), _sz(rng), "0", str(rng.randint(1, 30))])
        return bids, asks


def _run(label: str, n: int, levels: int, fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    print(f"  {label:<44} {n / dt:>12,.0f} updates/s {levels / dt:>12,.0f} levels/s")
    return n / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    gen = _Generator(args.seed)
    snap_bids, snap_asks = gen.snapshot()
    msgs = [gen.message() for _ in range(args.messages)]
    n = len(msgs)
    levels = sum(len(b) + len(a) for b, a in msgs)
    deletes = sum(lv[1] == "0" for b, a in msgs for lv in (*b, *a))
    print(
        f"{n:,} update messages, {levels:,} levels ({levels / n:.1f}/msg, "
        f"{deletes / levels:.0%} deletes), book depth {DEPTH}"
    )

    rows: list[dict[str, Any]] = []
    seq = 1000
    for b, a in msgs:
        rows.append({"asks": a, "bids": b, "ts": "1765710000000", "checksum": 0,
                     "prevSeqId": seq, "seqId": seq + 3})  # fmt: skip
        seq += 3
    snap_row = {"asks": snap_asks, "bids": snap_bids, "ts": "1765710000000", "checksum": 0,
                "prevSeqId": -1, "seqId": 1000}  # fmt: skip

    def ours_end_to_end() -> None:
        sync = BookSync("BTC-USDT-SWAP", depth=DEPTH)
        sync.on_message(parse_row(snap_row, "snapshot"))
        for row in rows:
            if sync.on_message(parse_row(row, "update")).kind != "update":
                raise SystemExit("generator produced an invalid stream")

    def fresh_model() -> BookModel:
        m = BookModel(DEPTH)
        m.load_snapshot(prepare_levels(snap_bids, "bids"), prepare_levels(snap_asks, "asks"))
        return m

    def ours_model() -> None:
        m = fresh_model()
        for b, a in msgs:
            m.apply_update(prepare_levels(b, "bids"), prepare_levels(a, "asks"))

    prepared = [(prepare_levels(b, "bids"), prepare_levels(a, "asks")) for b, a in msgs]

    def ours_apply() -> None:
        m = fresh_model()
        for b, a in prepared:
            m.apply_update(b, a)

    def ours_apply_checksum() -> None:
        m = fresh_model()
        for b, a in prepared:
            m.apply_update(b, a)
            m.checksum()

    print("rq_actors.core.book (pure Python + sortedcontainers):")
    _run("parse_row + BookSync (what the actor runs)", n, levels, ours_end_to_end)
    _run("prepare_levels + BookModel.apply_update", n, levels, ours_model)
    _run("BookModel.apply_update (pre-validated)", n, levels, ours_apply)
    _run("apply_update + top-25 CRC32 per message", n, levels, ours_apply_checksum)

    try:
        from order_book import OrderBook  # type: ignore[import-not-found]
    except ImportError:
        print("order_book (C): NOT INSTALLED - `pip install order-book` to compare")
        return

    def c_book() -> Any:
        ob = OrderBook(max_depth=DEPTH)
        for px, sz, *_ in snap_bids:
            ob.bids[Decimal(px)] = Decimal(sz)
        for px, sz, *_ in snap_asks:
            ob.asks[Decimal(px)] = Decimal(sz)
        return ob

    def c_apply(ob: Any, b: Levels, a: Levels) -> None:
        for side, lvls in ((ob.bids, b), (ob.asks, a)):
            for px, sz, *_ in lvls:
                key = Decimal(px)
                if sz == "0":
                    if key in side:
                        del side[key]
                else:
                    side[key] = Decimal(sz)

    def c_with_decimal() -> None:
        ob = c_book()
        for b, a in msgs:
            c_apply(ob, b, a)

    dec_msgs = [
        tuple([(Decimal(px), Decimal(sz)) for px, sz, *_ in side] for side in m) for m in msgs
    ]

    def c_pre_converted() -> None:
        ob = c_book()
        zero = Decimal(0)
        for b, a in dec_msgs:
            for side, lvls in ((ob.bids, b), (ob.asks, a)):
                for key, size in lvls:
                    if size == zero:
                        if key in side:
                            del side[key]
                    else:
                        side[key] = size

    print("order_book 0.6 (C, bmoscon/orderbook; no validation, no original strings):")
    _run("Decimal(px), Decimal(sz) + set/del", n, levels, c_with_decimal)
    _run("set/del (pre-converted Decimals)", n, levels, c_pre_converted)


if __name__ == "__main__":
    main()
