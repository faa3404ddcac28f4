"""Retention: the pure planner, the executor, crash safety at every step, and the actor."""

from __future__ import annotations

import gzip
import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from rq_actors.actors.retention import RetentionActor
from rq_actors.config import Config, RetentionConfig
from rq_actors.core.timefmt import MS_PER_DAY, MS_PER_HOUR
from rq_actors.io.health import null_reporter
from rq_actors.io.retention import (
    Compress,
    Delete,
    HourFile,
    RemoveTemp,
    plan_stream,
    run_retention_pass,
    temp_name,
)
from rq_actors.io.vault.paths import VaultPaths

INST = "BTC-USDT-SWAP"
H = MS_PER_HOUR
DAY0 = 1_765_670_400_000  # 2025-12-14T00:00:00Z
NOW = DAY0 + 12 * H + 30 * 60_000  # 12:30, hour 12 is current
CFG = RetentionConfig(compress_after_hours=6, delete_after_days=5)


def content(hour_ms: int) -> bytes:
    return b"".join(b'{"h":%d,"i":%d}\n' % (hour_ms, i) for i in range(50))


def make(paths: VaultPaths, hour_ms: int, *, gz: bool = False, updates: bool = False) -> Path:
    path = (paths.l2_updates_file if updates else paths.l2_file)(INST, hour_ms)
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(content(hour_ms)))
    else:
        path.write_bytes(content(hour_ms))
    return path


def listing(*specs: tuple[int, str]) -> list[HourFile]:
    root = Path("/v")
    out = []
    for hour_ms, kind in specs:
        name = {"jsonl": "HH.jsonl", "gz": "HH.jsonl.gz", "tmp": ".HH.jsonl.gz.tmp"}[kind]
        out.append(HourFile(root / str(hour_ms) / name, hour_ms, kind))  # type: ignore[arg-type]
    return out


# -- planner ----------------------------------------------------------------------------------


def test_plan_compress_age_from_end_of_hour() -> None:
    files = listing((DAY0 + 5 * H, "jsonl"), (DAY0 + 6 * H, "jsonl"), (DAY0 + 12 * H, "jsonl"))
    actions = plan_stream(files, NOW, CFG)
    # 05:00-06:00 ended 6.5 h ago; 06:00-07:00 ended 5.5 h ago.
    assert actions == [Compress(files[0].path, files[0].path.with_name("HH.jsonl.gz"))]
    exactly = plan_stream(files, DAY0 + 13 * H, CFG)  # 06:00 hour ended exactly 6 h ago
    assert [a.src for a in exactly if isinstance(a, Compress)] == [f.path for f in files[:2]]


def test_plan_never_touches_current_newest_or_future_hours() -> None:
    old_newest = listing((DAY0 - 2 * MS_PER_DAY, "jsonl"), (DAY0 - 3 * MS_PER_DAY, "jsonl"))
    actions = plan_stream(old_newest, NOW, CFG)
    assert [a.src for a in actions if isinstance(a, Compress)] == [old_newest[1].path]
    future = listing((DAY0 + 14 * H, "jsonl"), (DAY0 + 12 * H, "jsonl"), (DAY0, "jsonl"))
    assert [a.src for a in plan_stream(future, NOW, CFG)] == [future[2].path]  # type: ignore[union-attr]
    # Even absurd settings leave the newest hour alone.
    tiny = RetentionConfig(compress_after_hours=0.001, delete_after_days=0.0001)
    assert plan_stream(listing((DAY0, "jsonl")), NOW + 100 * MS_PER_DAY, tiny) == []


def test_plan_delete_after_days_and_temps_first() -> None:
    old = DAY0 - 6 * MS_PER_DAY
    files = listing(
        (old, "gz"),
        (old + H, "jsonl"),
        (DAY0 - 4 * MS_PER_DAY, "gz"),
        (DAY0, "tmp"),
        (DAY0 + 12 * H, "jsonl"),
    )
    actions = plan_stream(files, NOW, CFG)
    assert actions == [RemoveTemp(files[3].path), Delete(files[0].path), Delete(files[1].path)]


# -- executor ---------------------------------------------------------------------------------


def _hours() -> list[int]:
    return [DAY0 - 6 * MS_PER_DAY, DAY0 + 2 * H, DAY0 + 5 * H, DAY0 + 7 * H, DAY0 + 12 * H]


def _setup(tmp_path: Path) -> VaultPaths:
    paths = VaultPaths(tmp_path)
    for h in _hours():
        make(paths, h)
    make(paths, DAY0 + 3 * H, gz=True)
    make(paths, DAY0 + 3 * H, updates=True)
    make(paths, DAY0 + 12 * H, updates=True)
    return paths


def _check(paths: VaultPaths, *, final: bool) -> None:
    """Nothing lost, no half-written .gz; when `final`, also the settled layout."""
    streams = [
        (paths.l2_file, [*_hours(), DAY0 + 3 * H]),
        (paths.l2_updates_file, [DAY0 + 3 * H, DAY0 + 12 * H]),
    ]
    for path_of, hours in streams:
        for h in hours:
            plain = path_of(INST, h)
            gz = plain.with_name(plain.name + ".gz")
            expired = h < DAY0 - 5 * MS_PER_DAY
            if gz.exists():
                assert gzip.decompress(gz.read_bytes()) == content(h), gz
            if plain.exists():
                assert plain.read_bytes() == content(h), plain
            if not expired:
                assert gz.exists() or plain.exists(), f"lost hour {plain}"
            if final:
                young = h >= DAY0 + 6 * H
                assert plain.exists() == young and gz.exists() == (not young and not expired)
                assert not gz.with_name(temp_name(gz.name)).exists()


def test_full_pass(tmp_path: Path) -> None:
    paths = _setup(tmp_path)
    report = run_retention_pass(paths, [INST], CFG, NOW)
    assert report.errors == []
    assert len(report.compressed) == 3 and len(report.deleted) == 1
    assert report.bytes_out < report.bytes_in
    _check(paths, final=True)
    old_day = paths.l2_file(INST, DAY0 - 6 * MS_PER_DAY).parent
    assert not old_day.exists()  # emptied day folder removed
    again = run_retention_pass(paths, [INST], CFG, NOW)  # idempotent
    assert again.compressed == again.deleted == again.errors == []


def test_leftovers_of_a_crash_are_finished(tmp_path: Path) -> None:
    paths = VaultPaths(tmp_path)
    h1, h2, h3 = DAY0 + 1 * H, DAY0 + 2 * H, DAY0 + 3 * H
    both = make(paths, h1)
    make(paths, h1, gz=True)  # verified .gz beside its original
    stale = make(paths, h2)
    stale.with_name(stale.name + ".gz").write_bytes(gzip.compress(content(h2)[:100]))
    partial = make(paths, h3)
    tmp = partial.with_name(temp_name(partial.name + ".gz"))
    tmp.write_bytes(gzip.compress(content(h3))[:40])  # half-written temp
    make(paths, DAY0 + 12 * H)
    report = run_retention_pass(paths, [INST], CFG, NOW)
    assert report.errors == [] and report.temps_removed == [tmp]
    for h, p in ((h1, both), (h2, stale), (h3, partial)):
        assert not p.exists()
        assert gzip.decompress(p.with_name(p.name + ".gz").read_bytes()) == content(h)
    assert not tmp.exists()


def test_torn_tail_cut_before_compressing(tmp_path: Path) -> None:
    paths = VaultPaths(tmp_path)
    path = make(paths, DAY0)
    path.write_bytes(content(DAY0) + b'{"h":1,"tor')
    make(paths, DAY0 + 12 * H)
    assert run_retention_pass(paths, [INST], CFG, NOW).errors == []
    assert gzip.decompress(path.with_name("00.jsonl.gz").read_bytes()) == content(DAY0)


def test_unrelated_files_are_ignored(tmp_path: Path) -> None:
    paths = VaultPaths(tmp_path)
    day = paths.l2_file(INST, DAY0).parent
    day.mkdir(parents=True)
    for name in ("notes.txt", "99.jsonl", "1.jsonl"):
        (day / name).write_text("x")
    make(paths, DAY0 + 12 * H)
    run_retention_pass(paths, [INST], CFG, NOW + 30 * MS_PER_DAY)
    names = sorted(p.name for p in day.iterdir())
    assert names == ["1.jsonl", "12.jsonl", "99.jsonl", "notes.txt"]


@pytest.mark.parametrize("name", ["replace", "unlink"])
def test_os_error_once_is_reported_and_next_pass_repairs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    paths = _setup(tmp_path)
    real = getattr(os, name)
    calls = itertools.count()

    def fail_once(*args: Any, **kwargs: Any) -> Any:
        if next(calls) == 0:
            raise OSError(f"injected {name} failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, fail_once)
    report = run_retention_pass(paths, [INST], CFG, NOW)
    monkeypatch.undo()
    assert len(report.errors) == 1 and "injected" in report.errors[0]
    _check(paths, final=False)
    assert run_retention_pass(paths, [INST], CFG, NOW).errors == []
    _check(paths, final=True)


class Crash(BaseException):
    """The process dies here (not an OSError: nothing in the pass catches it)."""


def _crash_at(monkeypatch: pytest.MonkeyPatch, step: int) -> Callable[[], bool]:
    """Make the `step`-th call of os.replace/unlink/fsync/rmdir or a gzip write kill the pass."""
    calls = itertools.count()
    crashed = [False]

    def wrap(real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if next(calls) == step:
                crashed[0] = True
                raise Crash
            return real(*args, **kwargs)

        return wrapper

    for name in ("replace", "unlink", "fsync", "rmdir"):
        monkeypatch.setattr(os, name, wrap(getattr(os, name)))
    monkeypatch.setattr(gzip.GzipFile, "write", wrap(gzip.GzipFile.write))
    return lambda: crashed[0]


def test_crash_at_every_step_leaves_a_consistent_vault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = 0
    for step in itertools.count():
        paths = _setup(tmp_path / str(step))
        did_crash = _crash_at(monkeypatch, step)
        try:
            run_retention_pass(paths, [INST], CFG, NOW)
        except Crash:
            pass
        finally:
            monkeypatch.undo()
        _check(paths, final=False)
        assert run_retention_pass(paths, [INST], CFG, NOW).errors == []
        _check(paths, final=True)
        if not did_crash():
            break
        steps += 1
    assert steps > 15  # every write, rename, removal and fsync of a pass was a crash point


# -- actor ------------------------------------------------------------------------------------


async def test_actor_runs_a_pass_every_interval(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    paths = VaultPaths(tmp_path)
    first = make(paths, DAY0)
    make(paths, DAY0 + 12 * H)
    now = [NOW]
    health = null_reporter("retention", INST)
    config = Config(instruments=[INST], retention=RetentionConfig(interval_s=300))
    actor = RetentionActor(INST, config, paths, health, clock=lambda: now[0])

    async def passes(n: int) -> None:
        while health.counters.get("retention_passes", 0) < n:
            await trio.sleep(1)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor.run)
        await passes(1)
        assert not first.exists() and health.counters["files_compressed"] == 1
        assert health.state == "running"
        second = make(paths, DAY0 + 13 * H)  # newest now: protected
        now[0] = DAY0 + 20 * H
        # (Virtual time runs on while a pass is in its thread, so only the sleep is exact.)
        await trio.sleep(298)
        assert health.counters["retention_passes"] == 1
        await passes(2)
        assert not paths.l2_file(INST, DAY0 + 12 * H).exists() and second.exists()
        assert health.counters["files_compressed"] == 2 and "errors" not in health.counters
        nursery.cancel_scope.cancel()
