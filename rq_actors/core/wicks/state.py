"""Persisted tracker state: everything a resumed tracker needs to emit exactly the events an
uninterrupted one would.

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
from typing import Any

from rq_actors.core.timefmt import MS_PER_MINUTE
from rq_actors.core.wicks.live import Live
from rq_actors.core.wicks.model import make_wick
from rq_actors.core.wicks.records import price_or_none
from rq_actors.core.wicks.tracker import WickTracker

KIND = "wicks"
VERSION = 1
_STATUSES = ("untouched", "touched")


def tracker_state(t: WickTracker) -> dict[str, Any]:
    minute = t._minute()
    last_ts, last_id = t.cursor if t.cursor is not None else (-1, -1)
    return {
        **_header(t),
        "last_ts_ms": last_ts,
        "last_trade_id": str(last_id),
        "minute": None
        if minute is None
        else {
            "start_ms": minute[0],
            "high": t.fmt.price(minute[1]),
            "low": t.fmt.price(minute[2]),
            "close": t.fmt.price(minute[3]),
        },
        "wicks": [_wick_state(t, lv) for lv in t.live_wicks()],
    }


def restore_into(t: WickTracker, state: Mapping[str, Any]) -> None:
    """Load `state` into a fresh tracker built from the current configuration."""
    if t.cursor is not None or t.live_wicks() or t.pending():
        raise ValueError("restore needs a fresh tracker")
    check_compatible(state, t)
    _fill(t, state)


def check_compatible(state: Mapping[str, Any], tracker: WickTracker) -> None:
    """Raise unless `state` was written by a tracker with `tracker`'s instrument and settings."""
    for key, value in _header(tracker).items():
        if state.get(key) != value:
            raise ValueError(
                f"wick state for {tracker.inst_id}: {key} is {state.get(key)!r}, expected "
                f"{value!r}; rebuild from the vault"
            )


def _header(t: WickTracker) -> dict[str, Any]:
    return {
        "kind": KIND,
        "version": VERSION,
        "instId": t.inst_id,
        "tickSz": t.fmt.price(1),
        "expiry_hours": t.expiry_hours,
        "near_ticks": t.near_ticks,
    }


def _wick_state(t: WickTracker, lv: Live) -> dict[str, Any]:
    w = lv.wick
    return {
        "tf": w.tf,
        "side": w.side,
        "open_ms": w.open_ms,
        "tip": t.fmt.price(w.tip),
        "base": t.fmt.price(w.base),
        "status": lv.status,
        "extreme": price_or_none(t.extreme_of(lv), t.fmt) if lv.status == "untouched" else None,
        "near_miss_ms": lv.near_ms,
        "touched_ms": lv.touched_ms,
        "trade_id": None if lv.trade_id is None else str(lv.trade_id),
        "touch_price": price_or_none(lv.touch_price, t.fmt),
        "variant": lv.variant,
    }


def _fill(t: WickTracker, state: Mapping[str, Any]) -> None:
    last_ts, last_id = int(state["last_ts_ms"]), int(state["last_trade_id"])
    t.cursor = None if last_ts < 0 else (last_ts, last_id)
    minute = state.get("minute")
    if minute is not None:
        t._restore_minute(
            int(minute["start_ms"]),
            _ticks(t, minute["high"]),
            _ticks(t, minute["low"]),
            _ticks(t, minute["close"]),
        )
    lives: list[Live] = []
    extremes: dict[str, int | None] = {}
    for entry in state["wicks"]:
        w = make_wick(
            t.inst_id,
            str(entry["tf"]),
            int(entry["open_ms"]),
            entry["side"],
            _ticks(t, entry["tip"]),
            _ticks(t, entry["base"]),
        )
        lv = Live(w, w.created_ms + t.expiry_ms)
        status = entry["status"]
        if status not in _STATUSES:
            raise ValueError(f"wick state: {w.id} has status {status!r}")
        lv.status = status
        lv.near_ms = _opt_int(entry.get("near_miss_ms"))
        lv.touched_ms = _opt_int(entry.get("touched_ms"))
        lv.trade_id = _opt_int(entry.get("trade_id"))
        lv.touch_price = (
            None if entry.get("touch_price") is None else _ticks(t, entry["touch_price"])
        )
        lv.variant = entry.get("variant")
        if status == "touched" and (lv.touched_ms is None or lv.touch_price is None):
            raise ValueError(f"wick state: touched wick {w.id} has no touch")
        extreme = entry.get("extreme")
        extremes[w.id] = None if extreme is None else _ticks(t, extreme)
        lives.append(lv)
    pending = [lv for lv in lives if lv.status == "touched" and lv.variant is None]
    start = None if minute is None else int(minute["start_ms"])
    for lv in pending:  # a pending touch belongs to the open minute, or it could never resolve
        assert lv.touched_ms is not None
        if start is None or not start <= lv.touched_ms < start + MS_PER_MINUTE:
            raise ValueError(f"wick state: {lv.wick.id} touch is pending outside the open minute")
    t._restore_wicks(lives, extremes)


def _ticks(t: WickTracker, text: Any) -> int:
    return t.fmt.ticks(str(text))


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)
