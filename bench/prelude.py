"""Inline trade-acceptance prelude vs one `accept_trade` call per trade (same loop body).

Run: `python -m bench.prelude`. Decides whether the calculators may call the rule instead of
inlining it (issue #16 item 7): they inline it while the call costs a measurable share.
"""

import time

from rq_actors.core.derive import CvdCalculator, RollingVwap
from rq_actors.core.derive.common import Quant, accept_trade
from rq_actors.core.meta import InstrumentMeta
from rq_actors.messages import Trade

meta = InstrumentMeta("BTC-USDT-SWAP", "SWAP", "0.01", "1", "linear", "0.1", "0.01")
trades = [
    Trade(
        "BTC-USDT-SWAP",
        i,
        1_765_756_800_000 + i * 50,
        "buy",
        f"{60000 + (i % 500) / 10:.1f}",
        f"{(i % 37 + 1) / 100:.2f}",
    )
    for i in range(1, 400_001)
]


def inline(q):
    pxc, szc, px_miss, sz_miss = q.px_cache, q.sz_cache, q.px, q.sz
    cur_ts, cur_id = -1, -1
    acc = 0
    for t in trades:
        ts = t.ts_ms
        tid = t.trade_id
        if ts <= cur_ts and (ts < cur_ts or tid <= cur_id):
            continue
        s = t.px
        p = pxc.get(s)
        if p is None:
            p = px_miss(s)
        s = t.sz
        z = szc.get(s)
        if z is None:
            z = sz_miss(s)
        if p is None or z is None:
            continue
        cur_ts, cur_id = ts, tid
        acc += p * z
    return acc


def called(q):
    cursor = (-1, -1)
    acc = 0
    for t in trades:
        r = accept_trade(q, cursor, t)
        if isinstance(r, str):
            continue
        cursor = (t.ts_ms, t.trade_id)
        acc += r[0] * r[1]
    return acc


for name, f in (("inline", inline), ("call", called)) * 2:
    q = Quant(meta)
    f(q)
    t0 = time.perf_counter()
    f(q)
    dt = time.perf_counter() - t0
    print(
        f"{name:6} {len(trades) / dt / 1e6:.2f} M trades/s ({dt * 1e9 / len(trades):.0f} ns/trade)"
    )

# for scale: what a whole calculator costs per trade on the same tape
for name, make in (("cvd", lambda: CvdCalculator(meta)), ("vwap", lambda: RollingVwap(meta))):
    calc = make()
    t0 = time.perf_counter()
    calc.feed(trades)
    dt = time.perf_counter() - t0
    print(f"{name:6} feed {dt * 1e9 / len(trades):.0f} ns/trade")
