"""`[alerts]` (issue #12): rules and notifiers; secrets are only ever named, never stored."""

from __future__ import annotations

import re
from typing import Any

import attrs

from rq_actors.config._checks import (
    Validator,
    _at_least,
    _between,
    _FieldError,
    _one_of,
    _positive,
    _timeframes,
)

ALERT_TIERS = ("EXACT", "NEAR", "CLOSE", "WATCH")  # best first
ALERT_STRENGTHS = ("VERY_HIGH", "HIGH", "MEDIUM", "LOW")  # best first
ALERT_SETUP_EVENTS = ("appeared", "tier_changed", "touched", "invalidated", "expired")
NOTIFIER_KINDS = ("discord", "telegram", "webhook", "stdout")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def _subset(*choices: str) -> Validator:
    def check(_inst: Any, attribute: attrs.Attribute[Any], value: list[str]) -> None:
        bad = [v for v in value if v not in choices]
        if bad:
            raise _FieldError(attribute.name, f"unknown value(s) {bad}; allowed: {list(choices)}")

    return check


@attrs.frozen
class RateLimitConfig:
    """At most `max_alerts` alerts of one rule for one instrument per `window_s` of event time."""

    max_alerts: int = attrs.field(default=6, validator=_at_least(1))
    window_s: float = attrs.field(default=3600.0, validator=_positive)


@attrs.frozen
class SetupAlertConfig:
    enabled: bool = True
    min_tier: str = attrs.field(default="CLOSE", validator=_one_of(*ALERT_TIERS))
    min_strength: str = attrs.field(default="MEDIUM", validator=_one_of(*ALERT_STRENGTHS))
    timeframes: list[str] = attrs.field(factory=list, validator=_timeframes)  # empty: all
    sides: list[str] = attrs.field(
        factory=lambda: ["upper", "lower"], validator=_subset("upper", "lower")
    )
    instruments: list[str] = attrs.field(factory=list)  # empty: all
    events: list[str] = attrs.field(
        factory=lambda: ["appeared", "tier_changed", "touched"],
        validator=_subset(*ALERT_SETUP_EVENTS),
    )
    rate_limit: RateLimitConfig = attrs.field(factory=RateLimitConfig)


@attrs.frozen
class VwapDeviationAlertConfig:
    enabled: bool = False
    window: str = "1h"  # the vwap_{window} key of the vwap records (1h, 4h or `{N}m`)
    threshold_bps: int = attrs.field(default=50, validator=_at_least(1))
    rearm_bps: int = attrs.field(default=25, validator=_at_least(0))  # hysteresis
    instruments: list[str] = attrs.field(factory=list)
    rate_limit: RateLimitConfig = attrs.field(factory=RateLimitConfig)

    def __attrs_post_init__(self) -> None:
        if self.rearm_bps >= self.threshold_bps:
            raise _FieldError("rearm_bps", "must be below threshold_bps (the hysteresis band)")


@attrs.frozen
class CvdDivergenceAlertConfig:
    enabled: bool = False
    lookback_min: int = attrs.field(default=30, validator=_between(2, 1440))
    min_cvd_change: str = "0"  # decimal, in the [cvd] unit; the CVD move must exceed it
    instruments: list[str] = attrs.field(factory=list)
    rate_limit: RateLimitConfig = attrs.field(factory=RateLimitConfig)

    def __attrs_post_init__(self) -> None:
        if not re.fullmatch(r"\d+(\.\d+)?", self.min_cvd_change):
            raise _FieldError("min_cvd_change", "must be a non-negative decimal string")


@attrs.frozen
class NotifierConfig:
    """One receiver. `*_env` fields name environment variables; their values are the secrets."""

    kind: str = attrs.field(validator=_one_of(*NOTIFIER_KINDS))
    name: str = ""  # unique; default: the kind
    url_env: str = ""  # discord, webhook: the URL (a Discord webhook URL holds its token)
    token_env: str = ""  # telegram: the bot token
    chat_id: str = ""  # telegram: the chat to post into (not a secret)
    secret_env: str = ""  # webhook: the HMAC-SHA256 key
    api_base: str = ""  # telegram: default https://api.telegram.org (tests point it elsewhere)
    timeout_s: float = attrs.field(default=10.0, validator=_positive)

    @property
    def label(self) -> str:
        return self.name or self.kind

    def env_names(self) -> list[tuple[str, str]]:
        """(field, variable) of every secret this notifier needs."""
        need = {"discord": ["url_env"], "webhook": ["url_env", "secret_env"]}
        need["telegram"] = ["token_env"]
        return [(f, getattr(self, f)) for f in need.get(self.kind, [])]


def _notifiers(_inst: Any, attribute: attrs.Attribute[Any], value: list[NotifierConfig]) -> None:
    for i, n in enumerate(value):
        for field, env in n.env_names():
            if not env:
                raise _FieldError(f"{attribute.name}[{i}].{field}", f"{n.kind} needs {field}")
            if not _ENV_NAME.fullmatch(env):
                raise _FieldError(
                    f"{attribute.name}[{i}].{field}",
                    "must name an environment variable (A-Z, 0-9, _), not hold a secret",
                )
        if n.kind == "telegram" and not n.chat_id:
            raise _FieldError(f"{attribute.name}[{i}].chat_id", "telegram needs chat_id")
        if n.api_base and not n.api_base.startswith(("http://", "https://")):
            raise _FieldError(f"{attribute.name}[{i}].api_base", "must start with http(s)://")
    labels = [n.label for n in value]
    if len(set(labels)) != len(labels):
        raise _FieldError(attribute.name, f"notifier names must be unique, got {labels}")


@attrs.frozen
class AlertsConfig:
    dashboard_url: str = ""  # when set, every alert links to the dashboard
    max_age_s: float = attrs.field(default=900.0, validator=_positive)  # older: dropped, counted
    outbox_max: int = attrs.field(default=1000, validator=_between(1, 100_000))
    retry_initial_s: float = attrs.field(default=1.0, validator=_positive)
    retry_max_s: float = attrs.field(default=120.0, validator=_positive)
    retry_after_max_s: float = attrs.field(default=3600.0, validator=_positive)
    bus_capacity: int = attrs.field(default=4096, validator=_between(16, 1_000_000))
    setups: SetupAlertConfig = attrs.field(factory=SetupAlertConfig)
    vwap_deviation: VwapDeviationAlertConfig = attrs.field(factory=VwapDeviationAlertConfig)
    cvd_divergence: CvdDivergenceAlertConfig = attrs.field(factory=CvdDivergenceAlertConfig)
    notifiers: list[NotifierConfig] = attrs.field(factory=list, validator=_notifiers)
