"""Everything that crosses a trio channel between actors.

All messages are frozen attrs classes and carry *batches* (one WebSocket frame, one REST page),
never single items: a channel hop costs microseconds, so per-item sends would cap throughput far
below what a liquidation burst needs (SPEC §3).
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

Side = Literal["buy", "sell"]
Endpoint = Literal["public", "business"]


@attrs.frozen(slots=True)
class Trade:
    """One validated trade, prices and sizes kept as the exchange's exact decimal strings."""

    inst_id: str
    trade_id: int
    ts_ms: int
    side: Side
    px: str
    sz: str
    count: int | None = None  # only on the aggregated `trades` channel


@attrs.frozen(slots=True)
class TradeFrame:
    """The parsed `data` rows of one `trades` / `trades-all` push, not yet validated.

    The trade writer validates each row and quarantines bad ones with `raw`.
    """

    inst_id: str
    channel: str
    rows: tuple[Any, ...]
    raw: str
    received_ns: int
    epoch: int


@attrs.frozen(slots=True)
class BookFrame:
    """The parsed `data` rows of one `books` push (snapshot or update)."""

    inst_id: str
    channel: str
    action: str
    rows: tuple[Any, ...]
    raw: str
    received_ns: int
    epoch: int


@attrs.frozen(slots=True)
class ConnectionEvent:
    """A connection of the socket actor came up (subscribed) or went down.

    `epoch` increases with every new connection of that endpoint. The trade writer uses `up` after
    a `down` (or the first `up`) to start a REST backfill; the book actor forgets its book on `down`
    of the endpoint that carried it.
    """

    inst_id: str
    endpoint: Endpoint
    epoch: int
    state: Literal["up", "down"]
    reason: str = ""


@attrs.frozen(slots=True)
class Resubscribe:
    """Book actor → socket actor: unsubscribe and subscribe this one channel again."""

    inst_id: str
    channel: str
    reason: str


@attrs.frozen(slots=True)
class DurableTrades:
    """Trade writer → derived actors: trades that are flushed to the vault, in vault order."""

    inst_id: str
    trades: tuple[Trade, ...]


HealthState = Literal[
    "starting", "running", "lagging", "recovering", "restarting", "stopped", "failed"
]


@attrs.frozen(slots=True)
class HealthReport:
    """One line of the health log stream (SPEC §9)."""

    ts: str
    actor: str
    inst_id: str
    state: HealthState
    restarts: int
    counters: dict[str, int]
    lag_ms: int | None
    last_error: str | None


@attrs.frozen(slots=True)
class LiveRecord:
    """Derived actor → live bus: one record just written to a derived stream.

    `kind` is the metric (`candles`, `cvd`, `vwap`, `wicks`, `signals`), `stream` its stream
    within the instrument (a timeframe such as `1m`, or `events`), `time_ms` the record's event
    time and `record` exactly the JSON object written to the vault.
    """

    kind: str
    inst_id: str
    stream: str
    time_ms: int
    record: dict[str, Any]


TradeInbox = TradeFrame | ConnectionEvent
BookInbox = BookFrame | ConnectionEvent
