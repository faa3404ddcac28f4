"""Where the time goes: `python -m bench --profile [--quick]`.

1. Stage costs, measured synchronously on the realistic corpus' frames with the project's own
   functions (no trio): what each step of the live path costs per frame of its kind. The end to
   end time per frame minus their sum is the cost of the actor shell (channel hops, task
   switches, checkpoints, health counters).
2. cProfile of the end-to-end run (top functions by own time) and of `rq derive --rebuild`.
3. Stage costs of the batch path: reading the vault into `Trade`s vs each calculator.
"""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench import batch, drive, suite, whatif
from bench import corpus as corpora
from bench.harness import bench_config
from rq_actors.core.book.parse import parse_row
from rq_actors.core.book.record import encode_record
from rq_actors.core.book.sync import BookSync
from rq_actors.core.okx.trades import parse_trade_row
from rq_actors.core.okx.ws_protocol import Push, classify
from rq_actors.core.trades.record import encode_trade
from rq_actors.core.trades.sequencer import TradeSequencer
from rq_actors.io.instruments import parse_instrument_row
from rq_actors.io.metrics.jobs import make_job
from rq_actors.io.vault.files import JsonlAppender
from rq_actors.io.vault.load import iter_trades
from rq_actors.io.vault.paths import VaultPaths


def _time(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def live_stages(frames: Path, meta: Path) -> list[tuple[str, int, float]]:
    """(stage, items, seconds) for every step of the live path, run without trio."""
    rows = orjson.loads(meta.read_bytes())
    texts = list(corpora.iter_lines(frames))
    pushes = [classify(t) for t in texts]
    books = [
        (p.arg.inst_id, p.action, p.rows[0])
        for p in pushes
        if isinstance(p, Push) and p.arg.channel == "books"
    ]
    trade_rows = [
        (p.arg.inst_id, p.rows[0])
        for p in pushes
        if isinstance(p, Push) and p.arg.channel != "books"
    ]
    metas = {i: parse_instrument_row(i, r) for i, r in rows.items()}
    out: list[tuple[str, int, float]] = []
    # The prepared inputs stay alive: keep the collector from walking them (the live process
    # frees each frame at once).
    gc.collect()
    gc.freeze()

    def classify_all() -> None:
        for t in texts:
            classify(t)

    out.append(("classify (orjson.loads + Push), all frames", len(texts), _time(classify_all)))
    syncs = {i: BookSync(i) for i in rows}
    msgs = []

    def book_apply() -> None:
        for inst, action, row in books:
            msg = parse_row(row, action)
            syncs[inst].on_message(msg)
            msgs.append((inst, msg.ts_ms))

    out.append(("book: parse_row + BookSync.on_message", len(books), _time(book_apply)))
    with tempfile.TemporaryDirectory() as tmp:
        paths = VaultPaths(Path(tmp))
        snap_out = JsonlAppender()
        n_snap = len({(inst, ts // 2000) for inst, ts in msgs})  # one record per 2 s per book

        def snapshots() -> None:  # the current book, n_snap times (what the actor writes)
            inst = next(iter(syncs))
            path = paths.l2_file(inst, msgs[-1][1])
            for _ in range(n_snap):
                snap_out.append(path, [encode_record(syncs[inst].record())])

        out.append(("book: snapshot record + write, per record", n_snap, _time(snapshots)))
        seqs = {i: TradeSequencer(None) for i in rows}
        parsed: list[Any] = []

        def trade_parse() -> None:
            for inst, row in trade_rows:
                t = parse_trade_row(row, inst)
                seq = seqs[inst]
                seq.offer([t], 0.0)
                parsed.extend(seq.release().trades)

        out.append(("trades: parse_trade_row + sequencer", len(trade_rows), _time(trade_parse)))
        apps = {i: JsonlAppender() for i in rows}

        def trade_write() -> None:
            for t in parsed:
                path = paths.trades_file(t.inst_id, t.ts_ms)
                apps[t.inst_id].append(path, [encode_trade(t, metas[t.inst_id])])

        out.append(
            ("trades: path + encode_trade + append (1 per frame)", len(parsed), _time(trade_write))
        )
        config = bench_config(list(rows), Path(tmp), "trades-all")
        for kind in ("cvd", "vwap", "candles", "wicks"):
            jobs = {i: make_job(kind, config, metas[i], paths) for i in rows}

            def derive(jobs: dict[str, Any] = jobs) -> None:
                for t in parsed:
                    jobs[t.inst_id].process([t])

            out.append(
                (f"derived: {kind} job.process([trade]) (batch of 1)", len(parsed), _time(derive))
            )
    gc.unfreeze()
    return out


def batch_stages(root: Path) -> list[tuple[str, int, float]]:
    paths = VaultPaths(root)
    files = batch.trade_files(root)
    out: list[tuple[str, int, float]] = []
    n = sum(1 for _ in iter_trades(paths, batch.INST))

    def loads_only() -> None:
        for name in files:
            with open(name, "rb") as f:
                for line in f:
                    orjson.loads(line)

    out.append(("read lines + orjson.loads (floor)", n, _time(loads_only)))
    trades: list[Any] = []
    out.append(
        (
            "iter_trades: vault -> Trade (merge, validate)",
            n,
            _time(lambda: trades.extend(iter_trades(paths, batch.INST))),
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        tpaths = VaultPaths(Path(tmp))
        config = bench_config([batch.INST], Path(tmp), "trades-all")
        meta = parse_instrument_row(batch.INST, _row())
        for kind in ("cvd", "vwap", "candles", "wicks"):
            job = make_job(kind, config, meta, tpaths)

            def feed(job: Any = job) -> None:
                for i in range(0, len(trades), 20_000):
                    job.process(trades[i : i + 20_000])

            out.append((f"{kind}: job.process, chunks of 20k", n, _time(feed)))
    return out


def _row() -> dict[str, Any]:
    return corpora.instrument_rows([batch.INST])[batch.INST]


def _print_stages(title: str, stages: list[tuple[str, int, float]], total_us: float | None) -> None:
    print(title)
    for name, n, sec in stages:
        print(f"  {name:<52} {n:>9,} x {1e6 * sec / max(n, 1):8.2f} us = {sec:7.3f} s")
    if total_us is not None:
        print(f"  {'(end to end, per frame, for comparison)':<52} {total_us:20.2f} us")


def _cprofile(fn: Callable[[], Any], top: int) -> str:
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    text = buf.getvalue()
    return text[text.find("   ncalls") :]


def main(quick: bool = False) -> None:
    plan = suite.QUICK if quick else suite.Plan()
    frames, meta, st = suite.prepare(corpora.realistic(plan.corpus_s), "trades-all")
    rows = orjson.loads(meta.read_bytes())
    e2e = drive.throughput(frames, rows)
    per_frame = 1e6 * e2e["elapsed_s"] / e2e["frames"]
    stages = live_stages(frames, meta)
    _print_stages(f"live path stage costs ({st['frames']:,} frames)", stages, per_frame)
    work = sum(sec for _, _, sec in stages)
    print(
        f"  sum of stages {1e6 * work / st['frames']:.1f} us/frame; end to end "
        f"{per_frame:.1f} us/frame -> actor shell {per_frame - 1e6 * work / st['frames']:.1f} "
        "us/frame"
    )
    print("\nwhat-if, end to end with prototype fixes patched in (us per frame, best of 2):")
    for name, us in whatif.e2e_variants(frames, rows):
        print(f"  {name:<52} {us:8.1f} us/frame")
    print("\ncProfile, end to end (top by own time):")
    print(_cprofile(lambda: drive.throughput(frames, rows), 30))
    root = batch.ensure_vault(20_000 if quick else 300_000)
    _print_stages("batch path stage costs", batch_stages(root), None)
    _print_stages("what-if, batch with a prototype vault reader", whatif.batch_variants(root), None)
    print("\ncProfile, rq derive --rebuild (all kinds, top by own time):")
    print(_cprofile(lambda: batch.run_derive(root, batch.ALL_KINDS), 25))
