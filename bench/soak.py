"""Soak run: the whole live pipeline in process against the embedded simulator, for N minutes.

    python -m bench.soak --minutes 30              # defaults: speed 120, 2 instruments

Not part of CI. It runs `rq_actors.actors.runner.run_live` (simulator, supervisor, every actor, the
real vault on disk) with `simulator.speed` high, so hours of market time pass in minutes, and
every `--sample-s` seconds samples:
- RSS of this process (`/proc/self/statm`);
- per actor, the newest health line of `vault/logs/health.jsonl`: state, restarts, errors and
  the processing lag (below);
- the depth of every channel of each instrument group: the trade writer's and the book's
  inboxes and the three derived feeds. The health log carries no queue depths, so they are read
  from the channels themselves (`statistics().current_buffer_used`), found by wrapping
  `rq_actors.actors.group.build_group`.

Lag: an actor's `lag_ms` is wall clock minus the newest event time it handled, which means
nothing when market time runs at 120×. The simulator is started `--behind-h` hours in the past
so event time is always behind the wall clock; then the newest event time is `ts − lag_ms` of
the health line and the processing lag in market time is `market_time(ts) − newest_event`
(market time read from the simulator itself), shown in wall-clock milliseconds (divided by the
speed): how far behind the exchange the actor was when it wrote that line.

The embedded simulator keeps every message it sent for the tests' "vault equals what was
published" checks (`record_limit=None` in `run_live`): over hours that would dominate the RSS of
this process. The soak bounds it (`--sim-record`, `--sim-history`) by giving the simulator's
`SimOptions` smaller defaults, so the RSS figures are the pipeline's.

At the end: a table over time, RSS growth after warm-up (the first `--warmup` fraction of the
run), max lag per actor, max depth per channel, totals.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import orjson
import trio

import rq_actors.actors.group as app
from rq_actors.actors.runner import run_live
from rq_actors.config import Config, parse_config
from rq_actors.core.timefmt import iso_s, parse_iso_ms

PAGE = os.sysconf("SC_PAGE_SIZE")


@attrs.define
class GcPauses:
    """Wall time of every garbage collection, per generation (a full collection stops the
    whole process, simulator included, for a time that grows with the live heap)."""

    max_ms: dict[int, float] = attrs.field(factory=dict)
    total_ms: float = 0.0
    _start: float = 0.0

    def install(self) -> None:
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
            return
        ms = (time.perf_counter() - self._start) * 1000
        gen = info["generation"]
        self.max_ms[gen] = max(self.max_ms.get(gen, 0.0), ms)
        self.total_ms += ms


def object_census() -> Counter[str]:
    """Live gc-tracked objects by type (cheap enough to take twice; tracemalloc is not)."""
    gc.collect()
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


@attrs.define
class Channels:
    """The channels of every instrument group, captured as the groups are built."""

    by_inst: dict[str, dict[str, Any]] = attrs.field(factory=dict)

    def install(self) -> None:
        original = app.build_group

        async def spy(inst_id: str, health_log: Any, **kw: Any) -> list[Any]:
            specs = await original(inst_id, health_log, **kw)
            found: dict[str, Any] = {}
            for spec in specs:
                if spec.name == "socket":
                    found["trades_inbox"], found["book_inbox"] = spec.closes
                elif spec.name == "trade_writer":
                    for feed in spec.closes:
                        found[f"feed_{feed.name}"] = feed
            self.by_inst[inst_id] = found
            return specs

        app.build_group = spy  # run_live imports it at call time

    def depths(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for inst, found in self.by_inst.items():
            for name, channel in found.items():
                send = getattr(channel, "_send", channel)  # a LiveFeed wraps its channel
                out[f"{inst}:{name}"] = send.statistics().current_buffer_used
        return out

    def lagging_feeds(self) -> int:
        return sum(
            1
            for found in self.by_inst.values()
            for name, ch in found.items()
            if name.startswith("feed_") and ch.lagging
        )


@attrs.define
class HealthTail:
    """Reads new lines of the health log; keeps the newest line per (actor, instId)."""

    path: Path
    offset: int = 0
    latest: dict[tuple[str, str], dict[str, Any]] = attrs.field(factory=dict)

    def poll(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        for line in data[:end].splitlines():
            doc = orjson.loads(line)
            self.latest[(doc["actor"], doc["inst_id"])] = doc


@attrs.define
class Soak:
    config: Config
    speed: float
    sim: Any
    health: HealthTail
    channels: Channels
    gc_pauses: GcPauses
    samples: list[dict[str, Any]] = attrs.field(factory=list)

    def lag_wall_ms(self, doc: dict[str, Any], wall_ms: float, market_ms: int) -> float | None:
        """Processing lag of one health line, in wall-clock ms (see module doc)."""
        if doc.get("lag_ms") is None:
            return None
        ts_ms = parse_iso_ms(doc["ts"])
        newest_event = ts_ms - doc["lag_ms"]
        market_at_ts = market_ms - (wall_ms - ts_ms) * self.speed
        return max(0.0, (market_at_ts - newest_event) / self.speed)

    def sample(self, elapsed_s: float) -> dict[str, Any]:
        self.health.poll()
        wall_ms, market_ms = time.time() * 1000, self.sim.market_now_ms()
        lags = {
            f"{inst}:{actor}": lag
            for (actor, inst), doc in self.health.latest.items()
            if (lag := self.lag_wall_ms(doc, wall_ms, market_ms)) is not None
        }
        counters = [doc.get("counters", {}) for doc in self.health.latest.values()]
        row = {
            "t_s": round(elapsed_s, 1),
            "market": iso_s(market_ms),
            "rss_mb": round(rss_mb(), 1),
            "lags_ms": lags,
            "depths": self.channels.depths(),
            "lagging_feeds": self.channels.lagging_feeds(),
            "trades": sum(c.get("trades_written", 0) for c in counters),
            "snapshots": sum(c.get("snapshots_written", 0) for c in counters),
            "restarts": sum(d.get("restarts", 0) for d in self.health.latest.values()),
            "quarantined": sum(c.get("quarantined", 0) for c in counters),
            "states": sorted({d["state"] for d in self.health.latest.values()}),
            "gc_max_ms": {f"gen{g}": round(v, 1) for g, v in sorted(self.gc_pauses.max_ms.items())},
            "gc_total_ms": round(self.gc_pauses.total_ms),
        }
        self.samples.append(row)
        return row


def build_config(args: argparse.Namespace, vault: Path, start_ms: int) -> Config:
    return parse_config(
        {
            "instruments": args.instruments,
            "vault": {"root": str(vault)},
            "exchange": {"simulate": True},
            "health": {"interval_s": args.health_interval_s, "stderr": False},
            "wicks": {"expiry_hours": args.wick_expiry_h},
            "simulator": {
                "seed": args.seed,
                "speed": args.speed,
                "start_ms": start_ms,
                "trades_per_s": args.trades_per_s,
                "book_interval_ms": args.book_interval_ms,
            },
        },
        "<soak>",
    )


def print_row(row: dict[str, Any]) -> None:
    lag = max(row["lags_ms"].values(), default=0.0)
    depth = max(row["depths"].values(), default=0)
    print(
        f"{row['t_s']:>7.0f} {row['market']:>21} {row['rss_mb']:>8.1f} {lag:>9.0f} "
        f"{depth:>6} {row['lagging_feeds']:>4} {row['trades']:>10} {row['snapshots']:>8} "
        f"{row['restarts']:>4} {','.join(row['states'])}",
        flush=True,
    )


def summary(samples: Sequence[dict[str, Any]], warmup: float) -> dict[str, Any]:
    end = samples[-1]
    warm = next((s for s in samples if s["t_s"] >= end["t_s"] * warmup), samples[0])
    hours = max((end["t_s"] - warm["t_s"]) / 3600, 1e-9)
    lag_max: dict[str, float] = {}
    depth_max: dict[str, int] = {}
    for s in samples:
        for k, v in s["lags_ms"].items():
            lag_max[k] = max(lag_max.get(k, 0.0), v)
        for k, v in s["depths"].items():
            depth_max[k] = max(depth_max.get(k, 0), v)
    return {
        "wall_s": end["t_s"],
        "market_span": f"{samples[0]['market']} .. {end['market']}",
        "rss_after_warmup_mb": warm["rss_mb"],
        "rss_end_mb": end["rss_mb"],
        "rss_growth_after_warmup_mb": round(end["rss_mb"] - warm["rss_mb"], 1),
        "rss_growth_mb_per_hour": round((end["rss_mb"] - warm["rss_mb"]) / hours, 1),
        "rss_max_mb": max(s["rss_mb"] for s in samples),
        "lag_max_ms": {k: round(v) for k, v in sorted(lag_max.items())},
        "depth_max": dict(sorted(depth_max.items())),
        "trades_written": end["trades"],
        "snapshots_written": end["snapshots"],
        "restarts": end["restarts"],
        "quarantined": end["quarantined"],
        "gc_max_pause_ms_by_generation": end["gc_max_ms"],
        "gc_total_ms": end["gc_total_ms"],
    }


def patch_simulator(record: int, history: int) -> list[Any]:
    """Bound the simulator's memory; return a list that will hold the simulator once built."""
    import rq_actors.sim.server as server

    built: list[Any] = []

    class SeenSimulator(server.Simulator):  # type: ignore[misc]
        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, **kw)
            built.append(self)

    @attrs.define
    class BoundedSimOptions(server.SimOptions):  # type: ignore[misc]
        record_limit: int | None = record
        history_limit: int = history

    server.SimOptions = BoundedSimOptions  # type: ignore[misc]  # start_simulator imports it late
    server.Simulator = SeenSimulator  # type: ignore[misc]
    return built


async def soak(args: argparse.Namespace, vault: Path) -> dict[str, Any]:
    sims = patch_simulator(args.sim_record, args.sim_history)
    duration_s = args.minutes * 60
    # event time stays behind the wall clock for the whole run (see the module doc)
    start_ms = int(time.time() * 1000 - (duration_s * args.speed + args.behind_h * 3600) * 1000)
    config = build_config(args, vault, start_ms)
    channels = Channels()
    channels.install()
    stop = trio.Event()
    print(f"vault {vault}; speed {args.speed}x; {args.minutes} min", flush=True)
    print(f"{'t_s':>7} {'market time':>21} {'rss_mb':>8} {'lag_ms':>9} {'depth':>6} "
          f"{'lagF':>4} {'trades':>10} {'snaps':>8} {'rst':>4} states")  # fmt: skip
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: run_live(
            config, handle_signals=False, stop=stop, task_status=task_status))  # fmt: skip
        gc_pauses = GcPauses()
        gc_pauses.install()
        health = HealthTail(vault / "logs/health.jsonl")
        run = Soak(config, args.speed, sims[0], health, channels, gc_pauses)
        t_start = trio.current_time()
        census: Counter[str] | None = None
        while (elapsed := trio.current_time() - t_start) < duration_s:
            await trio.sleep(min(args.sample_s, duration_s - elapsed))
            print_row(run.sample(trio.current_time() - t_start))
            if args.census and census is None and elapsed >= duration_s * args.warmup:
                census = object_census()
        if census is not None:
            grown = object_census()
            grown.subtract(census)
            print("object types that grew most since warm-up (live objects, gc-tracked):")
            for name, n in grown.most_common(args.census):
                print(f"  {n:+10d}  {name}")
        stop.set()
    result = summary(run.samples, args.warmup)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    if args.json:
        Path(args.json).write_bytes(orjson.dumps({"summary": result, "samples": run.samples}))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--speed", type=float, default=120.0)
    p.add_argument("--instruments", nargs="+", default=["BTC-USDT-SWAP", "ETH-USDT-SWAP"])
    p.add_argument("--trades-per-s", type=float, default=20.0, help="market time")
    p.add_argument("--book-interval-ms", type=int, default=100, help="market time")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--sample-s", type=float, default=5.0)
    p.add_argument("--health-interval-s", type=float, default=2.0)
    p.add_argument("--warmup", type=float, default=0.2, help="fraction of the run")
    p.add_argument("--behind-h", type=float, default=1.0)
    p.add_argument("--wick-expiry-h", type=int, default=168, help="[wicks] expiry_hours")
    p.add_argument("--sim-record", type=int, default=2_000, help="messages kept by the simulator")
    p.add_argument("--sim-history", type=int, default=20_000, help="fills served by its REST")
    p.add_argument("--census", type=int, default=0, help="print the N object types grown most")
    p.add_argument("--vault", help="default: a temporary folder, removed at the end")
    p.add_argument("--json", help="write the samples and the summary here")
    args = p.parse_args(argv)
    if args.vault:
        trio.run(soak, args, Path(args.vault).resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="rq-soak-") as tmp:
            trio.run(soak, args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
