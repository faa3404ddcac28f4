"""The config file's sections (SPEC §13) other than `[alerts]`, each an attrs class."""

from __future__ import annotations

import os
import re
from typing import Any

import attrs

from rq_actors.config._checks import (
    TIMEFRAMES,
    Validator,
    _at_least,
    _between,
    _check,
    _FieldError,
    _non_negative,
    _one_of,
    _positive,
    _timeframes,
    _url,
)


@attrs.frozen
class VaultConfig:
    root: str = "vault"


@attrs.frozen
class ExchangeConfig:
    ws_public_url: str = attrs.field(
        default="wss://ws.okx.com:8443/ws/v5/public", validator=_url("ws", "wss")
    )
    ws_business_url: str = attrs.field(
        default="wss://ws.okx.com:8443/ws/v5/business", validator=_url("ws", "wss")
    )
    rest_url: str = attrs.field(default="https://www.okx.com", validator=_url("http", "https"))
    trades_channel: str = attrs.field(
        default="trades-all", validator=_one_of("trades-all", "trades")
    )
    book_channel: str = attrs.field(default="books", validator=_one_of("books"))
    simulate: bool = False


@attrs.frozen
class SocketConfig:
    """Keepalive, watchdogs and reconnect policy of the socket actor (SPEC §3, §5)."""

    ping_after_s: float = attrs.field(default=20.0, validator=_positive)
    pong_timeout_s: float = attrs.field(default=10.0, validator=_positive)
    book_silence_s: float = attrs.field(default=90.0, validator=_positive)
    trades_silence_s: float = attrs.field(default=0.0, validator=_non_negative)  # 0: off
    subscribe_timeout_s: float = attrs.field(default=10.0, validator=_positive)
    reconnect_initial_s: float = attrs.field(default=0.5, validator=_positive)
    reconnect_max_s: float = attrs.field(default=30.0, validator=_positive)
    resubscribe_min_interval_s: float = attrs.field(default=5.0, validator=_non_negative)
    max_message_bytes: int = attrs.field(default=4 * 1024 * 1024, validator=_at_least(1024))
    queue_size: int = attrs.field(default=1024, validator=_at_least(1))


@attrs.frozen
class BookConfig:
    depth: int = attrs.field(default=400, validator=_between(1, 400))
    snapshot_interval_s: float = attrs.field(default=2.0, validator=_positive)
    checksum_policy: str = attrs.field(
        default="resubscribe", validator=_one_of("resubscribe", "warn", "off")
    )
    record_updates: bool = False


@attrs.frozen
class RetentionConfig:
    compress_after_hours: float = attrs.field(default=6, validator=_positive)
    delete_after_days: float = attrs.field(default=5, validator=_positive)
    interval_s: float = attrs.field(default=300, validator=_positive)


@attrs.frozen
class CvdConfig:
    unit: str = attrs.field(default="quote", validator=_one_of("quote", "base", "contracts"))
    timeframes: list[str] = attrs.field(factory=lambda: list(TIMEFRAMES), validator=_timeframes)


def _windows(_inst: Any, attribute: attrs.Attribute[Any], value: list[int]) -> None:
    if not value:
        raise _FieldError(attribute.name, "needs at least one window")
    for w in value:
        if w < 1 or w > 7 * 24 * 60:
            raise _FieldError(attribute.name, f"window {w} minutes is out of range 1..10080")
    if len(set(value)) != len(value):
        raise _FieldError(attribute.name, f"duplicate windows in {value}")


@attrs.frozen
class VwapConfig:
    windows_minutes: list[int] = attrs.field(factory=lambda: [60, 240], validator=_windows)
    weighting: str = attrs.field(default="base", validator=_one_of("base", "notional"))


@attrs.frozen
class WicksConfig:
    timeframes: list[str] = attrs.field(
        factory=lambda: ["1m", "5m", "15m", "1h", "4h"], validator=_timeframes
    )
    expiry_hours: int = attrs.field(default=168, validator=_positive)
    near_ticks: int = attrs.field(default=1, validator=_at_least(0))


@attrs.frozen
class SignalsConfig:
    """The setup stream (issue #12): the §8.3 finder after every final 1m close, per timeframe."""

    enabled: bool = True
    timeframes: list[str] = attrs.field(factory=lambda: ["1m"], validator=_timeframes)
    age_min: int = attrs.field(default=20, validator=_at_least(0))
    age_max: int = attrs.field(default=40, validator=_at_least(0))
    min_touched_surrounding: int = attrs.field(default=10, validator=_at_least(0))
    surround_minutes: int = attrs.field(default=30, validator=_at_least(0))
    side: str = attrs.field(default="same", validator=_one_of("same", "any"))
    close_ticks: int = attrs.field(default=3, validator=_at_least(0))
    max_size_ticks: int | None = None  # None: the surrounding median

    def __attrs_post_init__(self) -> None:
        if self.age_min > self.age_max:
            raise _FieldError("age_max", f"must be >= age_min ({self.age_min}), got {self.age_max}")


@attrs.frozen
class SupervisorConfig:
    max_restarts: int = attrs.field(default=5, validator=_at_least(0))
    restart_window_s: float = attrs.field(default=60, validator=_positive)
    backoff_initial_s: float = attrs.field(default=0.5, validator=_non_negative)
    backoff_max_s: float = attrs.field(default=30, validator=_non_negative)
    shutdown_grace_s: float = attrs.field(default=4.0, validator=_positive)


@attrs.frozen
class HealthConfig:
    interval_s: float = attrs.field(default=5, validator=_positive)
    stderr: bool = True
    # What stderr shows: "human" (start-up summary, status lines) or "json" (the health stream).
    log_format: str = attrs.field(default="human", validator=_one_of("human", "json"))
    # a `running` actor whose lag (now − newest event handled) passes this reports `lagging`
    lagging_after_s: float = attrs.field(default=30, validator=_positive)
    # below this much free space on the vault's disk, the `process` health line warns
    min_free_mb: int = attrs.field(default=1024, validator=_at_least(0))


@attrs.define
class FaultOptions:
    """Simulator faults (`[simulator.faults]`), all off by default; they use the same
    mechanisms as the simulator's manual controls (re-exported by `rq_actors.sim.options`)."""

    disconnect_every_s: float | None = None  # abrupt close of every connection, periodically
    notice_every_s: float | None = None  # 64008 notice to every connection, periodically
    notice_close_after_s: float = 60.0  # delay between a notice and the forced close
    gap_prob: float = 0.0  # per book update: skipped on the wire for every connection
    reset_every_s: float | None = None  # market seconds between sequence resets
    bad_checksum_prob: float = 0.0  # per book update: wrong checksum on the wire
    malformed_prob: float = 0.0  # per data frame: a truncated copy is sent before it
    duplicate_prob: float = 0.0  # per data frame: sent twice
    unknown_inst_prob: float = 0.0  # per trade push: an extra push for an unknown instId
    pong_delay_s: float = 0.0  # delay before answering a text `ping`
    rest_error_prob: float = 0.0  # per REST request: HTTP 500 / code 50001
    rest_rate_limit: bool = False  # enforce OKX per-endpoint limits (code 50011, HTTP 429)


@attrs.frozen
class SimulatorConfig:
    """The embedded simulator used when `[exchange] simulate = true` (demo and tests)."""

    seed: int = 7
    trades_per_s: float = attrs.field(default=20.0, validator=_positive)
    book_interval_ms: int = attrs.field(default=100, validator=_at_least(1))
    nonzero_checksums: bool = False
    speed: float = attrs.field(default=1.0, validator=_positive)  # market time × trio time
    start_ms: int | None = None  # event time at start; None = the wall clock
    faults: FaultOptions = attrs.field(factory=FaultOptions)


def _distance(allow_r: bool) -> Validator:
    def check(_inst: Any, attribute: attrs.Attribute[Any], value: str) -> None:
        from rq_actors.core.backtest.options import Distance, OptionError

        try:
            Distance.parse(value, attribute.name, allow_r=allow_r)
        except OptionError as exc:
            raise _FieldError(attribute.name, str(exc).partition(": ")[2]) from None

    return check


def _bps(_inst: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    from rq_actors.core.backtest.options import OptionError, parse_bps

    try:
        parse_bps(value, attribute.name)
    except OptionError as exc:
        raise _FieldError(attribute.name, str(exc).partition(": ")[2]) from None


def _positive_decimal(text: str) -> bool:
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        return False
    return value.is_finite() and value > 0


@attrs.frozen
class BacktestConfig:
    """`rq backtest` defaults (docs/BACKTEST.md); every key is also a command-line option.
    Distances: "12t" ticks, "2w" wick sizes, "1.5R" stop distances (target only). Fees: bps as
    decimal strings (OKX base tier swaps: maker 2, taker 5). 0 for max_size_ticks means the
    surrounding median (SPEC §8.3); 0 for order_ttl_min means while the finder lists the wick."""

    age_min: int = attrs.field(default=20, validator=_at_least(0))
    age_max: int = attrs.field(default=40, validator=_at_least(0))
    min_touched_surrounding: int = attrs.field(default=10, validator=_at_least(0))
    surround_minutes: int = attrs.field(default=30, validator=_at_least(0))
    side: str = attrs.field(default="same", validator=_one_of("same", "any"))
    close_ticks: int = attrs.field(default=3, validator=_at_least(0))
    max_size_ticks: int = attrs.field(default=0, validator=_at_least(0))
    max_tier: str = attrs.field(
        default="WATCH", validator=_one_of("EXACT", "NEAR", "CLOSE", "WATCH")
    )
    fill_rule: str = attrs.field(default="through", validator=_one_of("through", "touch"))
    target: str = attrs.field(default="1R", validator=_distance(True))
    stop: str = attrs.field(default="10t", validator=_distance(False))
    time_stop_min: int = attrs.field(default=30, validator=_at_least(1))
    order_ttl_min: int = attrs.field(default=0, validator=_at_least(0))
    maker_fee_bps: str = attrs.field(default="2", validator=_bps)
    taker_fee_bps: str = attrs.field(default="5", validator=_bps)
    size_base: str = attrs.field(default="1", validator=_check(_positive_decimal, "must be > 0"))
    no_overlap: bool = False
    cvd_minutes: int = attrs.field(default=30, validator=_at_least(1))
    baselines: bool = True
    random_every_min: int = attrs.field(default=30, validator=_at_least(1))
    holdout: float = attrs.field(default=0.3, validator=_between(0.05, 0.95))
    seed: int = 1
    book_near_ticks: int = attrs.field(default=2, validator=_at_least(0))
    book_levels: int = attrs.field(default=20, validator=_between(1, 400))


# ---- [web]: the dashboard and /metrics (issue #13) ----
_TOKEN_REF = re.compile(r"^env:[A-Za-z_][A-Za-z0-9_]*$")


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _token_ref(_inst: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    # A secret never lives in a file: the key names the environment variable that holds it.
    if value is not None and not _TOKEN_REF.fullmatch(value):
        raise _FieldError(
            attribute.name,
            'must name an environment variable, e.g. token = "env:RQ_WEB_TOKEN" '
            "(the token itself never goes in a file)",
        )


@attrs.frozen
class WebConfig:
    enabled: bool = True
    bind: str = "127.0.0.1"
    port: int = attrs.field(default=8765, validator=_between(0, 65535))
    token: str | None = attrs.field(default=None, validator=_token_ref)

    def __attrs_post_init__(self) -> None:
        if self.token is not None and not self.token_value():
            raise _FieldError("token", f"environment variable {self.token[4:]} is not set")
        if self.enabled and not _is_loopback(self.bind) and self.token is None:
            raise _FieldError(
                "bind",
                f'{self.bind!r} is not loopback: set token = "env:NAME" to require a token, '
                'or bind = "127.0.0.1"',
            )

    def token_value(self) -> str | None:
        """The secret, read from the environment at the moment it is needed."""

        return None if self.token is None else os.environ.get(self.token[4:]) or None
