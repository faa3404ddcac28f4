"""Persisted tracker state: everything a resumed tracker needs to emit exactly the events an
uninterrupted one would.

The tracker exports a `TrackerState` value (prices in ticks) and restores from one; this module
only converts that value to and from its JSON document, so it knows nothing of the tracker.

Shape (a JSON document; prices are canonical decimal strings, times are int ms):
`{"kind": "wicks", "version", "instId", "tickSz", "expiry_hours", "near_ticks",
  "last_ts_ms", "last_trade_id", "minute", "wicks"}`
- `last_ts_ms` / `last_trade_id`: the cursor, `-1` / `"-1"` before the first trade;
- `minute`: the open 1m minute `{"start_ms", "high", "low", "close"}` or null;
- `wicks`: one entry per retained wick (created within `expiry_hours`), in wick order: its
  identity (`tf, side, open_ms, tip, base`), `status`, `extreme` (closest price so far while
  untouched), `near_miss_ms`, `touched_ms`, `trade_id`, `touch_price` and `variant` (null while
  the touch is pending, i.e. touched in the open minute).
A state written for another instrument, tick size or setting is refused: mixing would silently
change meanings (rebuild from the vault instead).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

import attrs

from rq_actors.core.wicks.model import TouchVariant, WickSide
from rq_actors.core.wicks.records import Formatter, price_or_none
from rq_actors.errors import IncompatibleState

KIND = "wicks"
VERSION = 1
SavedStatus = Literal["untouched", "touched"]  # expired wicks are not kept
_STATUSES: tuple[SavedStatus, ...] = get_args(SavedStatus)


@attrs.frozen
class TrackerSettings:
    """What a state must have been written with to be restored (its header)."""

    inst_id: str
    tick_sz: str  # canonical text of the tick size
    expiry_hours: int
    near_ticks: int


@attrs.frozen
class MinuteState:
    """The open 1m minute's start and high/low/close (ticks)."""

    start_ms: int
    high: int
    low: int
    close: int


@attrs.frozen
class WickState:
    """One retained wick: identity, tracking state and (untouched) closest price, in ticks."""

    tf: str
    side: WickSide
    open_ms: int
    tip: int
    base: int
    status: SavedStatus
    extreme: int | None
    near_ms: int | None
    touched_ms: int | None
    trade_id: int | None
    touch_price: int | None
    variant: TouchVariant | None


@attrs.frozen
class TrackerState:
    settings: TrackerSettings
    cursor: tuple[int, int] | None
    minute: MinuteState | None
    wicks: tuple[WickState, ...]


def to_json(state: TrackerState, fmt: Formatter) -> dict[str, Any]:
    last_ts, last_id = state.cursor if state.cursor is not None else (-1, -1)
    minute = state.minute
    return {
        **_header(state.settings),
        "last_ts_ms": last_ts,
        "last_trade_id": str(last_id),
        "minute": None
        if minute is None
        else {
            "start_ms": minute.start_ms,
            "high": fmt.price(minute.high),
            "low": fmt.price(minute.low),
            "close": fmt.price(minute.close),
        },
        "wicks": [_wick_json(w, fmt) for w in state.wicks],
    }


def from_json(doc: Mapping[str, Any], expected: TrackerSettings, fmt: Formatter) -> TrackerState:
    """Parse `doc`, refusing (`IncompatibleState`) a state written with other settings than
    `expected`, or one that cannot be read."""
    check_compatible(doc, expected)
    try:
        return _parse(doc, expected, fmt)
    except (KeyError, TypeError, ValueError) as exc:
        raise IncompatibleState(
            f"wick state for {expected.inst_id} is unreadable ({exc!r}); rebuild from the vault"
        ) from exc


def _parse(doc: Mapping[str, Any], expected: TrackerSettings, fmt: Formatter) -> TrackerState:
    last_ts, last_id = int(doc["last_ts_ms"]), int(doc["last_trade_id"])
    minute = doc.get("minute")
    return TrackerState(
        settings=expected,
        cursor=None if last_ts < 0 else (last_ts, last_id),
        minute=None
        if minute is None
        else MinuteState(
            int(minute["start_ms"]),
            _ticks(fmt, minute["high"]),
            _ticks(fmt, minute["low"]),
            _ticks(fmt, minute["close"]),
        ),
        wicks=tuple(_wick_from_json(entry, fmt) for entry in doc["wicks"]),
    )


def check_compatible(doc: Mapping[str, Any], expected: TrackerSettings) -> None:
    """Raise unless `doc` was written by a tracker with the `expected` instrument and settings."""
    for key, value in _header(expected).items():
        if doc.get(key) != value:
            raise IncompatibleState(
                f"wick state for {expected.inst_id}: {key} is {doc.get(key)!r}, expected "
                f"{value!r}; rebuild from the vault"
            )


def _header(s: TrackerSettings) -> dict[str, Any]:
    return {
        "kind": KIND,
        "version": VERSION,
        "instId": s.inst_id,
        "tickSz": s.tick_sz,
        "expiry_hours": s.expiry_hours,
        "near_ticks": s.near_ticks,
    }


def _wick_json(w: WickState, fmt: Formatter) -> dict[str, Any]:
    return {
        "tf": w.tf,
        "side": w.side,
        "open_ms": w.open_ms,
        "tip": fmt.price(w.tip),
        "base": fmt.price(w.base),
        "status": w.status,
        "extreme": price_or_none(w.extreme, fmt) if w.status == "untouched" else None,
        "near_miss_ms": w.near_ms,
        "touched_ms": w.touched_ms,
        "trade_id": None if w.trade_id is None else str(w.trade_id),
        "touch_price": price_or_none(w.touch_price, fmt),
        "variant": w.variant,
    }


def _wick_from_json(entry: Mapping[str, Any], fmt: Formatter) -> WickState:
    status = entry["status"]
    if status not in _STATUSES:
        raise IncompatibleState(f"wick state: a {entry.get('tf')} wick has status {status!r}")
    return WickState(
        tf=str(entry["tf"]),
        side=entry["side"],
        open_ms=int(entry["open_ms"]),
        tip=_ticks(fmt, entry["tip"]),
        base=_ticks(fmt, entry["base"]),
        status=status,
        extreme=_opt_ticks(fmt, entry.get("extreme")),
        near_ms=_opt_int(entry.get("near_miss_ms")),
        touched_ms=_opt_int(entry.get("touched_ms")),
        trade_id=_opt_int(entry.get("trade_id")),
        touch_price=_opt_ticks(fmt, entry.get("touch_price")),
        variant=entry.get("variant"),
    )


def _ticks(fmt: Formatter, text: Any) -> int:
    return fmt.ticks(str(text))


def _opt_ticks(fmt: Formatter, text: Any) -> int | None:
    return None if text is None else _ticks(fmt, text)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)
