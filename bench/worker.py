"""One measurement per process (clean peak RSS and CPU time): `python -m bench.worker KIND ...`.

Prints one JSON object on stdout. The orchestrator (`python -m bench`) runs these side by side.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bench import corpus as corpora
from bench import drive


def floor(path: Path) -> dict[str, Any]:
    """The floor: read each line and `orjson.loads` it, nothing else."""
    loads = orjson.loads
    n = 0
    t0, c0 = time.perf_counter(), time.process_time()
    bad = 0
    for text in corpora.iter_lines(path):
        n += 1
        try:
            loads(text)
        except orjson.JSONDecodeError:
            bad += 1
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    # the bench's own per-frame routing (regex + ts scan), for reference
    t1 = time.perf_counter()
    for text in corpora.iter_lines(path):
        corpora.route_key(text)
        corpora.frame_ts_ms(text)
    routing = time.perf_counter() - t1
    return {
        "frames": n,
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "routing_s": routing,
        "malformed": bad,
        "rss_peak_mb": drive.rss_peak_mb(),
    }


def core(path: Path, meta: Path) -> dict[str, Any]:
    """rq_actors' own parse + book + trade validation, synchronously, nothing else: the same
    work as the peer (no actors, no channels, no files, no derived metrics)."""
    from rq_actors.core.book.parse import parse_row
    from rq_actors.core.book.sync import BookSync
    from rq_actors.core.okx.trades import parse_trade_row
    from rq_actors.core.okx.ws_protocol import Push, classify

    books = {inst: BookSync(inst) for inst in orjson.loads(meta.read_bytes())}
    n = trades = book_msgs = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for text in corpora.iter_lines(path):
        n += 1
        push = classify(text)
        if not isinstance(push, Push):
            continue
        inst = push.arg.inst_id
        if push.arg.channel == "books":
            sync = books[inst]
            for row in push.rows:
                sync.on_message(parse_row(row, push.action or ""))
                book_msgs += 1
        else:
            for row in push.rows:
                parse_trade_row(row, inst)
                trades += 1
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "frames": n,
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "trades": trades,
        "book_messages": book_msgs,
        "rss_peak_mb": drive.rss_peak_mb(),
    }


def e2e(
    path: Path, meta: Path, trades_channel: str, capture_only: bool, read_batch: int
) -> dict[str, Any]:
    rows = orjson.loads(meta.read_bytes())
    return drive.throughput(
        path, rows, trades_channel, capture_only=capture_only, read_batch=read_batch
    )


def latency(path: Path, meta: Path, window_s: float, trades_channel: str) -> dict[str, Any]:
    rows = orjson.loads(meta.read_bytes())
    items = drive.schedule(corpora.iter_lines(path), window_s)
    out = drive.paced(items, rows, stamp_scheduled=False, trades_channel=trades_channel)
    out["span_s"] = items[-1][0] if items else 0.0
    return out


def scale(n: int, seconds: float, rate: float, seed: int) -> dict[str, Any]:
    """`n` generic instruments at `rate` taker orders/s each, books every 100 ms, paced."""
    insts = corpora.scale_instruments(n)
    spec = corpora.CorpusSpec(
        f"scale{n}", dict.fromkeys(insts, rate), seconds, seed, aggregated=False
    )
    t0 = time.perf_counter()
    items = drive.schedule(corpora.frames(spec, step_ms=250), seconds)
    gen_s = time.perf_counter() - t0
    rows = corpora.instrument_rows(insts)
    out = drive.paced(items, rows, stamp_scheduled=True, warmup_s=min(2.0, seconds / 4))
    offered = sum(1 for item in items if item[1] != "books")
    out |= {
        "instruments": n,
        "generate_s": gen_s,
        "frames_per_s_offered": len(items) / seconds,
        "trades_per_s_per_instrument": offered / seconds / n,
    }
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.worker")
    sub = ap.add_subparsers(dest="kind", required=True)
    p = sub.add_parser("floor")
    p.add_argument("--corpus", type=Path, required=True)
    p = sub.add_parser("core")
    p.add_argument("--corpus", type=Path, required=True)
    p.add_argument("--meta", type=Path, required=True)
    for name in ("e2e", "latency"):
        p = sub.add_parser(name)
        p.add_argument("--corpus", type=Path, required=True)
        p.add_argument("--meta", type=Path, required=True)
        p.add_argument("--trades-channel", default="trades-all")
        p.add_argument("--window", type=float, default=20.0)
        p.add_argument("--capture-only", action="store_true", help="no derived actors")
        p.add_argument(
            "--read-batch",
            type=int,
            default=drive.READ_BATCH,
            help="frames per reader wake-up (1: one per wait, the reader before 2026-12)",
        )
    p = sub.add_parser("scale")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=12.0)
    p.add_argument("--seed", type=int, default=7)
    p = sub.add_parser("batch")
    p.add_argument("--trades", type=int, default=2_000_000)
    args = ap.parse_args(argv)
    if args.kind == "floor":
        out = floor(args.corpus)
    elif args.kind == "core":
        out = core(args.corpus, args.meta)
    elif args.kind == "e2e":
        out = e2e(args.corpus, args.meta, args.trades_channel, args.capture_only, args.read_batch)
    elif args.kind == "latency":
        out = latency(args.corpus, args.meta, args.window, args.trades_channel)
    elif args.kind == "scale":
        out = scale(args.n, args.seconds, args.rate, args.seed)
    else:
        from bench import batch

        out = batch.run(args.trades)
    sys.stdout.write(orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY).decode() + "\n")


if __name__ == "__main__":
    main()
