"""Validate one `data` row of a `books` push into a `BookRow` (okx-protocol.md §3.2).

Pure. Anything that does not have the documented shape raises `MalformedRow` with a short
reason; the actor quarantines the frame's raw text with it and keeps going (a skipped update
then shows up as a sequence gap, which recovers the book).
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from rq_actors.core.book.model import LevelError, PreparedLevel, prepare_levels
from rq_actors.core.okx.trades import MAX_TS_MS

_TS_DIGITS = len(str(MAX_TS_MS))

Action = Literal["snapshot", "update"]


class MalformedRow(ValueError):
    """A book row that cannot be used. `str(exc)` is the quarantine reason."""


@attrs.frozen(slots=True)
class BookRow:
    """One validated book message; levels are already validated and keyed."""

    action: Action
    bids: list[PreparedLevel]
    asks: list[PreparedLevel]
    ts_ms: int
    seq_id: int
    prev_seq_id: int
    checksum: int  # 0 means "not provided" (OKX sends 0 since 2026-06-23)

    @property
    def is_empty(self) -> bool:
        return not self.bids and not self.asks


def parse_row(row: Any, action: str) -> BookRow:
    """Turn one row of `data` into a `BookRow`, or raise `MalformedRow`."""
    if action not in ("snapshot", "update"):
        raise MalformedRow(f"unknown book action {action!r}")
    if not isinstance(row, dict):
        raise MalformedRow("book row is not an object")
    ts_ms = _ts(row.get("ts"))
    seq_id = _int(row, "seqId", required=True)
    prev_seq_id = _int(row, "prevSeqId", required=True)
    checksum = _int(row, "checksum", required=False)
    if seq_id < 0:
        raise MalformedRow(f"seqId {seq_id} is negative")
    if prev_seq_id < -1:
        raise MalformedRow(f"prevSeqId {prev_seq_id} is below -1")
    if "bids" not in row or "asks" not in row:
        raise MalformedRow("missing bids/asks")
    try:
        bids = prepare_levels(row["bids"], "bids")
        asks = prepare_levels(row["asks"], "asks")
    except LevelError as exc:
        raise MalformedRow(str(exc)) from None
    return BookRow(
        action="snapshot" if action == "snapshot" else "update",
        bids=bids,
        asks=asks,
        ts_ms=ts_ms,
        seq_id=seq_id,
        prev_seq_id=prev_seq_id,
        checksum=checksum,
    )


def row_ts_ms(row: Any) -> int | None:
    """The event time of a row if it has a usable one (for file placement of raw frames)."""
    if not isinstance(row, dict):
        return None
    try:
        return _ts(row.get("ts"))
    except MalformedRow:
        return None


def _ts(value: Any) -> int:
    # OKX sends `ts` as a string of milliseconds; an integer is accepted for old recordings.
    # Bounded by the last millisecond a date can be formatted for: a record is filed under its
    # event-time date and hour (and past 4300 digits `int()` would raise ValueError itself).
    if type(value) is int and 0 <= value <= MAX_TS_MS:
        return value
    if (
        isinstance(value, str)
        and len(value) <= _TS_DIGITS
        and value.isascii()
        and value.isdigit()
        and int(value) <= MAX_TS_MS
    ):
        return int(value)
    raise MalformedRow(f"bad or missing ts {_show(value)}")


def _int(row: dict[str, Any], key: str, *, required: bool) -> int:
    value = row.get(key)
    if value is None and not required:
        return 0
    if type(value) is not int:  # bool is not a sequence number
        raise MalformedRow(f"bad or missing {key} {_show(value)}")
    return value


def _show(value: Any) -> str:
    """`repr(value)`, cut short: the reason names the value, the quarantined raw text has it all."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:80]}… ({len(text)} chars)"
