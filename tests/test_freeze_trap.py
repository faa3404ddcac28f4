"""`bench.freeze_trap`: a cycle frozen alive and dropped later is counted (and freed) at the
next freeze; without the variable `rq-run`'s own `tune_gc` is left in place."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from bench import freeze_trap
from rq_actors.io import health


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.fixture
def gc_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def _cycles(n: int) -> list[_Node]:
    nodes = []
    for _ in range(n):
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        nodes.append(a)
    return nodes


@pytest.mark.usefixtures("gc_restored")
def test_a_cycle_dropped_after_a_freeze_is_counted_as_trapped(tmp_path: Path) -> None:
    log = tmp_path / "trapped.jsonl"
    freeze_trap.tune_gc_counting(log)  # frees what earlier tests' freezes may have trapped
    kept = _cycles(300)
    freeze_trap.tune_gc_counting(log)  # freezes them alive
    assert gc.get_freeze_count() > 0
    freeze_trap.tune_gc_counting(log)  # nothing dropped since: a control
    del kept  # garbage now, but frozen: only an unfreeze can let a collection see it
    freeze_trap.tune_gc_counting(log)
    lines = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    control, dropped = lines[2]["trapped"], lines[3]["trapped"]
    assert control < 600
    assert dropped >= 600  # two nodes per cycle
    assert gc.get_threshold() == health.GC_THRESHOLDS


@pytest.mark.usefixtures("gc_restored")
def test_install_replaces_tune_gc_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(health, "tune_gc", health.tune_gc)  # restored after the test
    shipped = health.tune_gc
    monkeypatch.delenv("RQ_SOAK_TRAPPED_LOG", raising=False)
    freeze_trap.install_from_env()
    assert health.tune_gc is shipped
    monkeypatch.setenv("RQ_SOAK_TRAPPED_LOG", str(tmp_path / "t.jsonl"))
    freeze_trap.install_from_env()
    assert health.tune_gc is not shipped
    try:
        health.tune_gc()  # as ProcessWatch calls it
    finally:
        gc.unfreeze()
    assert set(orjson.loads((tmp_path / "t.jsonl").read_bytes())) == {
        "wall_ms",
        "young",
        "trapped",
        "frozen",
    }
