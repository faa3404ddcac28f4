"""Soak run: `rq sim` and `rq-run` in their own processes; the pipeline's RSS, CPU, lag and GC.

    python -m bench.soak --minutes 60 --speed 40                 # 2 instruments
    python -m bench.soak --minutes 10 --speed 4 --instruments 50 # 50 generated instIds

Not part of CI. The simulator runs as `rq sim` (its memory is its own, bounded by
`--history-limit`; it keeps no truth), `rq-run` runs against it with a fresh vault, and every
`--sample-s` the script samples `rq-run` only:
- RSS and CPU (psutil, children excluded);
- from `logs/health.jsonl`: every actor's state and `lag_ms`, and the `process` line's GC
  counters (`gc_max_pause_us` since the previous line, collections per generation) and RSS.

Lag: market time runs `--speed`× the clock, so the simulator starts far enough in the past that
its market time stays behind the clock for the whole run; an actor's newest event time is then
`ts − lag_ms` of its line, and how far it is behind the exchange is `market_now(ts) − newest`,
where `market_now(t) = start_ms + (t − sim_t0) × speed`. It is shown in wall seconds
(÷ speed). When, after warm-up, any actor is more than `--max-lag-s` behind, or the trade
writer is not `running`, the run is marked INVALID: the machine did not sustain that speed and
its memory figures describe a backlog, not the pipeline.

The RSS slope is a least-squares fit over the samples after warm-up (`--warmup`, a fraction of
the run), in MB per market day. Shorten `--wick-expiry-h` so the wick window fills within the
run; the summary also shows the active wick count, so the per-wick cost can be told apart from a
leak (the slope while the window fills, compared to the slope after). `heap_kblocks` is the
allocator's live block count (`sys.getallocatedblocks()`, objects of up to 512 bytes): RSS keeps
freed memory, so a rising RSS beside a flat block count is the heap's high-water mark or larger
objects, not more small ones. `--cache-limit N` bounds `rq-run`'s text caches small
(`bench.capped_run`) so that they are all full early in the run; `--vol-scale` widens the
simulator's price walk. `--pipeline-env NAME=VALUE` sets a variable for `rq-run` alone, for A/B
runs of the allocator (`PYTHONMALLOC=malloc`, `MALLOC_ARENA_MAX=2`) and for `bench.heap_trace`.
`--ab-env NAME=VALUE` starts a second `rq-run` (arm B, its own vault) against the same simulator
with these variables set too, so both arms meet the same market and the same machine load at
once; the summary gives each arm's figures and B − A for the slopes (e.g. `--ab-env
MALLOC_ARENA_MAX=2`, or `--ab-env RQ_SOAK_MALLOC_TRIM_S=60` for glibc's `malloc_trim` on a
timer, `bench.capped_run`). `--freeze-per-market-hour` makes `rq-run` re-freeze its heap every
market hour (3 600 / speed wall seconds) instead of every wall hour, as often per market day as
live.
Ctrl-C (SIGINT) stops both processes cleanly and prints the summary of what was sampled.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import psutil  # type: ignore[import-untyped]

from bench.soak_summary import cache_census, summarize
from rq_actors.core.timefmt import parse_iso_ms
from rq_actors.io.health_read import latest_by_actor

_LAG_ACTORS = ("trade_writer", "cvd", "vwap", "candles")
_DAY_MS = 86_400_000


def _instruments(n: int) -> list[str]:
    majors = ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]
    return (majors + [f"S{i:02d}-USDT-SWAP" for i in range(n)])[:n]


def _start_sim(
    args: argparse.Namespace, insts: list[str], start_ms: int
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    cmd = [
        sys.executable, "-m", "rq_actors", "sim", "--instruments", ",".join(insts),
        "--speed", str(args.speed), "--trades-per-s", str(args.trades_per_s),
        "--book-interval-ms", str(args.book_interval_ms),
        "--start-ms", str(start_ms), "--history-limit", str(args.sim_history),
        "--seed", str(args.seed), "--vol-scale", str(args.vol_scale),
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True
    )
    t0 = time.time()
    urls: dict[str, str] = {}
    assert proc.stdout is not None
    while len(urls) < 3:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("soak: rq sim exited before printing its addresses")
        parts = line.split()
        if parts[:2] in (["ws", "public"], ["ws", "business"]):
            urls[parts[1]] = parts[2]
        elif parts[:1] == ["rest"]:
            urls["rest"] = parts[1]
    return proc, {"urls": urls, "t0": t0}


def _write_config(
    args: argparse.Namespace, insts: list[str], vault: Path, urls: dict[str, str]
) -> Path:
    cfg = vault.parent / f"{vault.name}.toml"
    quoted = ", ".join(f'"{i}"' for i in insts)
    cfg.write_text(
        f"instruments = [{quoted}]\n"
        f'[vault]\nroot = "{vault}"\n'
        f'[exchange]\nws_public_url = "{urls["public"]}"\n'
        f'ws_business_url = "{urls["business"]}"\nrest_url = "{urls["rest"]}"\n'
        f"[wicks]\nexpiry_hours = {args.wick_expiry_h}\n"
        f"[health]\ninterval_s = {args.sample_s}\nstderr = false\nlagging_after_s = 1e9\n"
        "[web]\nport = 0\n"  # any free port: two soaks side by side must not share one
    )
    return cfg


def _active_wicks(vault: Path) -> int:
    n = 0
    for path in vault.glob("derived/wicks/okx/perps/*/wicks_active.json"):
        try:
            n += len(orjson.loads(path.read_bytes()).get("wicks") or [])
        except (OSError, orjson.JSONDecodeError):
            continue
    return n


class _Sampler:
    def __init__(self, args: argparse.Namespace, vault: Path, start_ms: int, t0: float) -> None:
        self.args, self.vault, self.start_ms, self.t0 = args, vault, start_ms, t0
        self.rows: list[dict[str, Any]] = []

    def market_ms(self, wall_s: float) -> float:
        return self.start_ms + (wall_s - self.t0) * 1000 * float(self.args.speed)

    def sample(self, proc: psutil.Process, arm: str | None = None) -> dict[str, Any]:
        now = time.time()
        latest = latest_by_actor(self.vault / "logs" / "health.jsonl")
        lag_s, states = 0.0, set()
        for (_, actor), doc in latest.items():
            if actor == "trade_writer":
                states.add(doc.get("state"))
            if actor not in _LAG_ACTORS or doc.get("lag_ms") is None:
                continue
            ts = parse_iso_ms(doc["ts"])
            behind = self.market_ms(ts / 1000) - (ts - doc["lag_ms"])
            lag_s = max(lag_s, behind / self.args.speed / 1000)
        gc_doc = next((d for (i, a), d in latest.items() if a == "process"), {})
        counters = gc_doc.get("counters") or {}
        row = {
            "wall_s": round(now - self.t0, 1),
            "market_day": round((self.market_ms(now) - self.start_ms) / _DAY_MS, 4),
            "rss_mb": round(proc.memory_info().rss / 2**20, 1),
            "heap_kblocks": round(counters.get("heap_blocks", 0) / 1000, 1),
            "cpu_pct": round(proc.cpu_percent(None), 1),
            "lag_s": round(lag_s, 2),
            "writer": ",".join(sorted(str(s) for s in states)) or "-",
            "gc_pause_ms": round(counters.get("gc_max_pause_us", 0) / 1000, 1),
            "gc_cpu_ms": round(counters.get("gc_max_pause_cpu_us", 0) / 1000, 1),
            "gc1_max_ms": round(counters.get("gc_max_pause_us_gen1", 0) / 1000, 1),
            "gc2_max_ms": round(counters.get("gc_max_pause_us_gen2", 0) / 1000, 1),
            "gen2": counters.get("gc_gen2", 0),
            "wicks": _active_wicks(self.vault),
            "cache_entries": sum(v for k, v in counters.items() if k.endswith("_entries")),
        }
        if arm:
            row["arm"] = arm
        self.rows.append(row)
        print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        row["caches"] = cache_census(counters)
        return row


def _stop(proc: subprocess.Popen[Any], sig: int, timeout: float) -> int | None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class _Pipeline:
    """One `rq-run` under test: its process, its vault and its samples. An A/B run has two,
    against one simulator, so both meet the same market and the same machine at once."""

    def __init__(
        self, arm: str, args: argparse.Namespace, insts: list[str], vault: Path,
        info: dict[str, Any], start_ms: int, env: dict[str, str],
    ) -> None:  # fmt: skip
        self.arm, self.env = arm, env
        cfg = _write_config(args, insts, vault, info["urls"])
        runner = ["rq_actors.commands.cli_run"]
        if args.cache_limit:
            runner = ["bench.capped_run", str(args.cache_limit)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *runner, str(cfg)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
            env={**os.environ, **env},
        )  # fmt: skip
        self.sampler = _Sampler(args, vault, start_ms, info["t0"])
        self.ps = psutil.Process(self.proc.pid)
        self.ps.cpu_percent(None)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def result(self, args: argparse.Namespace, code: int | None) -> dict[str, Any]:
        result = summarize(self.sampler.rows, args)
        result.update(rq_run_exit=code, pipeline_env=self.env)
        if code not in (0, None):
            err = self.proc.stderr.read().decode()[-2000:] if self.proc.stderr else ""
            result.update(valid=False, why=f"rq-run exited {code}: {err}")
        return result


def _arms(args: argparse.Namespace, vault: Path) -> list[tuple[str, Path, dict[str, str]]]:
    """(arm, vault, rq-run's environment): arm A alone, or A and B (A's variables + `--ab-env`),
    B's vault beside A's."""
    arms = [("A", vault, dict(args.pipeline_env))]
    if args.ab_env:
        arms.append(("B", vault.with_name(f"{vault.name}-b"), {**args.pipeline_env, **args.ab_env}))
    return arms


def compare(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An A/B run's summary: each arm's, and B − A for the slopes (both from the same samples'
    market days, so the difference is the variable's alone, within the noise of each fit)."""
    a, b = results["A"], results["B"]
    diff = {}
    for key in (
        "slope_mb_per_market_day", "slope_after_caches_peaked_mb_per_market_day",
        "heap_kblocks_slope_after_caches_peaked", "rss_end_mb", "cpu_pct_mean",
    ):  # fmt: skip
        if a.get(key) is not None and b.get(key) is not None:
            diff[key] = round(b[key] - a[key], 2)
    bad = [f"{arm}: {r['why']}" for arm, r in results.items() if not r["valid"]]
    return {"valid": not bad, "why": "; ".join(bad) or "kept up", **results, "b_minus_a": diff}


def run(args: argparse.Namespace, vault: Path) -> dict[str, Any]:
    insts = _instruments(args.instruments)
    run_s = args.minutes * 60
    # Market time must stay behind the clock for the whole run (see the module docstring).
    start_ms = int((time.time() - run_s * args.speed - 3600) * 1000)
    stop = {"now": False}
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    sim, info = _start_sim(args, insts, start_ms)
    pipelines: list[_Pipeline] = []
    label = bool(args.ab_env)
    deadline = time.monotonic() + run_s
    try:
        # Started inside the try, so that a failure to start arm B still stops arm A and the sim.
        for arm, v, env in _arms(args, vault):
            pipelines.append(_Pipeline(arm, args, insts, v, info, start_ms, env))
        while not stop["now"] and time.monotonic() < deadline and all(p.alive() for p in pipelines):
            time.sleep(min(args.sample_s, max(0.0, deadline - time.monotonic())))
            for p in pipelines:
                if p.alive():
                    p.sampler.sample(p.ps, arm=p.arm if label else None)
    finally:
        codes = [_stop(p.proc, signal.SIGINT, 30) for p in pipelines]
        _stop(sim, signal.SIGINT, 10)
    results = {p.arm: p.result(args, code) for p, code in zip(pipelines, codes, strict=True)}
    result = compare(results) if label else results["A"]
    result.update(
        instruments=len(insts),
        speed=args.speed,
        trades_per_s=args.trades_per_s,
        book_interval_ms=args.book_interval_ms,
        vol_scale=args.vol_scale,
        cache_limit=args.cache_limit,
    )
    if args.json:
        samples = {p.arm: p.sampler.rows for p in pipelines} if label else pipelines[0].sampler.rows
        Path(args.json).write_bytes(
            orjson.dumps({"samples": samples, "summary": result}, option=orjson.OPT_INDENT_2)
        )
    return result


def env_pair(text: str) -> tuple[str, str]:
    """`NAME=VALUE` for `--pipeline-env`: A/B runs of the allocator (`PYTHONMALLOC=malloc`,
    `MALLOC_ARENA_MAX=2`) need it set for `rq-run` alone, not for the simulator."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--speed", type=float, default=20.0, help="market seconds per real second")
    p.add_argument("--instruments", type=int, default=2, help="BTC, ETH, then generated")
    p.add_argument("--trades-per-s", type=float, default=20.0, help="per instrument, market time")
    p.add_argument("--book-interval-ms", type=int, default=100, help="market time")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--vol-scale", type=float, default=1.0, help="rq sim --vol-scale (wider price walk)"
    )
    p.add_argument("--sample-s", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=0.25, help="fraction of the run ignored")
    p.add_argument("--max-lag-s", type=float, default=10.0, help="wall seconds; above: INVALID")
    p.add_argument("--wick-expiry-h", type=int, default=168, help="[wicks] expiry_hours")
    p.add_argument(
        "--cache-limit", type=int, help="bound rq-run's text caches at N (bench.capped_run)"
    )
    p.add_argument("--sim-history", type=int, default=20_000, help="rq sim --history-limit")
    p.add_argument("--vault", help="default: a temporary folder, removed at the end")
    p.add_argument("--json", help="write the samples and the summary here")
    p.add_argument(
        "--pipeline-env", type=env_pair, action="append", default=[], metavar="NAME=VALUE",
        help="set in rq-run's environment only (repeatable), e.g. PYTHONMALLOC=malloc",
    )  # fmt: skip
    p.add_argument(
        "--ab-env", type=env_pair, action="append", default=[], metavar="NAME=VALUE",
        help="A/B: a second rq-run (arm B) against the same simulator, with these set too",
    )  # fmt: skip
    p.add_argument(
        "--freeze-per-market-hour", action="store_true",
        help="re-freeze rq-run's heap every market hour, as live (needs --cache-limit)",
    )  # fmt: skip
    args = p.parse_args(argv)
    args.pipeline_env = dict(args.pipeline_env)
    args.ab_env = dict(args.ab_env)
    if args.freeze_per_market_hour:
        if not args.cache_limit:
            p.error("--freeze-per-market-hour needs --cache-limit (it hooks bench.capped_run)")
        args.pipeline_env["RQ_SOAK_REFREEZE_S"] = f"{3600 / args.speed:g}"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rq-soak-") as tmp:
        vault = Path(args.vault).resolve() if args.vault else Path(tmp) / "vault"
        vault.parent.mkdir(parents=True, exist_ok=True)
        result = run(args, vault)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    print("VALID" if result["valid"] else f"INVALID: {result['why']}")
    return 0 if result["valid"] else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
