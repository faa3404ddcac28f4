"""Validation of one OKX trade row (WS `trades` / `trades-all` push, or REST trade history).

Pure functions: a row either becomes a `Trade` or a `Reject` carrying a human-readable reason
for the quarantine line (SPEC §5). Numbers are checked strictly and kept as the exchange's exact
strings: a plain decimal, no sign, no exponent, no NaN/inf, greater than zero.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from rq_actors.messages import Side, Trade

REQUIRED_FIELDS = ("ts", "instId", "tradeId", "px", "sz", "side")
SIDES = ("buy", "sell")

_PLAIN_DECIMAL = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
_POSITIVE_INT = re.compile(r"[1-9][0-9]*")
# Length caps, checked before any regex or int(): OKX prices and sizes are a few digits, ids fit
# in a signed 64-bit integer. A longer string is corruption (or hostile), must not reach the
# vault verbatim (a 1 MB "price"), and past 4300 digits `int()` itself raises ValueError.
MAX_DECIMAL_CHARS = 40
MAX_INT_DIGITS = 19
# How much of a rejected value a quarantine reason quotes (the raw text is kept in full).
_SHOW_CHARS = 80
# The largest millisecond timestamp `datetime` can format (9999-12-31T23:59:59.999Z); anything
# beyond it could not be filed under an event-time date.
MAX_TS_MS = 253_402_300_799_999


@attrs.frozen
class Reject:
    """Why a row was not accepted, and its event time when one was readable (for filing)."""

    reason: str
    ts_ms: int | None = None


def is_positive_decimal(value: object) -> bool:
    """True for a string like `"64012.3"` or `"0.01"`: plain decimal notation and > 0.

    Rejects exponents (`"1e5"`), signs, NaN/inf, whitespace, leading zeros (`"01"`), bare dots,
    zero and strings longer than `MAX_DECIMAL_CHARS`: OKX never sends those for a price or size,
    so any of them means corruption.
    """
    if not isinstance(value, str) or len(value) > MAX_DECIMAL_CHARS:
        return False
    if not _PLAIN_DECIMAL.fullmatch(value):
        return False
    return any(c not in "0." for c in value)


def parse_positive_int(value: object) -> int | None:
    """`"1850021907"` → 1850021907; None unless it is a decimal string of a positive integer
    of at most `MAX_INT_DIGITS` digits."""
    if isinstance(value, str) and len(value) <= MAX_INT_DIGITS and _POSITIVE_INT.fullmatch(value):
        return int(value)
    return None


def _show(value: object) -> str:
    """`repr(value)`, cut short: a reason names the bad value, the raw text keeps all of it."""
    text = repr(value)
    return text if len(text) <= _SHOW_CHARS else f"{text[:_SHOW_CHARS]}… ({len(text)} chars)"


def _parse_ts(value: object) -> int | None:
    ts = parse_positive_int(value)
    return ts if ts is not None and ts <= MAX_TS_MS else None


def parse_trade_row(row: Any, inst_id: str, *, aggregated: bool = False) -> Trade | Reject:
    """Validate one trade row for the configured `inst_id`.

    `aggregated` is True for the `trades` channel, whose rows must carry `count` (the number of
    fills folded into the row); `trade_id - count` is then the previous row's id when nothing was
    missed. On `trades-all` and REST rows a `count` field, if any, is ignored: those rows are
    single fills.
    """
    if not isinstance(row, dict):
        return Reject(f"row is not a JSON object: {type(row).__name__}")
    ts_ms = _parse_ts(row.get("ts"))
    missing = [f for f in REQUIRED_FIELDS if row.get(f) in (None, "")]
    if aggregated and row.get("count") in (None, ""):
        missing.append("count")
    if missing:
        return Reject(f"missing field(s): {', '.join(missing)}", ts_ms)
    if ts_ms is None:
        return Reject(f"bad ts {_show(row['ts'])}: not a millisecond timestamp", None)
    if row["instId"] != inst_id:
        return Reject(f"instId {_show(row['instId'])} is not the configured {inst_id!r}", ts_ms)
    trade_id = parse_positive_int(row["tradeId"])
    if trade_id is None:
        return Reject(f"bad tradeId {_show(row['tradeId'])}: not a positive integer string", ts_ms)
    for field in ("px", "sz"):
        if not is_positive_decimal(row[field]):
            return Reject(f"bad {field} {_show(row[field])}: not a positive plain decimal", ts_ms)
    if row["side"] not in SIDES:
        return Reject(f"unknown side {_show(row['side'])}", ts_ms)
    side: Side = "buy" if row["side"] == "buy" else "sell"
    count: int | None = None
    if aggregated:
        count = parse_positive_int(row["count"])
        if count is None:
            return Reject(f"bad count {_show(row['count'])}: not a positive integer string", ts_ms)
        if count > trade_id:
            return Reject(f"count {count} exceeds tradeId {trade_id}", ts_ms)
    return Trade(
        inst_id=inst_id,
        trade_id=trade_id,
        ts_ms=ts_ms,
        side=side,
        px=row["px"],
        sz=row["sz"],
        count=count,
    )
