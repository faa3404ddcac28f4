"""Health that tells the truth: `lagging` past the configured lag and back, drop counters."""

from __future__ import annotations

import gc
from pathlib import Path

import orjson

from rq_actors.io.health import (
    GcPauses,
    HealthLog,
    HealthReporter,
    ProcessWatch,
    dropped_trade_counts,
    folder_bytes,
)


class _Wall:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> int:
        return self.ms


def _states(path: Path) -> list[str]:
    return [orjson.loads(line)["state"] for line in path.read_bytes().splitlines()]


def test_running_actor_behind_the_threshold_reports_lagging_and_comes_back(
    tmp_path: Path,
) -> None:
    path = tmp_path / "health.jsonl"
    log = HealthLog(path, stderr=None, lagging_after_ms=30_000)
    wall = _Wall()
    rep = HealthReporter("cvd", "BTC-USDT-SWAP", log, wall_ms=wall, lagging_after_ms=30_000)
    log.reporters.append(rep)
    rep.set_state("running")
    rep.observe_event_time(wall.ms - 1_000)
    log.emit_all()
    wall.ms += 52_000  # no newer event handled for 52 s
    log.emit_all()
    assert rep.state == "lagging" and rep.declared == "running"
    rep.set_state("running")  # the actor repeating itself does not hide the lag
    assert rep.state == "lagging"
    rep.observe_event_time(wall.ms - 2_000)
    log.emit_all()
    assert _states(path) == ["running", "running", "lagging", "running"]
    # states the actor sets itself are reported as they are, lag or not
    wall.ms += 100_000
    rep.set_state("recovering")
    rep.set_state("stopped")
    log.close()
    assert _states(path)[-2:] == ["recovering", "stopped"]


def test_no_threshold_keeps_the_declared_state() -> None:
    wall = _Wall()
    rep = HealthReporter("book", "BTC-USDT-SWAP", None, wall_ms=wall)
    rep.set_state("running")
    rep.observe_event_time(0)
    rep.emit()
    assert rep.state == "running" and rep.lag_ms() == wall.ms


def test_log_gives_its_threshold_to_every_reporter() -> None:
    log = HealthLog(None, stderr=None, lagging_after_ms=5)
    assert log.reporter("cvd", "X").lagging_after_ms == 5


class _Calc:
    def __init__(self, skipped: int, invalid: int) -> None:
        self.skipped, self.invalid = skipped, invalid


class _Job:
    def __init__(self, kind: str, calc: _Calc | None, dropped: int | None = None) -> None:
        self.kind, self.calc = kind, calc
        if dropped is not None:
            self.dropped = dropped


def test_dropped_trade_counts_name_each_job_and_reason() -> None:
    jobs = [_Job("cvd", _Calc(3, 1)), _Job("vwap", _Calc(0, 2)), _Job("wicks", None, dropped=4)]
    assert dropped_trade_counts(jobs) == {
        "cvd_skipped": 3,
        "cvd_invalid": 1,
        "vwap_skipped": 0,
        "vwap_invalid": 2,
        "wicks_dropped": 4,
    }
    rep = HealthReporter("cvd", "X", None)
    rep.incr("trades_in", 9)
    rep.set_counters(dropped_trade_counts(jobs))
    rep.set_counters(dropped_trade_counts(jobs))  # totals are replaced, not added twice
    assert rep.counters["cvd_skipped"] == 3 and rep.counters["trades_in"] == 9


def test_process_watch_reports_disk_rss_and_warns_when_low(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"x" * 3000)
    (tmp_path / "g").write_bytes(b"y" * 500)
    assert folder_bytes(tmp_path) == 3500
    log = HealthLog(None, stderr=None)
    roomy = ProcessWatch(tmp_path, log, interval_s=1, min_free_mb=0, freeze_after_s=None)
    roomy.sample()
    counters = roomy.reporter.counters
    assert counters["disk_free_mb"] > 0 and counters["rss_kb"] > 1000
    assert counters["heap_blocks"] > 1000  # live allocator blocks, to tell leaks from RSS
    assert roomy.reporter.last_error is None and "low_disk_warnings" not in counters
    free = counters["disk_free_mb"]
    tight = ProcessWatch(tmp_path, log, interval_s=1, min_free_mb=free + 10**6)
    tight.sample()
    assert tight.reporter.counters["low_disk_warnings"] == 1
    assert (tight.reporter.last_error or "").startswith("low disk")
    tight._min_free_mb = 0  # room again: the warning clears
    tight.sample()
    assert tight.reporter.last_error is None


def test_gc_pauses_are_counted_per_generation() -> None:
    pauses = GcPauses()
    pauses.install()
    try:
        gc.collect(2)
    finally:
        pauses.uninstall()
    assert pauses.collections[2] >= 1 and pauses.max_us[2] > 0
    wall_us, _cpu_us = pauses.take_window()
    assert wall_us > 0 and pauses.take_window() == (0, 0)
