"""What-if: the derived actors' coalescing window and state-save interval at scale.

    python -m bench.derived_wakeups --n 100 --rounds 2

Runs the paced scale worker (`bench.worker.scale`) in a fresh process per variant, with
`hooks.DEFAULT_COALESCE_S` and `group.actor_state_interval` patched in that process only, and
prints CPU seconds per variant, interleaved per round so the ratios within a round are fair.
"""

from __future__ import annotations

import argparse
import sys

from bench.suite import _run, failures_only

VARIANTS = ((0.05, 0.0), (0.25, 0.0), (0.25, 30.0))  # (coalesce s, state interval s; 0 = as is)

_CHILD = """
import contextlib, json, sys
import rq_actors.actors.hooks as hooks
import rq_actors.actors.group as group
from bench import worker
from bench.whatif import patched
co, st, n = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
with contextlib.ExitStack() as stack:
    stack.enter_context(patched(hooks, "DEFAULT_COALESCE_S", co))
    if st:
        stack.enter_context(patched(group, "actor_state_interval", lambda name: st))
    out = worker.scale(n, 8.0, 12.0, 7)
print(json.dumps({"cpu_s": out["cpu_s"], "p99_ms": out["trade_latency"]["p99_ms"]}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.derived_wakeups")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    for r in range(1, args.rounds + 1):
        for co, st in VARIANTS:
            cmd = [sys.executable, "-c", _CHILD, str(co), str(st), str(args.n)]
            out = _run(cmd, log=failures_only)
            if "error" in out:
                continue
            state = f"{st:g} s" if st else "as is"
            print(
                f"round {r}  coalesce {co * 1000:.0f} ms  state {state:6}  "
                f"CPU {out['cpu_s']:.2f} s  p99 frame->vault {out['p99_ms']:.0f} ms"
            )


if __name__ == "__main__":
    main()
