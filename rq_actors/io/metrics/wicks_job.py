"""The wicks job: candles → wick detector → touch tracker → event files and `wicks_active.json`.

It has its own candle builder (not the `candles` job's), so `rq derive --only candles` and
`--only wicks` stay independent; both states are saved together in `state/wicks/…` so their
cursors always agree (SPEC §8). A trade whose price or size the candle builder would reject, or
whose price is off the tick grid, is dropped before both, so they see the same trades.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from rq_actors.config import TIMEFRAMES, Config
from rq_actors.core.derive.candles import CandleBuilder
from rq_actors.core.derive.common import Quant
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.timefmt import iso_ms, parse_iso_ms
from rq_actors.core.wicks.detect import wicks_from_candle
from rq_actors.core.wicks.model import OffGridPrice
from rq_actors.core.wicks.tracker import WickTracker
from rq_actors.io.metrics.sink import StreamSink
from rq_actors.io.vault.files import atomic_write_bytes, atomic_write_json, read_json
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade


class WicksJob:
    kind = "wicks"

    def __init__(
        self, config: Config, meta: InstrumentMeta, paths: VaultPaths, *, rebuild: bool = False
    ) -> None:
        inst = meta.inst_id
        self._meta = meta
        self._tick = meta.tick
        self._tfs = set(config.wicks.timeframes)
        self._quant = Quant(meta)
        self.state_path = paths.state_file("wicks", inst)
        self.active_path = paths.wicks_active(inst)
        state = None if rebuild else read_json(self.state_path)
        tfs = [tf for tf in TIMEFRAMES if tf in self._tfs]
        self._candles = CandleBuilder(meta, tfs, state=None if state is None else state["candles"])
        self._tracker = WickTracker(
            inst,
            meta.tick_sz,
            expiry_hours=config.wicks.expiry_hours,
            near_ticks=config.wicks.near_ticks,
        )
        if state is not None:
            self._tracker.restore(state["tracker"])
        self.sinks = {"events": StreamSink(paths.wicks_dir(inst) / "events", "event_time_utc")}
        self.dropped = 0

    @property
    def cursor(self) -> tuple[int, int]:
        return self._candles.cursor

    def process(self, trades: Sequence[Trade]) -> int:
        usable = [t for t in trades if self._usable(t)]
        self.dropped += len(trades) - len(usable)
        candles = self._candles.feed(usable)
        new_wicks = [
            w for c in candles if c.timeframe in self._tfs for w in wicks_from_candle(c, self._tick)
        ]
        events = self._tracker.feed_batch(usable, new_wicks)
        if not events:
            return 0
        return self.sinks["events"].write((parse_iso_ms(e["event_time_utc"]), e) for e in events)

    def _usable(self, t: Trade) -> bool:
        q = self._quant  # `px`/`sz` are the cache-miss paths: look in the caches first
        if (q.px_cache.get(t.px) or q.px(t.px)) is None or (
            q.sz_cache.get(t.sz) or q.sz(t.sz)
        ) is None:
            return False
        try:
            self._tracker.fmt.ticks(t.px)
        except OffGridPrice:
            return False
        return True

    def save_state(self) -> None:
        """Events first, then `wicks_active.json`, then the state that covers both."""
        for sink in self.sinks.values():
            sink.sync()
        clock = self._tracker.clock_ms
        doc: dict[str, Any] = {
            "instId": self._meta.inst_id,
            "as_of_utc": None if clock is None else iso_ms(clock),
            "wicks": self._tracker.active_wicks(),
        }
        atomic_write_bytes(self.active_path, orjson.dumps(doc) + b"\n")
        atomic_write_json(
            self.state_path, {"candles": self._candles.state(), "tracker": self._tracker.state()}
        )

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
