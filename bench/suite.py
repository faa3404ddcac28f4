"""Runs the measurements (each in its own process) and turns them into the table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs

from bench import corpus as corpora
from bench.report import Table, num, ratio, verdict

ROOT = Path(__file__).resolve().parent.parent
PEER_SCRIPT = Path(__file__).resolve().parent / "peer_cryptofeed.py"
DEFAULT_PEER_PYTHON = "/tmp/benchenv/bin/python"


@attrs.frozen
class Plan:
    corpus_s: float = 600.0  # realistic corpus for throughput
    burst_s: float = 60.0
    rounds: int = 3  # floor / ours / peer, interleaved; best of each
    latency_s: float = 20.0
    burst_latency_s: float = 10.0
    # up to the targets (500 major-like, 1,000 long tail); stops at the first failure
    scale_ns: tuple[int, ...] = (10, 50, 100, 250, 500)
    scale_s: float = 10.0
    scale_rate: float = 12.0  # taker orders/s per instrument (~25 fills/s) + books every 100 ms
    tail_ns: tuple[int, ...] = (250, 500, 1000)  # the same, at a long-tail altcoin rate
    tail_rate: float = 1.0  # taker orders/s per instrument (~2 fills/s) + books every 100 ms
    batch_trades: int = 2_000_000


QUICK = Plan(
    corpus_s=30.0,
    burst_s=5.0,
    rounds=1,
    latency_s=2.0,
    burst_latency_s=2.0,
    scale_ns=(5,),
    scale_s=2.0,
    tail_ns=(),
    batch_trades=20_000,
)


def peer_python() -> str | None:
    exe = os.environ.get("RQ_BENCH_PEER_PYTHON", DEFAULT_PEER_PYTHON)
    return exe if Path(exe).exists() else None


def _run(cmd: list[str], log: Any) -> dict[str, Any]:
    log(f"  $ {' '.join(str(c) for c in cmd[1:])}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        log(f"    failed (exit {proc.returncode}): {' | '.join(tail)}")
        return {"error": " | ".join(tail)}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def failures_only(line: str) -> None:
    """A `_run` log that prints only failures (it also echoes the command: a child's source)."""
    if line.lstrip().startswith("failed"):
        print(line)


def worker(args: list[str], log: Any) -> dict[str, Any]:
    return _run([sys.executable, "-m", "bench.worker", *args], log)


def peer(frames: Path, meta: Path, log: Any) -> dict[str, Any] | None:
    exe = peer_python()
    if exe is None:
        return None
    return _run([exe, str(PEER_SCRIPT), "--corpus", str(frames), "--meta", str(meta)], log)


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r]
    return min(ok, key=lambda r: r["elapsed_s"]) if ok else (runs[0] if runs else {})


def throughput(frames: Path, meta: Path, rounds: int, channel: str, log: Any) -> dict[str, Any]:
    """Floor, ours and the peer over the same frames, interleaved `rounds` times."""
    floors, cores, ours, captures, peers = [], [], [], [], []
    e2e = ["e2e", "--corpus", str(frames), "--meta", str(meta), "--trades-channel", channel]
    for i in range(rounds):
        log(f"throughput round {i + 1}/{rounds}")
        floors.append(worker(["floor", "--corpus", str(frames)], log))
        cores.append(worker(["core", "--corpus", str(frames), "--meta", str(meta)], log))
        ours.append(worker(e2e, log))
        captures.append(worker([*e2e, "--capture-only"], log))
        p = peer(frames, meta, log)
        if p is not None:
            peers.append(p)
    return {
        "floor": _best(floors),
        "core": _best(cores),
        "ours": _best(ours),
        "capture": _best(captures),
        "peer": _best(peers) if peers else None,
    }


def prepare(spec: corpora.CorpusSpec, channel: str) -> tuple[Path, Path, dict[str, Any]]:
    """Generate the corpus if needed and select what a `channel` config subscribes to."""
    path = corpora.ensure(spec)
    selected = path.with_name(path.stem + f".{channel}.jsonl")
    if not selected.exists():
        corpora.select(path, {"books", channel}, selected)
    meta = corpora.write_meta(selected, list(spec.instruments))
    return selected, meta, corpora.stats(selected)


def run_all(plan: Plan, log: Any) -> dict[str, Any]:
    res: dict[str, Any] = {"plan": attrs.asdict(plan)}
    channel = "trades-all"
    frames, meta, st = prepare(corpora.realistic(plan.corpus_s), channel)
    res["corpus"] = {"file": str(frames.relative_to(ROOT)), **st}
    res["throughput"] = throughput(frames, meta, plan.rounds, channel, log)
    bframes, bmeta, bst = prepare(corpora.burst(plan.burst_s), channel)
    res["burst_corpus"] = {"file": str(bframes.relative_to(ROOT)), **bst}
    res["burst_throughput"] = throughput(bframes, bmeta, 1, channel, log)
    log("latency (paced in real time)")
    res["latency"] = worker(
        ["latency", "--corpus", str(frames), "--meta", str(meta), "--window", str(plan.latency_s)],
        log,
    )
    res["latency_burst"] = worker(
        [
            "latency",
            "--corpus",
            str(bframes),
            "--meta",
            str(bmeta),
            "--window",
            str(plan.burst_latency_s),
        ],
        log,
    )
    res["scale"] = scale(plan, plan.scale_ns, plan.scale_rate, log)
    res["scale_tail"] = scale(plan, plan.tail_ns, plan.tail_rate, log)
    log(f"batch: derive vs polars / DuckDB over {plan.batch_trades:,} trades")
    res["batch"] = worker(["batch", "--trades", str(plan.batch_trades)], log)
    return res


def scale(
    plan: Plan, ns: tuple[int, ...], rate: float, log: Any, *, bisect: bool = True
) -> list[dict[str, Any]]:
    """Up the instrument counts until lag breaks 1 s; then one bisection step."""
    out: list[dict[str, Any]] = []
    good, bad = 0, None
    for n in ns:
        r = _scale_one(n, plan, rate, log)
        out.append(r)
        if not r.get("sustained"):
            bad = n
            break
        good = n
    if bisect and bad is not None and good and bad - good > 20:
        out.append(_scale_one((good + bad) // 2, plan, rate, log))
    return sorted(out, key=lambda r: r.get("instruments", 0))


def _scale_one(n: int, plan: Plan, rate: float, log: Any) -> dict[str, Any]:
    log(f"scale: {n} instruments at {rate:g} taker orders/s each, for {plan.scale_s:g} s")
    r = worker(["scale", "--n", str(n), "--seconds", str(plan.scale_s), "--rate", str(rate)], log)
    if "error" not in r:
        lags = (r["trade_latency"]["p99_ms"] or 0, r["book_latency"]["p99_ms"] or 0)
        r["sustained"] = max(lags) < 1000 and r["queue_overflows"] == 0
    return r


# ---- the table -------------------------------------------------------------------------------


def rate(r: dict[str, Any] | None, key: str = "frames") -> float:
    if not r or "error" in r or not r.get("elapsed_s"):
        return float("nan")
    return r[key] / r["elapsed_s"]


def us_per(r: dict[str, Any] | None) -> float:
    return 1e6 / rate(r) if r and rate(r) == rate(r) else float("nan")


def add_throughput(
    t: Table, tp: dict[str, Any], label: str, targets: bool, n_inst: int = 2
) -> None:
    floor, ours, pr = tp["floor"], tp["ours"], tp.get("peer")
    if pr and "error" in pr:
        t.add(f"{label}: peer failed", pr["error"][:80])
        pr = None
    f_rate, o_rate, p_rate = rate(floor), rate(ours), rate(pr)
    t.add(f"{label}: floor, orjson.loads", f"{num(f_rate)} fr/s, {us_per(floor):.1f} us/fr")
    if pr:
        t.add(
            f"{label}: peer, cryptofeed OKX + C book",
            f"{num(p_rate)} fr/s, {us_per(pr):.1f} us/fr",
            vs_floor=ratio(f_rate, p_rate) + " slower",
        )
    else:
        t.add(f"{label}: peer, cryptofeed", "not run (no peer venv)")
    core = tp.get("core")
    if core and "error" not in core:
        t.add(
            f"{label}: rq_actors parse+book core, no actors/I/O",
            f"{num(rate(core))} fr/s, {us_per(core):.1f} us/fr",
            vs_floor=ratio(f_rate, rate(core)) + " slower",
            vs_peer=ratio(rate(core), p_rate),
        )
    capture = tp.get("capture")
    if capture and "error" not in capture:
        t.add(
            f"{label}: rq_actors capture (parse+book+trade write, no derived)",
            f"{num(rate(capture))} fr/s, {us_per(capture):.1f} us/fr",
            vs_floor=ratio(f_rate, rate(capture)) + " slower",
            vs_peer=ratio(rate(capture), p_rate),
        )
    ok_peer = (o_rate >= p_rate) if (pr and targets) else None
    ok_floor = (f_rate / o_rate <= 10) if targets else None
    t.add(
        f"{label}: rq_actors end to end",
        f"{num(o_rate)} fr/s, {us_per(ours):.1f} us/fr",
        vs_floor=ratio(f_rate, o_rate) + " slower",
        vs_peer=ratio(o_rate, p_rate),
        target=">= 1x peer, <= 10x floor" if targets else "",
        verdict=verdict(None if ok_peer is None else (ok_peer and bool(ok_floor))),
    )
    if "error" in ours:
        t.add(f"{label}: rq_actors error", ours["error"][:80])
        return
    t.add(
        f"{label}: trades / book messages",
        f"{num(rate(ours, 'trades_written'))} tr/s, {num(rate(ours, 'book_frames'))} bk/s",
        vs_peer=ratio(rate(ours, "trades_written"), rate(pr, "trades")) if pr else "",
    )
    cpu = 1e6 * ours["cpu_s"] / ours["frames"]
    cpu_p = 1e6 * pr["cpu_s"] / pr["frames"] if pr else float("nan")
    cpu_f = 1e6 * floor["cpu_s"] / floor["frames"] if "cpu_s" in floor else float("nan")
    t.add(
        f"{label}: CPU s per 1M frames",
        f"{cpu:,.0f} s (peer {num(cpu_p)}, floor {cpu_f:,.1f})",
        vs_floor=ratio(cpu, cpu_f),
        vs_peer=ratio(cpu, cpu_p),
    )
    rss_ok = ours["rss_peak_mb"] < 250 if targets else None
    t.add(
        f"{label}: peak RSS ({n_inst} instruments)",
        f"{ours['rss_peak_mb']:.0f} MB" + (f" (peer {pr['rss_peak_mb']:.0f})" if pr else ""),
        target="< 250 MB" if targets else "",
        verdict=verdict(rss_ok),
    )


def add_latency(t: Table, r: dict[str, Any], label: str, limit_ms: float) -> None:
    if "error" in r:
        t.add(f"{label}: error", r["error"][:80])
        return
    for what, key in (
        ("frame -> trade in vault", "trade_latency"),
        ("frame -> book updated", "book_latency"),
    ):
        p = r[key]
        ok = p["p99_ms"] < limit_ms if key == "trade_latency" else None
        t.add(
            f"{label}: {what}",
            f"p50 {p['p50_ms']:.2f} / p99 {p['p99_ms']:.2f} / max {p['max_ms']:.1f} ms",
            target=f"p99 < {limit_ms:g} ms" if ok is not None else "",
            verdict=verdict(ok),
        )
    t.add(
        f"{label}: offered load, CPU",
        f"{r['frames'] / max(r['span_s'], 1e-9):,.0f} fr/s, {100 * r['cpu_util']:.0f} % of a core",
    )


def add_scale(t: Table, rows: list[dict[str, Any]], label: str, target: int | None) -> None:
    """`target`: the instrument count to sustain (issue #14: 500 major-like, 1,000 long tail)."""
    best = max((r["instruments"] for r in rows if r.get("sustained")), default=0)
    for r in rows:
        if "error" in r:
            t.add(f"{label}: error", r["error"][:80])
            continue
        lag = max(r["trade_latency"]["p99_ms"], r["book_latency"]["p99_ms"])
        mx = max(r["trade_latency"]["max_ms"], r["book_latency"]["max_ms"])
        per = r["trades_per_s_per_instrument"]
        t.add(
            f"{label}: {r['instruments']} instr. x {per:.0f} tr/s + 10 bk/s",
            f"{r['frames_per_s_offered']:,.0f} fr/s, CPU {100 * r['cpu_util']:.0f} %, "
            f"lag p99 {lag:,.0f} / max {mx:,.0f} ms, start-up {r['startup_max_ms']:,.0f} ms",
            target="lag < 1 s",
            verdict="met" if r.get("sustained") else "NOT met",
        )
    if rows:
        t.add(
            f"{label}: most instruments sustained",
            f"{best}",
            target=f">= {target:,}" if target else "",
            verdict=verdict(best >= target) if target else "",
        )


def _per_s(n: int, r: dict[str, Any]) -> float:
    return n / r["elapsed_s"] if r.get("elapsed_s") else float("nan")


def add_batch(t: Table, b: dict[str, Any]) -> None:
    if "error" in b:
        t.add("batch: error", b["error"][:80])
        return
    n = b["trades"]
    ours = n / b["derive_cvd_candles"]["elapsed_s"]
    full = n / b["derive_all"]["elapsed_s"]
    pol, duck = _per_s(n, b["polars"]), _per_s(n, b["duckdb"])
    t.add(
        "batch: polars 1m CVD + candles (6 tfs)",
        num(pol, "tr/s") if pol == pol else b["polars"].get("skipped", "n/a"),
    )
    t.add(
        "batch: DuckDB, same query",
        num(duck, "tr/s") if duck == duck else b["duckdb"].get("skipped", "n/a"),
    )
    ok = ours >= pol / 3 and ours >= 1e6 if pol == pol else None
    t.add(
        "batch: rq derive --rebuild cvd,candles",
        f"{num(ours)} tr/s",
        vs_peer=f"{ours / pol:.2f}x polars" if pol == pol else "",
        target=">= 1/3 polars, >= 1M tr/s",
        verdict=verdict(ok),
    )
    t.add(
        "batch: rq derive --rebuild (all: " + ",".join(b["derive_all"]["kinds"]) + ")",
        f"{num(full)} tr/s",
        vs_peer=f"{full / pol:.2f}x polars" if pol == pol else "",
    )
    t.add("batch: polars result vs ours (1m delta, close)", b["polars_check"])


def table(res: dict[str, Any], machine: dict[str, Any]) -> Table:
    c = res["corpus"]
    t = Table(
        f"rq_actors benchmarks - {machine['nproc']} x {machine['cpu']}, {machine['ram_gb']} GB, "
        f"Python {machine['python']}\ncorpus {c['file']}: {c['frames']:,} frames "
        f"({c['channels']}), {c['span_s']:.0f} s of 2 instruments"
    )
    t.section("end to end, realistic rate (in process, no sockets)")
    add_throughput(t, res["throughput"], "e2e", targets=True)
    t.section("end to end, 10x burst corpus")
    add_throughput(t, res["burst_throughput"], "burst", targets=False)
    t.section("latency, frames paced in real time")
    add_latency(t, res["latency"], "realistic", 5.0)
    add_latency(t, res["latency_burst"], "10x burst", 50.0)
    t.section("scale: one process, N instruments paced in real time (tr = trades, bk = books)")
    add_scale(t, res["scale"], "scale", target=500)
    add_scale(t, res.get("scale_tail", []), "long tail", target=1000)
    t.section(f"batch, {res['batch'].get('trades', 0):,} BTC-like trades")
    add_batch(t, res["batch"])
    return t
