"""`python -m bench --quick` runs to the end and prints every section of the table.

Smoke only: no figure is checked (timings on a shared machine prove nothing). The peer
(cryptofeed) and the dataframe engines (polars, DuckDB) are optional and reported as not run
when they are missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # process-level or long end-to-end runs

ROOT = Path(__file__).resolve().parent.parent

ROWS = (
    "e2e: floor, orjson.loads",
    "e2e: rq_actors parse+book core",
    "e2e: rq_actors end to end",
    "e2e: trades / book messages",
    "e2e: CPU s per 1M frames",
    "e2e: peak RSS (2 instruments)",
    "burst: rq_actors end to end",
    "realistic: frame -> trade in vault",
    "realistic: frame -> book updated",
    "10x burst: frame -> trade in vault",
    "scale: 5 instr.",
    "scale: most instruments sustained",
    "batch: rq derive --rebuild cvd,candles",
    "batch: rq derive --rebuild (all",
)


@pytest.mark.timeout(300)
def test_bench_quick_prints_the_table(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(tmp_path / "results.json")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    for row in ROWS:
        assert row in out, f"missing row {row!r} in:\n{out}"
    assert "error" not in out.lower(), out
    assert (tmp_path / "results.json").exists()


def test_bench_user_corpus(tmp_path: Path) -> None:
    """`--corpus FILE` takes any file of raw frames (here: a few generated ones plus junk)."""
    from bench import corpus as corpora

    spec = corpora.CorpusSpec("t", {"BTC-USDT-SWAP": 5.0}, 3.0, seed=3)
    frames = tmp_path / "frames.jsonl"
    lines = list(corpora.frames(spec))
    frames.write_text("\n".join([*lines, '{"event":"subscribe"}', "not json"]) + "\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--corpus", str(frames)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "corpus: rq_actors end to end" in proc.stdout
    assert "corpus: frames not for this config" in proc.stdout
