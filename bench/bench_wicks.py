"""Wick tracker figures (issue 6): trades/s with ~30,000 live wicks, and memory per 10,000 wicks.

    python bench/bench_wicks.py [--trades N]

Builds a tracker holding 15,000 1m candles' wicks (two per candle, all untouched: tips far
from the price), then drives a ±1-tick random walk of trades through it, 10 ms apart so minutes
close as they would live. Prints throughput of the integer-tick path (`on_trade`) and of the
full path from a `Trade` with a decimal price string (`feed`), the cost of writing
`wicks_active.json` / state, and traced memory per 10,000 wicks.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
from decimal import Decimal

import orjson

from rq_actors.core.timefmt import MS_PER_MINUTE, parse_iso_ms
from rq_actors.core.wicks.detect import detect_wicks
from rq_actors.core.wicks.model import ticks_to_price
from rq_actors.core.wicks.tracker import WickTracker
from rq_actors.messages import Trade

INST = "BTC-USDT-SWAP"
TICK = Decimal("0.1")
T0 = parse_iso_ms("2025-12-01T00:00:00Z")
P = 1_000_000  # price in ticks (100,000.0)


def _build(minutes: int, rnd: random.Random) -> tuple[WickTracker, int]:
    tracker = WickTracker(INST, TICK, expiry_hours=400)
    trade_id = 0
    new: tuple = ()
    for k in range(minutes):
        m0 = T0 + k * MS_PER_MINUTE
        trade_id += 1
        tracker.on_trade(m0, trade_id, P, new)
        upper, lower = P + 50 + rnd.randint(0, 3000), P - 50 - rnd.randint(0, 3000)
        new = detect_wicks(INST, "1m", m0, P, upper, lower, P)
    trade_id += 1
    tracker.on_trade(T0 + minutes * MS_PER_MINUTE, trade_id, P, new)
    return tracker, trade_id


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trades", type=int, default=300_000)
    n = ap.parse_args().trades
    rnd = random.Random(1)
    tracker, trade_id = _build(15_000, rnd)
    live = len(tracker.live_wicks())
    prices, p = [], P
    for _ in range(n):
        p = min(max(p + rnd.choice((-1, 0, 1)), P - 300), P + 300)
        prices.append(p)
    ts0 = T0 + 15_000 * MS_PER_MINUTE + 1

    t0 = time.perf_counter()
    for i, px in enumerate(prices):
        tracker.on_trade(ts0 + i * 10, trade_id + 1 + i, px)
    int_rate = n / (time.perf_counter() - t0)
    trade_id += n
    trades = [
        Trade(INST, trade_id + 1 + i, ts0 + n * 10 + i * 10, "buy", ticks_to_price(px, TICK), "1")
        for i, px in enumerate(prices)
    ]
    t0 = time.perf_counter()
    for trade in trades:
        tracker.feed(trade)
    feed_rate = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    active = tracker.active_wicks()
    active_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    state = orjson.dumps(tracker.state())
    state_s = time.perf_counter() - t0
    del tracker, trades, active
    gc.collect()

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    small, _ = _build(5_000, random.Random(2))
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    count = len(small.live_wicks())
    tracemalloc.stop()

    print(f"live wicks                        {live:>12,}")
    print(f"on_trade (price in ticks)         {int_rate:>12,.0f} trades/s")
    print(f"feed(Trade) (decimal price text)  {feed_rate:>12,.0f} trades/s")
    print(f"active_wicks() for the JSON file  {active_s:>12.3f} s")
    print(f"state() + orjson                  {state_s:>12.3f} s ({len(state) / 1e6:.1f} MB)")
    print(f"memory per 10,000 wicks           {used / count * 10_000 / 1e6:>12.2f} MB (traced)")


if __name__ == "__main__":
    main()
