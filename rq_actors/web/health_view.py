"""Actor health for the dashboard table and for `/metrics` (SPEC §9).

Inside `rq-run` the health state is read from memory (`HealthLog.latest`, the newest line per
actor). `rq web` has no actors of its own: it reads the newest line per actor from the vault's
health log, re-read only when the file changed, so it shows whatever `rq-run` process writes to
that vault (or the last state of one that has stopped).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import attrs
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rq_actors.io.health import STATES, HealthLog
from rq_actors.io.health_read import latest_by_actor


class HealthSource(Protocol):
    def lines(self) -> list[dict[str, Any]]:
        """The newest health line of every actor, as written to the log."""
        ...


class LiveHealth:
    def __init__(self, log: HealthLog) -> None:
        self._log = log

    def lines(self) -> list[dict[str, Any]]:
        # Called from a worker thread while the trio thread adds lines: `dict(...)` copies in
        # one C call (no Python code runs during it), so the copy is never half-updated.
        latest = dict(self._log.latest)
        return [attrs.asdict(r, recurse=False) for _, r in sorted(latest.items())]


class FileHealth:
    """Bound: one parsed line per actor, re-read when the log's size or mtime changes."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._key: tuple[int, int] | None = None
        self._lines: list[dict[str, Any]] = []

    def lines(self) -> list[dict[str, Any]]:
        try:
            st = self._path.stat()
        except FileNotFoundError:
            return []
        key = (st.st_mtime_ns, st.st_size)
        if key != self._key:
            latest = latest_by_actor(self._path)
            self._lines = [rec for _, rec in sorted(latest.items())]
            self._key = key
        return self._lines


@attrs.define
class WebStats:
    """The web server's own counters (live-push viewers and what they missed)."""

    live_clients: int = 0
    live_sent: int = 0
    live_dropped: int = 0  # records a slow viewer's bounded buffer could not take


_NAME = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(counter: str) -> str:
    """`rq_<counter>`, the health counter's name made a valid Prometheus name."""
    return "rq_" + _NAME.sub("_", counter)


class HealthCollector(Collector):
    """Prometheus families computed at scrape time from the health lines; every counter of
    every actor becomes `rq_<counter>_total{instId, actor}` (trades_written,
    duplicates_skipped, quarantined, gaps, resubscribes, snapshots_written, alerts, …)."""

    def __init__(self, source: HealthSource, stats: WebStats) -> None:
        self._source = source
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        lines = self._source.lines()
        yield from _actor_families(lines)
        yield from _counter_families(lines)
        s = self._stats
        yield GaugeMetricFamily("rq_web_live_clients", "open live-push viewers", s.live_clients)
        yield CounterMetricFamily("rq_web_live_sent", "records pushed to viewers", s.live_sent)
        yield CounterMetricFamily(
            "rq_web_live_dropped", "records dropped for slow viewers", s.live_dropped
        )


def _actor_families(lines: Iterable[dict[str, Any]]) -> Iterator[Metric]:
    labels = ["instId", "actor"]
    state = GaugeMetricFamily(
        "rq_actor_state", "1 for the actor's current state", labels=[*labels, "state"]
    )
    restarts = CounterMetricFamily("rq_actor_restarts", "actor restarts", labels=labels)
    lag = GaugeMetricFamily(
        "rq_actor_lag_seconds", "now minus the newest event time handled", labels=labels
    )
    for line in lines:
        key = [str(line.get("inst_id")), str(line.get("actor"))]
        for name in STATES:
            state.add_metric([*key, name], 1.0 if line.get("state") == name else 0.0)
        restarts.add_metric(key, float(line.get("restarts") or 0))
        lag_ms = line.get("lag_ms")
        if isinstance(lag_ms, int):
            lag.add_metric(key, lag_ms / 1000)
    yield from (state, restarts, lag)


def _counter_families(lines: Iterable[dict[str, Any]]) -> Iterator[Metric]:
    families: dict[str, CounterMetricFamily] = {}
    for line in lines:
        key = [str(line.get("inst_id")), str(line.get("actor"))]
        for counter, value in sorted((line.get("counters") or {}).items()):
            name = metric_name(counter)
            family = families.get(name)
            if family is None:
                family = families[name] = CounterMetricFamily(
                    name, f"health counter {counter}", labels=["instId", "actor"]
                )
            family.add_metric(key, float(value))
    yield from families.values()
