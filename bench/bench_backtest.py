"""`python -m bench.bench_backtest [--trades N]`: `run_backtest` speed, one parameter set and a
27-point sweep, over a generated BTC-like vault (`bench.batch.ensure_vault`: seeded random walk
on the 0.1 grid, ~17 trades/s, written with the project's own encoder; kept in `bench/out/`).

Prints trades/s for one parameter set (reading the vault included), by wall clock and per CPU
second (the steadier figure on a shared machine), and the CPU cost of a 27-point sweep (3 ages ×
3 touched thresholds × 3 targets, one replay) relative to it.
"""

from __future__ import annotations

import argparse
import time

from bench.batch import INST, ensure_vault
from rq_actors.config import parse_config
from rq_actors.io.backtest.run import run_backtest

SWEEP = {
    "age_min": ["15", "20", "25"],
    "min_touched_surrounding": ["5", "10", "15"],
    "target": ["1R", "2R", "3R"],
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_backtest")
    parser.add_argument("--trades", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    t0 = time.perf_counter()
    root = ensure_vault(args.trades, args.seed)
    print(f"vault {root} ready in {time.perf_counter() - t0:.1f} s")
    config = parse_config({"instruments": [INST], "vault": {"root": str(root)}})
    c0 = time.process_time()
    one = run_backtest(config, INST)
    cpu_one = time.process_time() - c0
    sig = one.summary["groups"]["signal"]
    print(
        f"one parameter set: {one.trades:,} trades in {one.seconds:.2f} s wall = "
        f"{one.trades_per_s:,.0f} trades/s ({one.trades / cpu_one:,.0f} trades per CPU second); "
        f"{len(one.setups):,} setups ({sig['setups']} signals, {sig['trades']} traded)"
    )
    c0 = time.process_time()
    many = run_backtest(config, INST, sweep=SWEEP)
    cpu_many = time.process_time() - c0
    points = len(many.rules) * len(many.exits)
    print(
        f"{points}-point sweep: {many.seconds:.2f} s wall, {cpu_many / cpu_one:.2f}x the CPU "
        f"time of one replay ({many.trades / cpu_many:,.0f} trades per CPU second; "
        f"{len(many.outcomes):,} outcomes)"
    )


if __name__ == "__main__":
    main()
