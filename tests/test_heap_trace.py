"""`bench.heap_trace`: snapshots dumped whole on a timer, and a report naming the site that grew."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from bench.heap_trace import report

_KEPT: list[object] = []


def _grow(n: int) -> None:
    _KEPT.extend(object() for _ in range(n))  # the allocation site the report must name


def test_report_names_the_site_that_gained_blocks(tmp_path: Path) -> None:
    tracemalloc.start(12)
    try:
        tracemalloc.take_snapshot().dump(str(tmp_path / "snap-000.tm"))
        _grow(5000)
        tracemalloc.take_snapshot().dump(str(tmp_path / "snap-001.tm"))
    finally:
        tracemalloc.stop()
        _KEPT.clear()
    text = report(tmp_path / "snap-000.tm", tmp_path / "snap-001.tm", top=1)
    first_site = text.split("\n\n")[1]
    gained = int(first_site.split(" blocks")[0].replace(",", ""))
    assert 5000 <= gained < 5100
    assert f"{__file__}:{_grow.__code__.co_firstlineno + 1}" in first_site


def test_off_without_the_variable_and_dumps_whole_snapshots_with_it(tmp_path: Path) -> None:
    code = (
        "import time, tracemalloc; from bench.heap_trace import start_from_env; start_from_env()\n"
        "print(tracemalloc.is_tracing()); time.sleep(0.6)\n"
        "kept = [object() for _ in range(1000)]  # made after tracing began\n"
        "time.sleep(1.6); print(tracemalloc.is_tracing())"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RQ_HEAP_TRACE")}
    off = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert off.stdout.split() == ["False", "False"], off.stderr

    folder = tmp_path / "trace"
    env |= {"RQ_HEAP_TRACE_DIR": str(folder), "RQ_HEAP_TRACE_EVERY_S": "0.5"}
    env |= {"RQ_HEAP_TRACE_AFTER_S": "0.1", "RQ_HEAP_TRACE_FRAMES": "3"}
    on = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert on.stdout.split() == ["False", "True"], on.stderr  # tracing began after the delay
    snaps = sorted(p.name for p in folder.glob("snap-*.tm"))  # a dump cut off by exit is hidden
    assert snaps[:2] == ["snap-000.tm", "snap-001.tm"]
    loaded = [tracemalloc.Snapshot.load(str(folder / name)) for name in snaps]  # all whole
    snapshot = loaded[-1]  # taken after `kept` was made
    assert snapshot.traceback_limit == 3
    assert (
        sum(s.count for s in snapshot.statistics("lineno") if s.traceback[0].filename == "<string>")
        >= 1000
    )


@pytest.mark.parametrize("count", [0, 1])
def test_fewer_than_two_snapshots_is_one_line_not_a_traceback(tmp_path: Path, count: int) -> None:
    tracemalloc.start()
    try:
        for n in range(count):
            tracemalloc.take_snapshot().dump(str(tmp_path / f"snap-{n:03d}.tm"))
    finally:
        tracemalloc.stop()
    done = subprocess.run(
        [sys.executable, "-m", "bench.heap_trace", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert f"holds {count} snapshot(s); two are needed" in done.stderr
    assert "Traceback" not in done.stderr
