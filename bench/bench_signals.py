"""Signal stream cost: `rq derive --rebuild` of the signals job alone vs the wicks job alone, on
the batch bench's generated BTC-like vault (~17 trades/s), default `[signals]` options.

    python -m bench.bench_signals [N_TRADES]

Prints trades/s, records written, the state file's size and the setups the stream reported.
"""

from __future__ import annotations

import sys
from collections import Counter

import orjson

from bench.batch import INST, ensure_vault, run_derive
from rq_actors.io.metrics.signals_job import signals_dir
from rq_actors.io.vault.paths import VaultPaths


def main(n: int) -> None:
    root = ensure_vault(n)
    paths = VaultPaths(root)
    for kind in ("wicks", "signals"):
        r = run_derive(root, (kind,))
        state = paths.state_file(kind, INST).stat().st_size
        print(
            f"{kind:8} {r['trades']:>10,} trades in {r['elapsed_s']:6.2f} s "
            f"({r['trades'] / r['elapsed_s']:>9,.0f}/s, cpu {r['cpu_s']:.2f} s), "
            f"{r['records']:>8,} records, state {state / 1024:,.0f} KiB"
        )
    events: Counter[str] = Counter()
    for path in sorted(signals_dir(paths, INST).glob("*.jsonl")):
        events.update(orjson.loads(line)["event"] for line in path.read_bytes().splitlines())
    print("signal events:", dict(sorted(events.items())))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000)
