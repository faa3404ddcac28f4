"""What-if: the derived actors' gathering window as a plain pause vs ending at a half-full feed.

    python -m bench.feed_gather --seconds 20 --rates 10,50 --rounds 2

Runs `rq-run`'s wiring (`run_live`) against the embedded simulator in a fresh process per
variant: one instrument, market time 60x the clock from a fixed start, a book every market
second, `--rates` trades per market second. `pause` patches `LiveFeed.gather` back to a plain
250 ms sleep (the code before 2026-12-07); `gather` is the code as is. Prints, per variant, how
often the CVD/VWAP actors lagged (their 256-batch feed overflowed), how many trades they then
re-read from the vault, the trades they took live, and the process CPU seconds. Interleaved per
round, so the ratios within a round are fair.
"""

from __future__ import annotations

import argparse
import sys

from bench.suite import _run, failures_only

_CHILD = """
import contextlib, json, resource, sys, tempfile
from pathlib import Path
import trio
from rq_actors.actors.feed import LiveFeed
from rq_actors.actors.runner import run_live
from rq_actors.config import parse_config
from rq_actors.io.health_read import latest_by_actor
from bench.whatif import patched

variant, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
root = Path(tempfile.mkdtemp(prefix="rq-gather-"))
config = parse_config({
    "instruments": ["BTC-USDT-SWAP"],
    "vault": {"root": str(root)},
    "exchange": {"simulate": True},
    "simulator": {"seed": 5, "trades_per_s": rate, "speed": 60.0, "book_interval_ms": 1000,
                  "start_ms": 1_767_225_600_000},
    "health": {"interval_s": 1.0, "stderr": False},
})

async def pause(self, window_s):
    await trio.sleep(window_s)

async def main():
    stop = trio.Event()
    async with trio.open_nursery() as n:
        await n.start(lambda task_status: run_live(
            config, handle_signals=False, stop=stop, task_status=task_status))
        await trio.sleep(seconds)
        stop.set()

with contextlib.ExitStack() as stack:
    if variant == "pause":
        stack.enter_context(patched(LiveFeed, "gather", pause))
    trio.run(main)
usage = resource.getrusage(resource.RUSAGE_SELF)
health = latest_by_actor(root / "logs" / "health.jsonl")
out = {"cpu_s": usage.ru_utime + usage.ru_stime}
for actor in ("cvd", "vwap"):
    c = health[("BTC-USDT-SWAP", actor)]["counters"]
    out[actor] = {k: c.get(k, 0) for k in ("lagged", "replayed", "trades_in")}
out["trades_written"] = health[("BTC-USDT-SWAP", "trade_writer")]["counters"]["trades_written"]
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.feed_gather")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rates", default="10,50", help="trades per market second, comma-separated")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    for r in range(1, args.rounds + 1):
        for rate in (float(x) for x in args.rates.split(",")):
            for variant in ("pause", "gather"):
                cmd = [sys.executable, "-c", _CHILD, variant, str(rate), str(args.seconds)]
                out = _run(cmd, log=failures_only)
                if "error" in out:
                    continue
                cvd, vwap = out["cvd"], out["vwap"]
                print(
                    f"round {r}  trades_per_s {rate:g}  {variant:6}  "
                    f"lagged cvd {cvd['lagged']:3} vwap {vwap['lagged']:3}  "
                    f"re-read cvd {cvd['replayed']:7} vwap {vwap['replayed']:7}  "
                    f"live cvd {cvd['trades_in']:7}  written {out['trades_written']:7} "
                    f"({out['trades_written'] / args.seconds:.0f}/s)  "
                    f"CPU {out['cpu_s']:.1f} s"
                )


if __name__ == "__main__":
    main()
