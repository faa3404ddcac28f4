"""The wicks job: candles → wick detector → touch tracker → event files and `wicks_active.json`.

It has its own candle builder (not the `candles` job's), so `rq derive --only candles` and
`--only wicks` stay independent; both states are saved together in `state/wicks/…` so their
cursors always agree (SPEC §8). A trade whose price or size the candle builder would reject, or
whose price is off the tick grid, is dropped before both, so they see the same trades.
`WickEngine` is that pairing on its own; the signals job runs one too (`signals_job`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from rq_actors.config import TIMEFRAMES, Config
from rq_actors.core.derive.candles import Candle, CandleBuilder
from rq_actors.core.derive.common import shared_quant
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.timefmt import iso_ms, parse_iso_ms
from rq_actors.core.wicks.detect import wicks_from_candle
from rq_actors.core.wicks.model import OffGridPrice, Wick
from rq_actors.core.wicks.tracker import WickTracker
from rq_actors.io.metrics.base import restored
from rq_actors.io.metrics.sink import StreamSink
from rq_actors.io.vault.files import atomic_write_bytes, atomic_write_json
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade


class WickEngine:
    """A candle builder and a wick tracker fed the same usable trades (pure, no I/O).

    `candle_tfs` are the candles built (a superset of `wick_tfs`, whose wicks are tracked)."""

    def __init__(
        self,
        meta: InstrumentMeta,
        wick_tfs: Iterable[str],
        *,
        expiry_hours: int,
        near_ticks: int,
        candle_tfs: Iterable[str] = (),
        state: dict[str, Any] | None = None,
    ) -> None:
        self._tick = meta.tick
        self.wick_tfs = set(wick_tfs)
        self._quant = shared_quant(meta)
        wanted = self.wick_tfs | set(candle_tfs)
        tfs = [tf for tf in TIMEFRAMES if tf in wanted]
        self.candles = CandleBuilder(meta, tfs, state=None if state is None else state["candles"])
        self.tracker = WickTracker(
            meta.inst_id, meta.tick_sz, expiry_hours=expiry_hours, near_ticks=near_ticks
        )
        if state is not None:
            self.tracker.restore(state["tracker"])
        self.dropped = 0

    @property
    def cursor(self) -> tuple[int, int]:
        return self.candles.cursor

    def usable(self, trades: Sequence[Trade]) -> list[Trade]:
        """The trades both the candle builder and the tracker accept (the rest are counted)."""
        kept = [t for t in trades if self._usable(t)]
        self.dropped += len(trades) - len(kept)
        return kept

    def close_candles(self, usable: Sequence[Trade]) -> tuple[list[Candle], list[Wick]]:
        """Step 1 of feeding: the candles these trades make final and their tracked wicks."""
        candles = self.candles.feed(usable)
        wicks = [
            w
            for c in candles
            if c.timeframe in self.wick_tfs
            for w in wicks_from_candle(c, self._tick)
        ]
        return candles, wicks

    def track(self, usable: Sequence[Trade], wicks: Sequence[Wick]) -> list[dict[str, Any]]:
        """Step 2: the tracker takes the trades with the new wicks; returns its wick events."""
        return self.tracker.feed_batch(usable, wicks)

    def _usable(self, t: Trade) -> bool:
        q = self._quant  # `px`/`sz` are the cache-miss paths: look in the caches first
        if (q.px_cache.get(t.px) or q.px(t.px)) is None or (
            q.sz_cache.get(t.sz) or q.sz(t.sz)
        ) is None:
            return False
        try:
            self.tracker.fmt.ticks(t.px)
        except OffGridPrice:
            return False
        return True

    def state(self) -> dict[str, Any]:
        return {"candles": self.candles.state(), "tracker": self.tracker.state()}


class WicksJob:
    kind = "wicks"

    def __init__(
        self, config: Config, meta: InstrumentMeta, paths: VaultPaths, *, rebuild: bool = False
    ) -> None:
        inst = meta.inst_id
        self._meta = meta
        self.state_path = paths.state_file("wicks", inst)
        self.active_path = paths.wicks_active(inst)
        self._engine = restored(
            "wicks",
            self.state_path,
            lambda state: WickEngine(
                meta,
                config.wicks.timeframes,
                expiry_hours=config.wicks.expiry_hours,
                near_ticks=config.wicks.near_ticks,
                state=state,
            ),
            rebuild,
        )
        self.sinks = {"events": StreamSink(paths.wicks_dir(inst) / "events", "event_time_utc")}

    @property
    def cursor(self) -> tuple[int, int]:
        return self._engine.cursor

    @property
    def dropped(self) -> int:
        return self._engine.dropped

    def process(self, trades: Sequence[Trade]) -> int:
        usable = self._engine.usable(trades)
        _, new_wicks = self._engine.close_candles(usable)
        events = self._engine.track(usable, new_wicks)
        if not events:
            return 0
        return self.sinks["events"].write((parse_iso_ms(e["event_time_utc"]), e) for e in events)

    def save_state(self) -> None:
        """Events first, then `wicks_active.json`, then the state that covers both."""
        for sink in self.sinks.values():
            sink.sync()
        tracker = self._engine.tracker
        clock = tracker.clock_ms
        doc: dict[str, Any] = {
            "instId": self._meta.inst_id,
            "as_of_utc": None if clock is None else iso_ms(clock),
            "wicks": tracker.active_wicks(),
        }
        atomic_write_bytes(self.active_path, orjson.dumps(doc) + b"\n")
        atomic_write_json(self.state_path, self._engine.state())

    def close(self) -> None:
        for sink in self.sinks.values():
            sink.close()


def wick_outputs(paths: VaultPaths, inst_id: str) -> list[Path]:
    """What `rq derive --only wicks --rebuild` removes."""
    return [
        paths.wicks_dir(inst_id) / "events",
        paths.wicks_active(inst_id),
        paths.state_file("wicks", inst_id),
    ]
