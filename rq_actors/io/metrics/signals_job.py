"""The signals job: setup lifecycle events at every final 1m close (issue #12, SPEC §8.3).

Design (the simplest exact one): the job owns everything it reads, built from the same pure
classes as the other jobs — a `WickEngine` (candle builder + wick tracker, exactly as in the
wicks job but only for the signal timeframes), a `RollingVwap` with 1h and 4h windows and a 1m
`CvdCalculator` for the context — so `rq derive --only signals` needs no other job's state and
live equals batch by construction. Its tracker forgets wicks once they are older than any
evaluation can ask about (`tracker_expiry_hours`), which keeps its state small; touch detection
is per wick, so the recent wicks it keeps are the wicks job's.

Trades are taken one minute at a time. When the first usable trade of a later minute arrives,
the open 1m candle is final at `T` (its end): the candles, VWAP and CVD it closes are computed,
the lifecycle is evaluated at `T` on the tracker's state (every trade before `T` applied, the
wicks created at `T` added untouched), and only then does the tracker take the new minute's
trades. Events are written to `derived/signals/okx/{instId}/{YYYY-MM-DD}.jsonl`, one stream
(`events`), so the live bus carries them as kind `signals`, stream `events`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from rq_actors.config import Config
from rq_actors.core.derive.candles import Candle
from rq_actors.core.derive.cvd import CvdCalculator
from rq_actors.core.derive.exact import fmt_decimal
from rq_actors.core.derive.vwap import RollingVwap
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.signals.context import CvdTrail, MarketContext, deviation_bps
from rq_actors.core.signals.lifecycle import Minute, SetupLifecycle
from rq_actors.core.timefmt import MS_PER_HOUR, MS_PER_MINUTE
from rq_actors.core.wicks.live import Live
from rq_actors.core.wicks.model import Wick
from rq_actors.core.wicks.signals import FinderParams
from rq_actors.io.metrics.base import restored
from rq_actors.io.metrics.sink import StreamSink
from rq_actors.io.metrics.wicks_job import WickEngine
from rq_actors.io.vault.files import atomic_write_json
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade

VWAP_WINDOWS = (60, 240)  # the context's vwap_1h and vwap_4h, whatever [vwap] writes


def signals_dir(paths: VaultPaths, inst_id: str) -> Path:
    return paths.signals_dir(inst_id)


def signal_outputs(paths: VaultPaths, inst_id: str) -> list[Path]:
    """What `rq derive --only signals --rebuild` removes."""
    return [signals_dir(paths, inst_id), paths.state_file("signals", inst_id)]


def finder_params(config: Config) -> list[FinderParams]:
    s = config.signals
    side: Literal["same", "any"] = "any" if s.side == "any" else "same"
    return [
        FinderParams(
            timeframe=tf,
            age_min=s.age_min,
            age_max=s.age_max,
            min_touched_surrounding=s.min_touched_surrounding,
            surround_minutes=s.surround_minutes,
            side=side,
            close_ticks=s.close_ticks,
            max_size_ticks=s.max_size_ticks,
        )
        for tf in s.timeframes
    ]


def tracker_expiry_hours(config: Config) -> int:
    """Long enough for the oldest wick a finder reads, never longer than the real expiry."""
    window = max(f.window_ms for f in finder_params(config))
    return min(config.wicks.expiry_hours, -(-window // MS_PER_HOUR) + 1)


class _Parts:
    """Everything the job restores from one state file (or builds fresh)."""

    def __init__(self, config: Config, meta: InstrumentMeta, state: dict[str, Any] | None):
        s = state or {}
        params = finder_params(config)
        self.engine = WickEngine(
            meta,
            config.signals.timeframes,
            expiry_hours=tracker_expiry_hours(config),
            near_ticks=config.wicks.near_ticks,
            candle_tfs=["1m"],
            state=s.get("engine"),
        )
        self.vwap = RollingVwap(meta, VWAP_WINDOWS, config.vwap.weighting, state=s.get("vwap"))
        self.cvd = CvdCalculator(meta, config.cvd.unit, ["1m"], state=s.get("cvd"))
        self.trail = CvdTrail([(int(e), v) for e, v in s.get("cvd_trail", [])])
        self.lifecycle = SetupLifecycle(
            meta.inst_id,
            meta.tick_sz,
            params,
            expiry_ms=config.wicks.expiry_hours * MS_PER_HOUR,
            state=s.get("lifecycle"),
        )
        cursor = s.get("cursor", [-1, -1])
        self.cursor: tuple[int, int] = (int(cursor[0]), int(cursor[1]))
        self.open_minute: int | None = s.get("open_minute")
        self.last_px: int | None = s.get("last_px")
        self.vwaps: list[str | None] = list(s.get("vwaps", [None, None]))


class SignalsJob:
    kind = "signals"

    def __init__(
        self, config: Config, meta: InstrumentMeta, paths: VaultPaths, *, rebuild: bool = False
    ) -> None:
        inst = meta.inst_id
        self.state_path = paths.state_file("signals", inst)
        self._p = restored("signals", self.state_path, lambda s: _Parts(config, meta, s), rebuild)
        self._expiry_ms = config.wicks.expiry_hours * MS_PER_HOUR
        self.sinks = {"events": StreamSink(signals_dir(paths, inst), "event_time_utc")}

    @property
    def cursor(self) -> tuple[int, int]:
        return self._p.cursor

    @property
    def setups(self) -> int:
        return len(self._p.lifecycle.setups)

    def process(self, trades: Sequence[Trade]) -> int:
        cur = self._p.cursor
        fresh = [t for t in trades if (t.ts_ms, t.trade_id) > cur]
        written = 0
        for seg in _by_minute(fresh):
            written += self._minute(seg)
            self._p.cursor = (seg[-1].ts_ms, seg[-1].trade_id)
        return written

    def _minute(self, seg: list[Trade]) -> int:
        p = self._p
        for m in p.vwap.feed(seg):
            p.vwaps = [None if w.vwap is None else fmt_decimal(w.vwap) for w in m.windows]
        for w in p.cvd.feed(seg):
            p.trail.add(w.window_start_ms + MS_PER_MINUTE, w.cvd_value)
        usable = p.engine.usable(seg)
        if not usable:
            return 0
        candles, wicks = p.engine.close_candles(usable)
        written = 0
        minute = usable[0].ts_ms - usable[0].ts_ms % MS_PER_MINUTE
        if p.open_minute is not None and minute > p.open_minute and p.last_px is not None:
            at = p.open_minute + MS_PER_MINUTE
            events = self._evaluate(at, p.last_px, wicks, _one_minute(candles, at, p))
            if events:
                written = self.sinks["events"].write((at, e) for e in events)
        p.engine.track(usable, wicks)
        last = usable[-1]
        p.open_minute = last.ts_ms - last.ts_ms % MS_PER_MINUTE
        p.last_px = p.engine.tracker.fmt.ticks(last.px)
        return written

    def _evaluate(
        self, at: int, last_px: int, new_wicks: list[Wick], minute: Minute | None
    ) -> list[dict[str, Any]]:
        p = self._p
        since = p.lifecycle.since_ms(at)
        lives: list[Live] = [Live(w, w.created_ms + self._expiry_ms) for w in new_wicks]
        for live in reversed(p.engine.tracker.live_wicks()):  # newest first: stop early
            if live.wick.created_ms < since:
                break
            lives.append(live)
        price = Decimal(p.engine.tracker.fmt.price(last_px))
        vwap_1h, vwap_4h = p.vwaps
        context = MarketContext(
            vwap_1h=vwap_1h,
            vwap_4h=vwap_4h,
            vwap_1h_dev_bps=deviation_bps(price, None if vwap_1h is None else Decimal(vwap_1h)),
            cvd_30m=p.trail.change(at),
        )
        return p.lifecycle.evaluate(at, lives, last_px, minute, context)

    def save_state(self) -> None:
        for sink in self.sinks.values():
            sink.sync()
        p = self._p
        doc = {
            "cursor": list(p.cursor),
            "open_minute": p.open_minute,
            "last_px": p.last_px,
            "vwaps": p.vwaps,
            "engine": p.engine.state(),
            "vwap": p.vwap.state(),
            "cvd": p.cvd.state(),
            "cvd_trail": p.trail.state(),
            "lifecycle": p.lifecycle.state(),
        }
        atomic_write_json(self.state_path, doc)

    def close(self) -> None:
        for sink in self.sinks.values():
            sink.close()


def _by_minute(trades: list[Trade]) -> Iterator[list[Trade]]:
    """Consecutive runs of trades in the same UTC minute."""
    start = 0
    for i in range(1, len(trades) + 1):
        if (
            i == len(trades)
            or trades[i].ts_ms // MS_PER_MINUTE != trades[start].ts_ms // MS_PER_MINUTE
        ):
            yield trades[start:i]
            start = i


def _one_minute(candles: list[Candle], end_ms: int, p: _Parts) -> Minute | None:
    """High, low, close (ticks) of the 1m candle that ends at `end_ms`, if it was just closed."""
    ticks = p.engine.tracker.fmt.ticks
    for c in candles:
        if c.timeframe == "1m" and c.close_time_ms == end_ms:
            return ticks(str(c.high)), ticks(str(c.low)), ticks(str(c.close))
    return None
