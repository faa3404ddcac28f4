"""Driving the in-process pipeline: as fast as it goes, or paced in real time.

Throughput runs under a `trio.testing.MockClock` that the feeder moves to each frame's event
time, so every timer in the actors (book snapshots every 2 s, derived state saves every 5 s)
fires as often per market second as it would live, however fast the frames are pushed. Paced
runs use the real clock and stamp each frame with its scheduled arrival time, so a feeder that
falls behind (CPU saturated) shows up as lag instead of hiding it.
"""

from __future__ import annotations

import resource
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import trio
import trio.testing

from bench.corpus import frame_ts_ms, iter_lines, route_key
from bench.harness import Pipeline, Probes, Queue, counters, percentiles
from rq_actors.io import ws_client

# What one wake-up of the batching client's reader hands over when frames are waiting.
READ_BATCH = ws_client.MESSAGE_QUEUE + 1


def rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_now_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:
        return float("nan")


# ---- throughput ----------------------------------------------------------------------------


def throughput(
    corpus: Path,
    rows: dict[str, dict[str, Any]],
    trades_channel: str = "trades-all",
    *,
    capture_only: bool = False,
    read_batch: int = READ_BATCH,
) -> dict[str, Any]:
    """Push every frame of `corpus` through the pipeline as fast as it takes them.

    Frames are always waiting at this rate, so each wake-up of a connection's reader hands
    over `read_batch` of them, as the batching WebSocket client does under load (at most its
    library queue plus one); `read_batch=1` is one frame per wait, the reader before it."""
    clock = trio.testing.MockClock(rate=1.0)  # real time while the groups start
    result: dict[str, Any] = {}
    rss_before = rss_now_mb()

    async def main() -> None:
        with tempfile.TemporaryDirectory(prefix="rq-bench-") as vault:
            pipe = Pipeline(
                rows, Path(vault), trades_channel=trades_channel, capture_only=capture_only
            )
            async with trio.open_nursery() as nursery:
                await pipe.start(nursery)
                result["rss_started_mb"] = rss_now_mb()
                clock.rate = 0.0  # from here on, time is the frames' event time
                t0, c0 = time.perf_counter(), time.process_time()
                fed, skipped = await _feed_file(pipe, corpus, clock, read_batch)
                clock.rate = 1.0  # input ended: timers may run out in real time while it drains
                await pipe.finish()
            result["elapsed_s"] = time.perf_counter() - t0
            result["cpu_s"] = time.process_time() - c0
            result.update(frames=fed, skipped=skipped, **counters(pipe))
            result["errors"] = pipe.errors()[:5]
            result["vault_mb"] = _du(Path(vault))

    trio.run(main, clock=clock)
    result["rss_before_mb"] = rss_before
    result["rss_peak_mb"] = rss_peak_mb()
    return result


async def _feed_file(
    pipe: Pipeline, corpus: Path, clock: trio.testing.MockClock, read_batch: int
) -> tuple[int, int]:
    fed = skipped = 0
    ts0: int | None = None
    base = clock.current_time()
    for text in iter_lines(corpus):
        key = route_key(text)
        queue = None if key is None else pipe.route(*key)
        if queue is None:
            skipped += 1  # a channel/instrument this config does not subscribe to, or an event
            continue
        ts = frame_ts_ms(text)
        if ts is not None:
            if ts0 is None:
                ts0 = ts
            ahead = base + (ts - ts0) / 1000 - clock.current_time()
            if ahead > 0:
                clock.jump(ahead)
        item = (text, time.monotonic_ns())  # what _read_loop queues
        try:
            queue.send_nowait(item)
        except trio.WouldBlock:
            await queue.send(item)  # back-pressure where _read_loop would reconnect
        fed += 1
        if fed % read_batch == 0:
            await trio.lowlevel.checkpoint()  # the reader's one wait per batch
    return fed, skipped


def _du(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20


# ---- paced ---------------------------------------------------------------------------------

Scheduled = tuple[float, str, str, str]  # (offset s, channel, instId, text)


def schedule(texts: Iterable[str], window_s: float) -> list[Scheduled]:
    """Frames with their arrival offset (event time since the first frame) within `window_s`;
    a frame without a readable `ts` arrives with the frame before it."""
    out: list[Scheduled] = []
    ts0: int | None = None
    last = 0.0
    for text in texts:
        key = route_key(text)
        if key is None:
            continue
        ts = frame_ts_ms(text)
        if ts is not None:
            ts0 = ts if ts0 is None else ts0
            last = max(last, (ts - ts0) / 1000)
        if last > window_s:
            break
        out.append((last, key[0], key[1], text))
    return out


def paced(
    items: list[Scheduled],
    rows: dict[str, dict[str, Any]],
    *,
    stamp_scheduled: bool,
    trades_channel: str = "trades-all",
    warmup_s: float = 0.0,
) -> dict[str, Any]:
    """Feed `items` at their offsets in real time; latency from stamp to vault / book.

    Latency figures count frames scheduled after `warmup_s` (the subscribe-time burst of
    snapshots is reported apart, as `startup_max_ms`)."""
    result: dict[str, Any] = {}

    async def main() -> None:
        with tempfile.TemporaryDirectory(prefix="rq-bench-") as vault:
            probes = Probes()
            pipe = Pipeline(rows, Path(vault), trades_channel=trades_channel, probes=probes)
            async with trio.open_nursery() as nursery:
                await pipe.start(nursery)
                queues = [(off, pipe.route(ch, inst), text) for off, ch, inst, text in items]
                t0, c0 = time.perf_counter(), time.process_time()
                since = time.monotonic_ns() + int(warmup_s * 1e9)
                late = await _feed_paced(pipe, queues, stamp_scheduled)
                window = time.perf_counter() - t0
                cpu = time.process_time() - c0
                await pipe.finish()
            result["window_s"] = window
            result["cpu_s"] = cpu
            result["cpu_util"] = cpu / window if window else float("nan")
            result["drain_s"] = time.perf_counter() - t0 - window
            result["feeder_late"] = percentiles(late)
            result["trade_latency"] = percentiles(probes.trade_ns, since)
            result["book_latency"] = percentiles(probes.book_ns, since)
            result["warmup_s"] = warmup_s
            result["startup_max_ms"] = max(
                percentiles(probes.trade_ns)["max_ms"], percentiles(probes.book_ns)["max_ms"]
            )
            result["frames"] = len(items)
            result.update(counters(pipe))
            result["errors"] = pipe.errors()[:5]

    trio.run(main)
    result["rss_peak_mb"] = rss_peak_mb()
    return result


async def _feed_paced(
    pipe: Pipeline, items: list[tuple[float, Queue | None, str]], stamp_scheduled: bool
) -> list[int]:
    late: list[int] = []
    start = trio.current_time()
    start_ns = time.monotonic_ns()
    i, n = 0, len(items)
    while i < n:
        offset = items[i][0]
        await trio.sleep_until(start + offset)
        scheduled_ns = start_ns + int(offset * 1e9)
        late.append(max(0, time.monotonic_ns() - scheduled_ns))
        while i < n and items[i][0] == offset:
            _, queue, text = items[i]
            i += 1
            if queue is None:
                continue
            stamp = scheduled_ns if stamp_scheduled else time.monotonic_ns()
            try:
                queue.send_nowait((text, stamp))
            except trio.WouldBlock:  # _read_loop would reconnect here; we count and wait
                pipe.overflows += 1
                await queue.send((text, stamp))
    return late
