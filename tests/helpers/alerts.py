"""Records of the shapes the alert rules read (the signal-stream contract, docs/SIGNALS.md)."""

from __future__ import annotations

from typing import Any

from rq_actors.core.timefmt import iso_ms
from rq_actors.messages import LiveRecord

INST = "BTC-USDT-SWAP"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def signal(event: str, ms: int = T0, **over: Any) -> LiveRecord:
    rec: dict[str, Any] = {
        "event_time_utc": iso_ms(ms),
        "event": event,
        "id": f"{INST}:5m:2026-01-01T00:00:00Z:upper",
        "instId": INST,
        "tf": "5m",
        "side": "upper",
        "fade": "short",
        "tip": "43250.5",
        "base": "43248.0",
        "size_ticks": 3,
        "age_min": 27,
        "tier": "EXACT",
        "strength": "VERY_HIGH",
        "touched_surrounding": 16,
        "surrounding": 20,
        "price": "43250.5",
        "distance_ticks": 0,
        "vwap_1h": "43100.2",
        "vwap_4h": "42980.0",
        "vwap_1h_dev_bps": "34.84",
        "cvd_30m": "-1520.3",
    }
    rec.update(over)
    return LiveRecord("signals", rec["instId"], "events", ms, rec)
