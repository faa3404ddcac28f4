"""Simulator options. Re-exported by `rq_actors.sim.server`.

Market-side durations (`heartbeat_s`, `book_interval_ms`, `reset_every_s`) run on market time,
which is `speed`× trio time; connection-side durations (idle close, pong delay, notice close,
the disconnect and notice schedules) run on trio time, like a real socket's timers.
"""

from __future__ import annotations

import attrs

from rq_actors.config import FaultOptions  # config holds it: sim depends on config

__all__ = ["FaultOptions", "SimOptions"]


def _default_instruments() -> list[str]:
    return ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]


@attrs.define
class SimOptions:
    seed: int = 7
    instruments: list[str] = attrs.field(factory=_default_instruments)
    trades_per_s: float = 20.0
    book_interval_ms: int = 100
    # Scales every instrument's 2 % daily volatility; a wider walk meets new prices sooner,
    # which the soak uses to fill the pipeline's bounded price caches early.
    vol_scale: float = 1.0
    heartbeat_s: float = 60.0
    nonzero_checksums: bool = False
    start_ms: int | None = None  # None = wall clock when serving starts
    speed: float = 1.0  # market time runs speed× trio time
    idle_close_s: float = 30.0
    faults: FaultOptions = attrs.field(factory=FaultOptions)
    # The truth kept per instrument: the newest `record_limit` fills and as many book messages
    # (up to 25 % more between trims; 0 = keep nothing, None = keep all, for tests that compare
    # a whole run). A book message costs ~1-6 KB, so this is the simulator's largest memory.
    record_limit: int | None = 10_000
    history_limit: int = 200_000  # fills per instrument served by REST trade history (+25 %)
    # First trade id and sequence numbers, in µs; None = the market start time in µs, so a
    # restarted simulator continues the tape instead of replaying ids a vault already holds.
    id_origin: int | None = None
    send_queue: int = 20_000  # frames buffered per connection before a 4005 close
