"""Price/size text caches: memory of a full cache, and calculator speed at each cache bound.

`core.derive.common.Quant` memoises parsed price and size strings (and `core.wicks.records`
their formatted texts) up to `_CACHE_LIMIT` entries each, then clears. The bound decides a
long run's memory: an instrument has one pair (its calculators share it). This prints, side by
side in one run, the bytes of one full cache pair and the CVD calculator's rate at each bound,
on a tape whose prices wander over more distinct values than any bound holds (a trending month).

    python -m bench.quant_cache [--trades 1000000]
"""

from __future__ import annotations

import argparse
import random
import time
import tracemalloc

from rq_actors.core.derive import common
from rq_actors.core.derive.cvd import CvdCalculator
from rq_actors.core.meta import InstrumentMeta
from rq_actors.messages import Trade

META = InstrumentMeta("BTC-USDT-SWAP", "SWAP", "0.01", "1", "linear", "0.1", "0.01")
LIMITS = (1 << 16, 1 << 12, 1 << 10)  # the two former bounds and the current one


def _tape(n: int, seed: int = 7) -> list[Trade]:
    rng = random.Random(seed)
    px, ts, out = 1_000_000, 1_767_225_600_000, []
    for i in range(n):
        px += rng.choice((-2, -1, -1, 0, 0, 1, 1, 2)) + (1 if i % 7 == 0 else 0)  # drifts up
        ts += rng.randint(0, 60)
        sz = (
            rng.choice(("0.01", "0.1", "1", "2", "5"))
            if rng.random() < 0.8
            else f"{rng.randint(1, 9999) / 100:g}"
        )
        out.append(
            Trade(
                META.inst_id,
                i + 1,
                ts,
                "buy" if rng.random() < 0.5 else "sell",
                f"{px / 10:.1f}",
                sz,
            )
        )
    return out  # fmt: skip


def _full_cache_bytes(limit: int) -> int:
    common._CACHE_LIMIT = limit
    q = common.Quant(META)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(limit - 1):
        q.px(f"{100_000 + i / 10:.1f}")
        q.sz(f"{(i + 1) / 100:g}")
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return used


def _rate(tape: list[Trade], limit: int) -> float:
    common._CACHE_LIMIT = limit
    calc = CvdCalculator(META)
    t0 = time.process_time()
    for i in range(0, len(tape), 1000):
        calc.feed(tape[i : i + 1000])
    return len(tape) / (time.process_time() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=1_000_000)
    args = parser.parse_args()
    tape = _tape(args.trades)
    distinct = len({t.px for t in tape}), len({t.sz for t in tape})
    print(f"tape: {len(tape):,} trades, {distinct[0]:,} distinct prices, {distinct[1]:,} sizes")
    original = common._CACHE_LIMIT
    try:
        for limit in LIMITS:
            mb = _full_cache_bytes(limit) / 1e6
            rates = [_rate(tape, limit) for _ in range(3)]
            print(
                f"limit {limit:>6}: full px+sz cache {mb:6.2f} MB; "
                f"CVD {max(rates):,.0f} trades/CPU s"
            )
    finally:
        common._CACHE_LIMIT = original


if __name__ == "__main__":
    main()
