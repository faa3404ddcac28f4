"""`python -m bench`: throughput, latency, memory and scale, side by side with a peer and the floor.

    python -m bench                  # the full table (~10 min on 2 cores)
    python -m bench --quick          # a tiny version (CI smoke, < 20 s)
    python -m bench --corpus FILE    # your own raw OKX frames (one per line) through the pipeline
    python -m bench --profile        # cProfile of the end-to-end and batch paths: top hot spots

Every figure is measured in its own process; floor, rq_actors and the peer run interleaved over
the same frames, so their ratios are comparable even on a noisy machine. Raw results go to
`bench/out/results.json`. See docs/PERFORMANCE.md for the method and the targets.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson

from bench import corpus as corpora
from bench import suite
from bench.report import Table, machine


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _user_corpus(path: Path, channel: str, rounds: int) -> Table:
    """Frames of `books` and the configured trades channel (what a subscription would deliver)
    go to every contender; the rest are counted and left out."""
    corpora.OUT.mkdir(parents=True, exist_ok=True)
    selected = corpora.OUT / f"user_{path.stem}.{channel}.jsonl"
    kept = corpora.select(path, {"books", channel}, selected)
    total = sum(1 for _ in corpora.iter_lines(path))
    meta = corpora.meta_path(path)
    rows = orjson.loads(meta.read_bytes()) if meta.exists() else corpora.read_meta(selected)
    meta = corpora.meta_path(selected)
    meta.write_bytes(orjson.dumps(rows))
    st = corpora.stats(selected)
    res = suite.throughput(selected, meta, rounds, channel, _log)
    t = Table(
        f"{path}: {total:,} frames; {kept:,} of them books/{channel} pushes for "
        f"{', '.join(rows)}, {st['span_s']:.0f} s of event time"
    )
    t.section("your corpus, in process, no sockets")
    suite.add_throughput(t, res, "corpus", targets=False, n_inst=len(rows))
    t.add("corpus: frames not for this config", f"{total - kept:,}")
    ours = res["ours"]
    if "error" not in ours:
        t.add("corpus: quarantined / book gaps", f"{ours['quarantined']:,} / {ours['book_gaps']:,}")
        t.add(
            "corpus: trades written, snapshots",
            f"{ours['trades_written']:,}, {ours['snapshots_written']:,}",
        )
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (CI smoke)")
    ap.add_argument("--corpus", type=Path, help="a file of raw OKX text frames, one per line")
    ap.add_argument("--trades-channel", default="trades-all", choices=("trades-all", "trades"))
    ap.add_argument("--rounds", type=int, help="throughput rounds (best of)")
    ap.add_argument("--profile", action="store_true", help="profile e2e and batch paths")
    ap.add_argument("--json", type=Path, default=corpora.OUT / "results.json")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.profile:
        from bench import profile

        profile.main(quick=args.quick)
        return 0
    if args.corpus is not None:
        if not args.corpus.exists():
            ap.error(f"no such file: {args.corpus}")
        print(_user_corpus(args.corpus, args.trades_channel, args.rounds or 1).render())
        return 0
    plan = suite.QUICK if args.quick else suite.Plan()
    if args.rounds:
        import attrs

        plan = attrs.evolve(plan, rounds=args.rounds)
    mach = machine()
    res = suite.run_all(plan, _log)
    res["machine"] = mach
    res["wall_s"] = time.perf_counter() - t0
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_bytes(orjson.dumps(res, option=orjson.OPT_INDENT_2))
    print(suite.table(res, mach).render())
    print(f"(total {res['wall_s']:.0f} s; raw results in {args.json})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
