"""Event-time formatting. Every date, hour and timestamp in the vault comes from OKX `ts` (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

MS_PER_MINUTE = 60_000
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000


def _dt(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms // 1000, tz=UTC)


def iso_ms(ts_ms: int) -> str:
    """`2025-12-14T21:34:56.123Z` (millisecond precision, `Z` suffix)."""
    return _dt(ts_ms).strftime("%Y-%m-%dT%H:%M:%S") + f".{ts_ms % 1000:03d}Z"


def iso_s(ts_ms: int) -> str:
    """`2025-12-14T21:34:00Z` (second precision), used for window starts."""
    return _dt(ts_ms).strftime("%Y-%m-%dT%H:%M:%SZ")


def date_str(ts_ms: int) -> str:
    """`YYYY-MM-DD` of the UTC day holding `ts_ms`."""
    return _dt(ts_ms).strftime("%Y-%m-%d")


def hour_str(ts_ms: int) -> str:
    """`HH` of the UTC hour holding `ts_ms`."""
    return f"{(ts_ms % MS_PER_DAY) // MS_PER_HOUR:02d}"


def parse_iso_ms(text: str) -> int:
    """Inverse of `iso_ms` / `iso_s` (accepts either precision, `Z` suffix required)."""
    if not text.endswith("Z"):
        raise ValueError(f"timestamp {text!r} must end with 'Z' (UTC)")
    dt = datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1000 + dt.microsecond // 1000
