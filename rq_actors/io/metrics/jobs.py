"""The metric registry: every derived metric kind, how to build its job, what it writes.

`METRICS` is the one list of metric kinds. The live wiring (`actors.group`: which derived actor
runs which jobs, how often it saves), `rq derive` (the default kinds, what `--rebuild` removes)
and the CLI's `--only` choices all read it, so a new metric is one builder and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from rq_actors.config import TIMEFRAMES, Config
from rq_actors.core.derive.candles import Candle, CandleBuilder
from rq_actors.core.derive.cvd import CvdCalculator, CvdWindow
from rq_actors.core.derive.vwap import RollingVwap, VwapMinute
from rq_actors.core.meta import InstrumentMeta
from rq_actors.io.metrics.base import CalculatorJob, MetricJob, StateMismatch, restored
from rq_actors.io.metrics.signals_job import SignalsJob, signal_outputs
from rq_actors.io.metrics.sink import StreamSink
from rq_actors.io.metrics.wicks_job import WicksJob, wick_outputs
from rq_actors.io.vault.paths import VaultPaths

__all__ = [
    "KINDS",
    "METRICS",
    "MetricJob",
    "MetricSpec",
    "StateMismatch",
    "actor_kinds",
    "actor_state_interval",
    "candle_timeframes",
    "enabled_kinds",
    "make_job",
]

Builder = Callable[[Config, InstrumentMeta, VaultPaths, bool], MetricJob]


@attrs.frozen
class MetricSpec:
    """One metric kind. `state_interval_s`: how often (live) its state may be persisted at the
    latest; `actor`: the derived actor that runs it (jobs of one actor share its feed, and
    their states are saved together)."""

    kind: str
    build: Builder
    outputs: Callable[[VaultPaths, str], list[Path]]  # everything a `--rebuild` removes
    actor: str
    state_interval_s: float
    enabled: Callable[[Config], bool] = lambda _config: True


def _cvd(config: Config, meta: InstrumentMeta, paths: VaultPaths, rebuild: bool) -> MetricJob:
    inst = meta.inst_id
    state_path = paths.state_file("cvd", inst)
    calc = restored(
        "cvd",
        state_path,
        lambda s: CvdCalculator(meta, config.cvd.unit, config.cvd.timeframes, state=s),
        rebuild,
    )
    sinks = {
        tf: StreamSink(paths.cvd_dir(inst) / tf, "window_start_utc") for tf in config.cvd.timeframes
    }

    def route(w: CvdWindow) -> tuple[str, int, dict[str, Any]]:
        return w.timeframe, w.window_start_ms, w.to_record()

    return CalculatorJob("cvd", calc, route, sinks, state_path)


def _vwap(config: Config, meta: InstrumentMeta, paths: VaultPaths, rebuild: bool) -> MetricJob:
    inst = meta.inst_id
    state_path = paths.state_file("vwap", inst)
    calc = restored(
        "vwap",
        state_path,
        lambda s: RollingVwap(meta, config.vwap.windows_minutes, config.vwap.weighting, state=s),
        rebuild,
    )
    sinks = {"1m": StreamSink(paths.vwap_dir(inst) / "1m", "window_start_utc")}

    def route(m: VwapMinute) -> tuple[str, int, dict[str, Any]]:
        return "1m", m.window_start_ms, m.to_record()

    return CalculatorJob("vwap", calc, route, sinks, state_path)


def _candles(config: Config, meta: InstrumentMeta, paths: VaultPaths, rebuild: bool) -> MetricJob:
    inst = meta.inst_id
    state_path = paths.state_file("candles", inst)
    tfs = candle_timeframes(config)
    calc = restored("candles", state_path, lambda s: CandleBuilder(meta, tfs, state=s), rebuild)
    sinks = {tf: StreamSink(paths.candles_dir(inst) / tf, "open_time_utc") for tf in tfs}

    def route(c: Candle) -> tuple[str, int, dict[str, Any]]:
        return c.timeframe, c.open_time_ms, c.to_record()

    return CalculatorJob("candles", calc, route, sinks, state_path)


def _wicks(config: Config, meta: InstrumentMeta, paths: VaultPaths, rebuild: bool) -> MetricJob:
    return WicksJob(config, meta, paths, rebuild=rebuild)


def _signals(config: Config, meta: InstrumentMeta, paths: VaultPaths, rebuild: bool) -> MetricJob:
    return SignalsJob(config, meta, paths, rebuild=rebuild)


def _folder_and_state(folder: Callable[[VaultPaths, str], Path], kind: str) -> Any:
    return lambda paths, inst: [folder(paths, inst), paths.state_file(kind, inst)]


METRICS: dict[str, MetricSpec] = {
    spec.kind: spec
    for spec in (
        MetricSpec("cvd", _cvd, _folder_and_state(VaultPaths.cvd_dir, "cvd"), "cvd", 30.0),
        MetricSpec("vwap", _vwap, _folder_and_state(VaultPaths.vwap_dir, "vwap"), "vwap", 30.0),
        # candles live with the wicks (SPEC §2): one feed for the two candle builders
        MetricSpec(
            "candles", _candles, _folder_and_state(VaultPaths.candles_dir, "candles"), "wicks", 30.0
        ),
        # wicks_active.json must be rewritten at least once a minute (SPEC §8.2); a 30k-wick
        # state is too costly to write every few seconds
        MetricSpec("wicks", _wicks, wick_outputs, "wicks", 30.0),
        # its own actor, so a slow finder never holds up the wick events (like wicks: a tracker)
        MetricSpec(
            "signals", _signals, signal_outputs, "signals", 30.0, lambda c: c.signals.enabled
        ),
    )
}
KINDS = tuple(METRICS)


def make_job(
    kind: str,
    config: Config,
    meta: InstrumentMeta,
    paths: VaultPaths,
    *,
    rebuild: bool = False,
) -> MetricJob:
    spec = METRICS.get(kind)
    if spec is None:
        raise ValueError(f"unknown metric kind {kind!r}; expected one of {KINDS}")
    return spec.build(config, meta, paths, rebuild)


def enabled_kinds(config: Config) -> list[str]:
    """The kinds this config derives (live, and `rq derive` without `--only`)."""
    return [kind for kind, spec in METRICS.items() if spec.enabled(config)]


def actor_kinds(config: Config) -> dict[str, list[str]]:
    """Derived actor name → the enabled metric kinds it runs, in registry order."""
    actors: dict[str, list[str]] = {}
    for kind in enabled_kinds(config):
        actors.setdefault(METRICS[kind].actor, []).append(kind)
    return actors


def actor_state_interval(actor: str) -> float:
    """An actor saves all its jobs at once, so at the pace of its slowest-to-save job."""
    return max(s.state_interval_s for s in METRICS.values() if s.actor == actor)


def candle_timeframes(config: Config) -> list[str]:
    """Candles are written for every SPEC §7.3 timeframe; wicks need at least theirs."""
    wanted = set(TIMEFRAMES) | set(config.wicks.timeframes)
    return [tf for tf in TIMEFRAMES if tf in wanted]
