"""Event-time formatting. Every date, hour and timestamp in the vault comes from OKX `ts` (UTC)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from rq_actors.core.cache_census import family, lru_size

MS_PER_MINUTE = 60_000
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000


def _dt(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms // 1000, tz=UTC)


@functools.lru_cache(maxsize=8192)
def _second_text(second: int) -> str:
    return datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def iso_ms(ts_ms: int) -> str:
    """`2025-12-14T21:34:56.123Z` (millisecond precision, `Z` suffix)."""
    # One per trade on the write path; consecutive trades share their second.
    return f"{_second_text(ts_ms // 1000)}.{ts_ms % 1000:03d}Z"


def iso_s(ts_ms: int) -> str:
    """`2025-12-14T21:34:00Z` (second precision), used for window starts."""
    return _dt(ts_ms).strftime("%Y-%m-%dT%H:%M:%SZ")


def date_str(ts_ms: int) -> str:
    """`YYYY-MM-DD` of the UTC day holding `ts_ms`."""
    return _dt(ts_ms).strftime("%Y-%m-%d")


def hour_str(ts_ms: int) -> str:
    """`HH` of the UTC hour holding `ts_ms`."""
    return f"{(ts_ms % MS_PER_DAY) // MS_PER_HOUR:02d}"


@functools.lru_cache(maxsize=8192)
def _second_ms(prefix: str) -> int:
    dt = datetime.fromisoformat(prefix).replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1000


# Both evict least-recently-used entries one at a time (no clears to count).
family("time_text", 8192).track_global(lru_size(_second_text), lru_size(_second_ms))


def parse_iso_ms(text: str) -> int:
    """Inverse of `iso_ms` / `iso_s` (accepts either precision, `Z` suffix required)."""
    # Fast path for the vault's own two shapes: replays parse one per trade, and consecutive
    # trades share their second, so the datetime work is cached per second.
    n = len(text)
    if n == 24 and text[19] == "." and text[23] == "Z" and text[20:23].isdigit():
        return _second_ms(text[:19]) + int(text[20:23])
    if n == 20 and text[19] == "Z" and text[10] == "T":
        return _second_ms(text[:19])
    if not text.endswith("Z"):
        raise ValueError(f"timestamp {text!r} must end with 'Z' (UTC)")
    dt = datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1000 + dt.microsecond // 1000
