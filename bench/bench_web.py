"""Dashboard costs: `python -m bench.bench_web [--records N] [--snapshots N]`.

Over a synthetic vault (a day of 1m candles, an hour of 400-level L2 snapshots every 2 s) served
on loopback by the real app on hypercorn, in one trio process as in `rq-run`:

- push latency: `LiveBus.publish` of one candle record → the WebSocket viewer has parsed it
  (p50 / p99 / max over N records, one at a time);
- publish cost with a viewer that never reads (what capture pays for a stuck browser);
- HTTP: a 1000-row candles page, the depth ladder, the heatmap (10 min, 120×100 cells),
  `/metrics` (median of 20 requests each);
- what capture would feel: the trio loop's wake-up delay (a task sleeping 1 ms, overshoot
  p50/p99/max) idle, and while 4 clients fetch candles and uncached heatmaps back to back
  (vault reads run in worker threads; this shows what their GIL time costs the loop).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from functools import partial
from pathlib import Path

import httpx
import orjson
import trio
from trio_websocket import open_websocket_url

from rq_actors.config import parse_config
from rq_actors.core.timefmt import iso_ms, iso_s
from rq_actors.io.health import HealthLog
from rq_actors.io.live_bus import LiveBus
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import LiveRecord
from rq_actors.web.app import WebContext, create_app
from rq_actors.web.health_view import LiveHealth
from rq_actors.web.server import serve_app

INST = "BTC-USDT-SWAP"
T0 = 1_765_670_400_000  # 2025-12-14T00:00:00Z


def _candle(ms: int) -> dict[str, object]:
    return {"open_time_utc": iso_s(ms), "instId": INST, "timeframe": "1m", "open": "101250.5",
            "high": "101260.1", "low": "101240.2", "close": "101255.0", "volume_contracts": "451",
            "volume_base": "4.51", "volume_quote": "456660.5", "buy_volume_base": "2.2",
            "sell_volume_base": "2.31", "trade_count": 42, "first_trade_id": "1",
            "last_trade_id": "42", "vwap": "101251.1"}  # fmt: skip


def _snapshot(ms: int) -> bytes:
    mid = Decimal("101250.5")
    tick = Decimal("0.1")
    bids = [[str(mid - tick * (i + 1)), str(1 + i % 17), "0", "2"] for i in range(400)]
    asks = [[str(mid + tick * (i + 1)), str(1 + i % 13), "0", "3"] for i in range(400)]
    return orjson.dumps({"timestamp_utc": iso_ms(ms), "instId": INST, "bids_top400": bids,
                         "asks_top400": asks, "best_bid": bids[0][0], "best_ask": asks[0][0],
                         "mid_price": str(mid), "gap_detected": False})  # fmt: skip


def build_vault(root: Path, snapshots: int) -> None:
    paths = VaultPaths(root)
    path = paths.candles_file(INST, "1m", "2025-12-14")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(_candle(T0 + m * 60_000)) + b"\n" for m in range(1440)))
    l2 = paths.l2_file(INST, T0)
    l2.parent.mkdir(parents=True, exist_ok=True)
    with l2.open("wb") as f:
        for i in range(snapshots):
            f.write(_snapshot(T0 + i * 2000) + b"\n")


def _ms(samples: list[float]) -> str:
    s = sorted(samples)
    p99 = s[min(len(s) - 1, int(len(s) * 0.99))]
    return (
        f"p50 {statistics.median(s) * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms, max {s[-1] * 1e3:.2f} ms"
    )


async def run(records: int, snapshots: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "vault"
        build_vault(root, snapshots)
        config = parse_config({"instruments": [INST], "vault": {"root": str(root)}})
        bus = LiveBus()
        ctx = WebContext(config, LiveHealth(HealthLog(None, stderr=None)), bus)
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(serve_app, create_app(ctx), "127.0.0.1", 0)
            base = urls[0]
            ws_url = base.replace("http", "ws") + f"/api/live?instId={INST}"
            async with open_websocket_url(ws_url) as ws:
                await ws.get_message()
                lat = []
                for i in range(records):
                    t = time.perf_counter()
                    bus.publish([LiveRecord("candles", INST, "1m", T0 + i, _candle(T0))])
                    orjson.loads(await ws.get_message())
                    lat.append(time.perf_counter() - t)
            print(f"push latency, publish → viewer parsed ({records} records): {_ms(lat)}")
            async with open_websocket_url(ws_url) as ws:
                await ws.get_message()  # this viewer never reads again
                t = time.perf_counter()
                n = 0
                for i in range(200):
                    bus.publish([LiveRecord("candles", INST, "1m", i, _candle(T0))] * 50)
                    n += 50
                    await trio.sleep(0)
                per = (time.perf_counter() - t) / n
                print(f"publish with a stuck viewer: {per * 1e6:.2f} µs/record incl. event loop "
                      f"turns; dropped for it: {bus._subs[0].dropped} of {n}")  # fmt: skip
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                for name, path in [
                    ("candles 1000 rows", f"/api/{INST}/candles?limit=1000"),
                    ("depth ladder 25", f"/api/{INST}/book?levels=25"),
                    ("heatmap 10 min 120x100", f"/api/{INST}/heatmap?columns=120&rows=100"),
                    ("/metrics", "/metrics"),
                ]:
                    took = []
                    for _ in range(20):
                        t = time.perf_counter()
                        r = await client.get(path)
                        took.append(time.perf_counter() - t)
                        assert r.status_code == 200, r.text
                    print(f"GET {name}: {_ms(took)} ({len(r.content):,} bytes)")
            idle = await _loop_delays(2.0)
            print(f"loop wake-up delay, idle: {_ms(idle)}")
            # the clients run in another process: their own parsing must not count here
            async with trio.open_nursery() as load:
                load.start_soon(
                    partial(
                        trio.run_process,
                        [sys.executable, "-m", "bench.bench_web", "--hammer", base],
                    )
                )
                await trio.sleep(1.0)  # let the clients start
                busy = await _loop_delays(3.0)
                load.cancel_scope.cancel()
            print(f"loop wake-up delay, 4 clients hammering the API: {_ms(busy)}")
            nursery.cancel_scope.cancel()


async def _loop_delays(seconds: float) -> list[float]:
    delays = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        await trio.sleep(0.001)
        delays.append(time.perf_counter() - t - 0.001)
    return delays


async def _hammer_all(base: str) -> None:
    with trio.move_on_after(10):  # the bench cancels it sooner; this bounds a stray one
        async with trio.open_nursery() as nursery:
            for i in range(4):
                nursery.start_soon(_hammer, base, i)


async def _hammer(base: str, seed: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for n in range(1_000_000):
            if n % 2:  # a new minutes value each time defeats the heatmap cache
                await client.get(f"/api/{INST}/heatmap?minutes={1 + (n + seed) % 60}")
            else:
                await client.get(f"/api/{INST}/candles?limit=1000")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--snapshots", type=int, default=1800, help="L2 snapshots (1800 = 1 h)")
    ap.add_argument("--hammer", metavar="URL", help=argparse.SUPPRESS)  # the load process
    args = ap.parse_args()
    if args.hammer:
        trio.run(_hammer_all, args.hammer)
        return
    trio.run(run, args.records, args.snapshots)


if __name__ == "__main__":
    main()
