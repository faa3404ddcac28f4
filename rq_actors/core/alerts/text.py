"""The words a trader reads on a phone: the gist in the first line, context in one glance."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

_HEADLINES = {
    "appeared": "SETUP",
    "tier_changed": "SETUP",
    "touched": "TOUCHED",
    "invalidated": "GONE",
    "expired": "EXPIRED",
}


def dashboard_link(base: str, inst_id: str, tf: str | None) -> str | None:
    if not base:
        return None
    query = {"instId": inst_id, **({"tf": tf} if tf else {})}
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}{urlencode(query)}"


def one_decimal(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN))


def signed(text: str) -> str:
    return text if text.startswith("-") else f"+{text}"


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _vwap_line(rec: dict[str, Any]) -> str | None:
    parts = []
    if rec.get("vwap_1h") is not None:
        dev = _dec(rec.get("vwap_1h_dev_bps"))
        extra = "" if dev is None else f" ({signed(one_decimal(dev))} bps)"
        parts.append(f"1h {rec['vwap_1h']}{extra}")
    if rec.get("vwap_4h") is not None:
        parts.append(f"4h {rec['vwap_4h']}")
    return "VWAP " + " · ".join(parts) if parts else None


def setup_message(rec: dict[str, Any], link: str | None) -> tuple[str, str]:
    """(title, text) of one signal lifecycle event (the signal-stream record)."""
    event = str(rec["event"])
    fade = str(rec["fade"]).upper()
    title = (
        f"{_HEADLINES.get(event, event.upper())} {fade} fade {rec['instId']} {rec['tf']}"
        f" · {rec['tier']}/{rec['strength']}"
    )
    lines = [
        title,
        f"{rec['side'].capitalize()} wick tip {rec['tip']} (size {rec['size_ticks']} ticks)",
        f"Price {rec['price']} · {rec['distance_ticks']} ticks from tip",
        f"Age {rec['age_min']} min · touched neighbours "
        f"{rec['touched_surrounding']}/{rec['surrounding']}",
    ]
    vwap = _vwap_line(rec)
    if vwap:
        lines.append(vwap)
    if rec.get("cvd_30m") is not None:
        lines.append(f"CVD 30m {signed(str(rec['cvd_30m']))}")
    lines.append(f"{event} · {rec['event_time_utc']}")
    if link:
        lines.append(link)
    return title, "\n".join(lines)


def market_message(title: str, body: list[str], when: str, link: str | None) -> str:
    return "\n".join([title, *body, when, *([link] if link else [])])
