"""An alert, its stable idempotency key and the event-time rate limit every rule shares."""

from __future__ import annotations

import hashlib
from collections import OrderedDict, deque
from typing import Any, Protocol

import attrs

RULES = ("setups", "vwap_deviation", "cvd_divergence", "test")


@attrs.frozen
class Alert:
    """What a person is told. `key` is the same wherever and whenever the alert is made."""

    key: str
    rule: str
    inst_id: str
    event_time_ms: int
    title: str  # one line: a phone's notification preview
    text: str  # the whole message, title first
    fields: dict[str, Any]  # structured copy for webhook receivers

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Alert:
        return cls(**{f.name: doc[f.name] for f in attrs.fields(cls)})


def idempotency_key(rule: str, subject: str, event: str, event_time_ms: int) -> str:
    """Hex SHA-256 of what the alert is about: a restart or a repeat computes the same key."""
    text = "\x1f".join(("rq-alert-v1", rule, subject, event, str(event_time_ms)))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class RateLimitSettings(Protocol):
    @property
    def max_alerts(self) -> int: ...
    @property
    def window_s(self) -> float: ...


class RateLimiter:
    """At most `max_alerts` per key within `window_s` of *event* time: deterministic on replay.

    Bound: `max_keys` keys (least recently used evicted) × `max_alerts` timestamps each.
    """

    def __init__(self, settings: RateLimitSettings, max_keys: int = 4096) -> None:
        self._max = settings.max_alerts
        self._window_ms = int(settings.window_s * 1000)
        self._max_keys = max_keys
        self._sent: OrderedDict[str, deque[int]] = OrderedDict()
        self.suppressed = 0

    def allow(self, key: str, event_ms: int) -> bool:
        times = self._sent.get(key)
        if times is None:
            times = self._sent[key] = deque(maxlen=self._max)
            if len(self._sent) > self._max_keys:
                self._sent.popitem(last=False)
        self._sent.move_to_end(key)
        if len(times) == self._max and event_ms - times[0] < self._window_ms:
            self.suppressed += 1
            return False
        times.append(event_ms)
        return True


def instrument_allowed(instruments: list[str], inst_id: str) -> bool:
    return not instruments or inst_id in instruments
