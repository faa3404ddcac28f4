"""The alert rules engine: every live record in, the alerts it causes out (pure, synchronous).

The records are the ones the derived jobs write (and publish on the live bus): `signals/events`
lifecycle events, final 1m `candles`, `vwap` and 1m `cvd` windows. Nothing here reads a clock.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from rq_actors.core.alerts.market import (
    CvdDivergenceRule,
    CvdDivergenceSettings,
    VwapDeviationRule,
    VwapDeviationSettings,
)
from rq_actors.core.alerts.model import Alert, idempotency_key
from rq_actors.core.alerts.setups import SetupRule, SetupSettings
from rq_actors.messages import LiveRecord


class AlertSettings(Protocol):
    @property
    def dashboard_url(self) -> str: ...
    @property
    def setups(self) -> SetupSettings: ...
    @property
    def vwap_deviation(self) -> VwapDeviationSettings: ...
    @property
    def cvd_divergence(self) -> CvdDivergenceSettings: ...


class AlertRules:
    def __init__(self, settings: AlertSettings) -> None:
        url = settings.dashboard_url
        self.setups = SetupRule(settings.setups, url)
        self.vwap = VwapDeviationRule(settings.vwap_deviation, url)
        self.cvd = CvdDivergenceRule(settings.cvd_divergence, url)
        self._vwap_on = settings.vwap_deviation.enabled
        self._cvd_on = settings.cvd_divergence.enabled
        self.records_seen = 0

    @property
    def rate_limited(self) -> int:
        return sum(r.limiter.suppressed for r in (self.setups, self.vwap, self.cvd))

    def feed(self, item: LiveRecord) -> list[Alert]:
        self.records_seen += 1
        out: list[Alert | None] = []
        kind, inst, rec, ms = item.kind, item.inst_id, item.record, item.time_ms
        if kind == "signals":
            out.append(self.setups.feed(rec, ms))
        elif kind == "candles" and item.stream == "1m":
            close = Decimal(str(rec["close"]))
            if self._vwap_on:
                out.append(self.vwap.on_candle(inst, ms, close))
            if self._cvd_on:
                out.append(self.cvd.on_candle(inst, ms, close))
        elif kind == "vwap" and self._vwap_on:
            out.append(self.vwap.on_vwap(inst, ms, rec))
        elif kind == "cvd" and item.stream == "1m" and self._cvd_on:
            out.append(self.cvd.on_cvd(inst, ms, rec))
        return [a for a in out if a is not None]


def probe_alert(event_ms: int, label: str) -> Alert:
    """The `rq alerts test` message: proves a notifier's path end to end."""
    title = f"rq-actors test alert ({label})"
    text = f"{title}\nIf you read this on your phone, alerts reach you."
    key = idempotency_key("test", label, "test", event_ms)
    return Alert(key, "test", "-", event_ms, title, text, {"event": "test"})
