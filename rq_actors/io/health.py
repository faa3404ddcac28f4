"""The health log stream (SPEC §9): one JSON line per actor at start, on every state change, on
every error and every `health.interval_s`, to stderr and to `logs/health.jsonl` in the vault."""

from __future__ import annotations

import gc
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, get_args

import attrs
import orjson

from rq_actors.core.cache_census import cache_fills
from rq_actors.core.timefmt import iso_ms
from rq_actors.io.vault.files import repair_torn_tail
from rq_actors.messages import HealthReport, HealthState

_PAGE = os.sysconf("SC_PAGE_SIZE")
STATES: tuple[HealthState, ...] = get_args(HealthState)


class HealthLog:
    """Where health lines go. One per process, shared by every reporter.

    The file is rotated by size (`health.jsonl` → `health.jsonl.1`, one old file kept), so a
    process running for months does not grow it without bound.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        stderr: IO[str] | None = sys.stderr,
        rotate_bytes: int = 64 * 1024 * 1024,
        lagging_after_ms: int | None = None,
    ) -> None:
        """`lagging_after_ms`: a `running` actor whose lag passes it reports `lagging`."""
        self._path = path
        self.lagging_after_ms = lagging_after_ms
        self._stderr = stderr
        self._rotate_bytes = rotate_bytes
        self._file: IO[bytes] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            repair_torn_tail(path)  # a SIGKILL mid-line must not glue two lines together
            self._file = path.open("ab")
        self.reporters: list[HealthReporter] = []
        # Called with every report after it is written (the human console, for instance).
        self.listeners: list[Callable[[HealthReport], None]] = []
        self.dropped_lines = 0
        self._file_retry = False
        # the newest line per (instId, actor), for in-process viewers (dashboard, /metrics);
        # bound: one entry per reporter
        self.latest: dict[tuple[str, str], HealthReport] = {}

    def reporter(self, actor: str, inst_id: str) -> HealthReporter:
        rep = HealthReporter(actor, inst_id, self, lagging_after_ms=self.lagging_after_ms)
        self.reporters.append(rep)
        return rep

    def write(self, report: HealthReport) -> None:
        self.latest[(report.inst_id, report.actor)] = report
        line = orjson.dumps(attrs.asdict(report, recurse=False))
        if self._file is None and self._file_retry:
            self._reopen()
        if self._file is not None and self._path is not None:
            try:
                self._append(line)
            except OSError:
                # A full disk must not take the process down through its own health stream:
                # drop the file line (stderr still gets it) and cut any partial line.
                self.dropped_lines += 1
                self._reopen()
        if self._stderr is not None:
            self._stderr.write(line.decode() + "\n")
            self._stderr.flush()
        for listener in self.listeners:
            listener(report)

    def _append(self, line: bytes) -> None:
        assert self._file is not None and self._path is not None
        self._file.write(line + b"\n")
        self._file.flush()
        if self._file.tell() > self._rotate_bytes:
            self._file.close()
            self._path.replace(self._path.with_name(self._path.name + ".1"))
            self._file = self._path.open("ab")

    def _reopen(self) -> None:
        assert self._path is not None
        try:
            if self._file is not None:
                self._file.close()
        except OSError:
            pass  # the buffered partial line could not be flushed either
        try:
            repair_torn_tail(self._path)
            self._file = self._path.open("ab")
        except OSError:
            self._file = None  # retried at the next line
            self._file_retry = True

    def emit_all(self) -> None:
        for rep in self.reporters:
            rep.emit()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class HealthReporter:
    """One actor's health: state, restarts, counters, lag and the last error.

    `lag_ms` is wall-clock now minus the newest event time the actor handled (SPEC §9). With
    `lagging_after_ms`, an actor that says `running` is reported `lagging` while its lag is
    above it, and `running` again once it is not (checked at every line, so at least every
    `health.interval_s`); every other state the actor sets is reported as it is. `declared`
    is what the actor itself said.
    """

    def __init__(
        self,
        actor: str,
        inst_id: str,
        log: HealthLog | None,
        *,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        lagging_after_ms: int | None = None,
    ) -> None:
        self.actor = actor
        self.lagging_after_ms = lagging_after_ms
        self.declared: HealthState = "starting"
        self.inst_id = inst_id
        self._log = log
        self._wall_ms = wall_ms
        self.state: HealthState = "starting"
        self.restarts = 0
        self.counters: dict[str, int] = {}
        self.newest_event_ms: int | None = None
        self.last_error: str | None = None
        self.history: list[HealthReport] = []  # the lines emitted, kept short for tests/status
        self._emitted_start = False

    def incr(self, counter: str, n: int = 1) -> None:
        self.counters[counter] = self.counters.get(counter, 0) + n

    def set_state(self, state: HealthState) -> None:
        if state not in STATES:
            raise ValueError(f"unknown health state {state!r}")
        self.declared = state
        shown = self._shown_state()
        if shown != self.state or not self._emitted_start:
            self.state = shown
            self.emit()

    def _shown_state(self) -> HealthState:
        threshold = self.lagging_after_ms
        if self.declared != "running" or threshold is None:
            return self.declared
        lag = self.lag_ms()
        return "lagging" if lag is not None and lag > threshold else "running"

    def set_counters(self, values: Mapping[str, int]) -> None:
        """Counters owned elsewhere (a calculator's totals): replaced, not added to."""
        self.counters.update(values)

    def error(self, text: str) -> None:
        """Record an error (the actor keeps its state) and emit a line at once."""
        self.last_error = text
        self.incr("errors")
        self.emit()

    def observe_event_time(self, ts_ms: int) -> None:
        if self.newest_event_ms is None or ts_ms > self.newest_event_ms:
            self.newest_event_ms = ts_ms

    def lag_ms(self) -> int | None:
        if self.newest_event_ms is None:
            return None
        return max(0, self._wall_ms() - self.newest_event_ms)

    def snapshot(self) -> HealthReport:
        return HealthReport(
            ts=iso_ms(self._wall_ms()),
            actor=self.actor,
            inst_id=self.inst_id,
            state=self.state,
            restarts=self.restarts,
            counters=dict(self.counters),
            lag_ms=self.lag_ms(),
            last_error=self.last_error,
        )

    def emit(self) -> None:
        self._emitted_start = True
        self.state = self._shown_state()
        report = self.snapshot()
        self.history.append(report)
        del self.history[:-50]
        if self._log is not None:
            self._log.write(report)


def dropped_trade_counts(jobs: Iterable[object]) -> dict[str, int]:
    """`{kind}_skipped|invalid|dropped`: what a derived actor's jobs did not use, for health.

    Calculators count trades at or before their cursor (`skipped`, replays) and unusable prices
    or sizes (`invalid`); the wick job counts trades it cannot place on the tick grid
    (`dropped`). The totals are since the jobs were built (actor start or restart).
    """
    out: dict[str, int] = {}
    for job in jobs:
        kind = str(getattr(job, "kind", "job"))
        for holder in (getattr(job, "calc", None), job):
            for name in ("skipped", "invalid", "dropped"):
                n = getattr(holder, name, None)
                if isinstance(n, int) and not isinstance(n, bool):
                    key = f"{kind}_{name}"
                    out[key] = out.get(key, 0) + n
    return out


def null_reporter(actor: str = "test", inst_id: str = "TEST-USDT-SWAP") -> HealthReporter:
    """A reporter that writes nowhere (unit tests of actors)."""
    return HealthReporter(actor, inst_id, None)


class GcPauses:
    """Every garbage collection's wall time, from `gc.callbacks` (a collection stops the process).

    `window_max_us` is the longest pause since the last `take_window()`; memory is constant.
    Pauses are wall time, which on a busy machine includes being preempted mid-collection;
    `window_max_cpu_us` is the same pause in this thread's CPU time, the collection's own cost.
    """

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.max_us = [0, 0, 0]
        self.window_max_us = 0
        self.window_max_cpu_us = 0
        self._start = self._start_cpu = 0.0

    def install(self) -> None:
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def uninstall(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start, self._start_cpu = time.perf_counter(), time.thread_time()
            return
        us = int((time.perf_counter() - self._start) * 1_000_000)
        cpu_us = int((time.thread_time() - self._start_cpu) * 1_000_000)
        gen = info["generation"]
        self.collections[gen] += 1
        self.max_us[gen] = max(self.max_us[gen], us)
        self.window_max_us = max(self.window_max_us, us)
        self.window_max_cpu_us = max(self.window_max_cpu_us, cpu_us)

    def take_window(self) -> tuple[int, int]:
        """(wall, CPU) µs of the longest pause since the previous call."""
        out = (self.window_max_us, self.window_max_cpu_us)
        self.window_max_us = self.window_max_cpu_us = 0
        return out


# Start-up (config, instrument metadata, restored calculator and wick state) leaves a large,
# long-lived heap, and the wick window keeps growing one for `expiry_hours`. A frozen object is
# never scanned again, so a full collection only walks what was made since the last freeze:
# re-freezing every hour keeps that to an hour of wicks. The higher first threshold lets a
# batch's short-lived objects die by refcount before a young collection looks at them.
# The price: a cycle among frozen objects that dies later is never collected (acyclic garbage,
# nearly all of it, is still freed at once by reference counting).
GC_THRESHOLDS = (20_000, 20, 50)


def tune_gc() -> None:
    """Collect what is not frozen, freeze the survivors, set `GC_THRESHOLDS`."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def folder_bytes(root: Path) -> int:
    """Apparent size of every file under `root` (a walk: run it off the event loop)."""
    total = 0
    stack = [root]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue  # removed by retention mid-walk, or unreadable
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


class ProcessWatch:
    """The `process` health line (instId `*`): RSS, GC pauses, free disk and vault size.

    Every `interval_s` it sets counters `rss_kb`, `gc_gen{0,1,2}` (collections),
    `gc_max_pause_us` and `gc_max_pause_cpu_us` (longest pause since the previous line, wall
    and CPU time), `gc_max_pause_us_gen{0,1,2}` (longest ever, per generation),
    `cache_<family>_{entries,capacity,clears,caches,peaked}` (`core.cache_census`, so that a
    cache still filling can be told apart from a leak), `disk_free_mb`, `gc_frozen` and, every
    `size_every` lines, `vault_mb`; it runs `tune_gc` `freeze_after_s` after start, then every
    `refreeze_every_s`. Below `min_free_mb` free it warns
    (`last_error`, counter `low_disk_warnings`) and says so again at every line until the disk
    has room; the actors themselves already survive a full disk (docs/RELIABILITY.md).
    """

    def __init__(
        self,
        root: Path,
        log: HealthLog,
        *,
        interval_s: float,
        min_free_mb: int,
        size_every: int = 60,
        freeze_after_s: float | None = 10.0,
        refreeze_every_s: float = 3600.0,
    ) -> None:
        self.root = root
        self.reporter = log.reporter("process", "*")
        self.gc = GcPauses()
        self._interval_s = interval_s
        self._min_free_mb = min_free_mb
        self._size_every = size_every
        self._freeze_after_s = freeze_after_s
        self._refreeze_every_s = refreeze_every_s

    async def run(self) -> None:
        import trio  # the shell's loop; the rest of this module has no trio

        rep = self.reporter
        self.gc.install()
        rep.set_state("running")
        ticks = 0
        next_freeze = None
        if self._freeze_after_s is not None:
            next_freeze = trio.current_time() + self._freeze_after_s
        try:
            while True:
                if next_freeze is not None and trio.current_time() >= next_freeze:
                    tune_gc()
                    rep.set_counters({"gc_frozen": gc.get_freeze_count()})
                    next_freeze += self._refreeze_every_s
                if ticks % self._size_every == 0:
                    size = await trio.to_thread.run_sync(folder_bytes, self.root)
                    rep.set_counters({"vault_mb": size // 2**20})
                self.sample()
                ticks += 1
                await trio.sleep(self._interval_s)
        finally:
            self.gc.uninstall()

    def sample(self) -> None:
        rep = self.reporter
        wall_us, cpu_us = self.gc.take_window()
        counters = {
            "rss_kb": _rss_kb(),
            # Live objects of up to 512 bytes (pymalloc's blocks; larger ones, such as dict
            # tables and long lists, are not counted). RSS keeps memory after it is freed;
            # this count drops with every free.
            "heap_blocks": sys.getallocatedblocks(),
            "gc_max_pause_us": wall_us,
            "gc_max_pause_cpu_us": cpu_us,
        }
        for gen in range(3):
            counters[f"gc_gen{gen}"] = self.gc.collections[gen]
            counters[f"gc_max_pause_us_gen{gen}"] = self.gc.max_us[gen]
        for name, fill in cache_fills().items():
            counters[f"cache_{name}_entries"] = fill.entries
            counters[f"cache_{name}_capacity"] = fill.capacity
            counters[f"cache_{name}_clears"] = fill.clears
            counters[f"cache_{name}_caches"] = fill.caches
            counters[f"cache_{name}_peaked"] = fill.peaked
        try:
            free_mb = shutil.disk_usage(self.root).free // 2**20
        except OSError:
            free_mb = -1  # vault folder missing for a moment: no reading, no warning
        counters["disk_free_mb"] = free_mb
        rep.set_counters(counters)
        if 0 <= free_mb < self._min_free_mb:
            rep.incr("low_disk_warnings")
            rep.error(
                f"low disk: {free_mb} MB free under {self.root} "
                f"(warning below [health] min_free_mb = {self._min_free_mb})"
            )
        elif rep.last_error is not None and rep.last_error.startswith("low disk"):
            rep.last_error = None


def _rss_kb() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE // 1024
    except OSError:
        return 0
