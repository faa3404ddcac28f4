"""Metric jobs: one pure calculator, its output streams and its state file.

The live actors and `rq derive` both drive jobs through `MetricJob.process(trades)`, so live and
batch outputs are identical by construction. Order of durability: outputs are appended and
flushed first, the state file is replaced atomically after them (SPEC §4).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from rq_actors.config import TIMEFRAMES, Config
from rq_actors.core.derive.candles import Candle, CandleBuilder
from rq_actors.core.derive.cvd import CvdCalculator, CvdWindow
from rq_actors.core.derive.vwap import RollingVwap, VwapMinute
from rq_actors.core.meta import InstrumentMeta
from rq_actors.io.metrics.sink import StreamSink
from rq_actors.io.vault.files import atomic_write_json, read_json
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade

KINDS = ("cvd", "vwap", "candles", "wicks")


class Calculator(Protocol):
    @property
    def cursor(self) -> tuple[int, int]: ...

    def feed(self, trades: Sequence[Trade]) -> Sequence[Any]: ...

    def state(self) -> dict[str, Any]: ...


class StateMismatch(Exception):
    """The saved state was made with other settings; `rq derive --rebuild` starts afresh."""


class MetricJob:
    def __init__(
        self,
        kind: str,
        calc: Calculator,
        route: Callable[[Any], tuple[str, int, dict[str, Any]]],
        sinks: dict[str, StreamSink],
        state_path: Path,
    ) -> None:
        self.kind = kind
        self.calc = calc
        self._route = route
        self.sinks = sinks
        self.state_path = state_path
        self.last_results: Sequence[Any] = ()

    @property
    def cursor(self) -> tuple[int, int]:
        return self.calc.cursor

    def process(self, trades: Sequence[Trade]) -> int:
        """Feed trades; append the windows they made final. Returns records written."""
        results = self.calc.feed(trades)
        self.last_results = results
        if not results:
            return 0
        grouped: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for result in results:
            stream, window_ms, record = self._route(result)
            grouped.setdefault(stream, []).append((window_ms, record))
        return sum(self.sinks[s].write(items) for s, items in grouped.items())

    def save_state(self) -> None:
        for sink in self.sinks.values():
            sink.sync()
        atomic_write_json(self.state_path, self.calc.state())

    def close(self) -> None:
        for sink in self.sinks.values():
            sink.close()


def _load_state(path: Path, rebuild: bool) -> dict[str, Any] | None:
    return None if rebuild else read_json(path)


def _restored(kind: str, path: Path, make: Callable[[dict[str, Any] | None], Any], rebuild: bool):
    state = _load_state(path, rebuild)
    try:
        return make(state)
    except ValueError as exc:
        raise StateMismatch(
            f"{path}: saved {kind} state does not fit the config ({exc}); "
            f"run `rq derive CONFIG --only {kind} --rebuild`"
        ) from exc


def make_job(
    kind: str,
    config: Config,
    meta: InstrumentMeta,
    paths: VaultPaths,
    *,
    rebuild: bool = False,
) -> MetricJob:
    if kind == "wicks":
        from rq_actors.io.metrics.wicks_job import WicksJob

        try:
            return WicksJob(config, meta, paths, rebuild=rebuild)  # type: ignore[return-value]
        except (ValueError, KeyError) as exc:
            raise StateMismatch(
                f"{paths.state_file(kind, meta.inst_id)}: saved wicks state does not fit the "
                f"config ({exc}); run `rq derive CONFIG --only wicks --rebuild`"
            ) from exc
    inst = meta.inst_id
    state_path = paths.state_file(kind, inst)
    if kind == "cvd":
        calc = _restored(
            kind,
            state_path,
            lambda s: CvdCalculator(meta, config.cvd.unit, config.cvd.timeframes, state=s),
            rebuild,
        )
        sinks = {
            tf: StreamSink(paths.cvd_dir(inst) / tf, "window_start_utc")
            for tf in config.cvd.timeframes
        }

        def route_cvd(w: CvdWindow) -> tuple[str, int, dict[str, Any]]:
            return w.timeframe, w.window_start_ms, w.to_record()

        return MetricJob(kind, calc, route_cvd, sinks, state_path)
    if kind == "vwap":
        calc = _restored(
            kind,
            state_path,
            lambda s: RollingVwap(
                meta, config.vwap.windows_minutes, config.vwap.weighting, state=s
            ),
            rebuild,
        )
        sinks = {"1m": StreamSink(paths.vwap_dir(inst) / "1m", "window_start_utc")}

        def route_vwap(m: VwapMinute) -> tuple[str, int, dict[str, Any]]:
            return "1m", m.window_start_ms, m.to_record()

        return MetricJob(kind, calc, route_vwap, sinks, state_path)
    if kind == "candles":
        tfs = candle_timeframes(config)
        calc = _restored(kind, state_path, lambda s: CandleBuilder(meta, tfs, state=s), rebuild)
        sinks = {tf: StreamSink(paths.candles_dir(inst) / tf, "open_time_utc") for tf in tfs}

        def route_candle(c: Candle) -> tuple[str, int, dict[str, Any]]:
            return c.timeframe, c.open_time_ms, c.to_record()

        return MetricJob(kind, calc, route_candle, sinks, state_path)
    raise ValueError(f"unknown metric kind {kind!r}; expected one of {KINDS}")


def candle_timeframes(config: Config) -> list[str]:
    """Candles are written for every SPEC §7.3 timeframe; wicks need at least theirs."""
    wanted = set(TIMEFRAMES) | set(config.wicks.timeframes)
    return [tf for tf in TIMEFRAMES if tf in wanted]
