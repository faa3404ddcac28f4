"""Which setup lifecycle events (the `signals` stream, SPEC §8.3) become alerts.

- `appeared` and `tier_changed` alert when the setup passes the filters and is at least
  `min_tier` and `min_strength`; a `tier_changed` alerts only when the tier is *better* than any
  already alerted for that setup (no flip-flop EXACT→NEAR→EXACT spam).
- `touched`, `invalidated`, `expired` alert only for a setup the trader was already told about,
  and close it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Protocol

from rq_actors.core.alerts.model import (
    Alert,
    RateLimiter,
    RateLimitSettings,
    idempotency_key,
    instrument_allowed,
)
from rq_actors.core.alerts.text import dashboard_link, setup_message

TIER_RANK = {"EXACT": 0, "NEAR": 1, "CLOSE": 2, "WATCH": 3}
STRENGTH_RANK = {"VERY_HIGH": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 3}
_OPENING = ("appeared", "tier_changed")
_CLOSING = ("touched", "invalidated", "expired")
RULE = "setups"


class SetupSettings(Protocol):
    @property
    def enabled(self) -> bool: ...
    @property
    def min_tier(self) -> str: ...
    @property
    def min_strength(self) -> str: ...
    @property
    def timeframes(self) -> list[str]: ...
    @property
    def sides(self) -> list[str]: ...
    @property
    def instruments(self) -> list[str]: ...
    @property
    def events(self) -> list[str]: ...
    @property
    def rate_limit(self) -> RateLimitSettings: ...


class SetupRule:
    """Bound: `max_open` alerted setups remembered (oldest forgotten first)."""

    def __init__(self, settings: SetupSettings, dashboard_url: str, max_open: int = 4096) -> None:
        self._s = settings
        self._dashboard = dashboard_url
        self._max_open = max_open
        self._best_alerted: OrderedDict[str, int] = OrderedDict()  # setup id → best tier rank
        self.limiter = RateLimiter(settings.rate_limit)

    def feed(self, rec: dict[str, Any], event_ms: int) -> Alert | None:
        s = self._s
        event = rec.get("event")
        if not s.enabled or event not in s.events:
            return None
        if s.timeframes and rec.get("tf") not in s.timeframes:
            return None
        if rec.get("side") not in s.sides or not instrument_allowed(s.instruments, rec["instId"]):
            return None
        setup_id = str(rec["id"])
        if event in _OPENING:
            rank = TIER_RANK.get(rec.get("tier", ""), 99)
            if rank > TIER_RANK[s.min_tier]:
                return None
            if STRENGTH_RANK.get(rec.get("strength", ""), 99) > STRENGTH_RANK[s.min_strength]:
                return None
            best = self._best_alerted.get(setup_id)
            if best is not None and rank >= best:
                return None
        elif event in _CLOSING and setup_id not in self._best_alerted:
            return None
        if not self.limiter.allow(f"{RULE}:{rec['instId']}", event_ms):
            return None
        self._remember(setup_id, str(event), rec)
        title, text = setup_message(rec, dashboard_link(self._dashboard, rec["instId"], rec["tf"]))
        return Alert(
            key=idempotency_key(RULE, setup_id, str(event), event_ms),
            rule=RULE,
            inst_id=rec["instId"],
            event_time_ms=event_ms,
            title=title,
            text=text,
            fields=dict(rec),
        )

    def _remember(self, setup_id: str, event: str, rec: dict[str, Any]) -> None:
        if event in _CLOSING:
            self._best_alerted.pop(setup_id, None)
            return
        self._best_alerted[setup_id] = TIER_RANK[rec["tier"]]
        self._best_alerted.move_to_end(setup_id)
        if len(self._best_alerted) > self._max_open:
            self._best_alerted.popitem(last=False)
