"""The TOML configuration (SPEC §13): attrs classes structured with cattrs.

Every key has a default except `instruments`. Unknown keys, wrong types, bad instIds and
out-of-range values raise `ConfigError`, whose message names the file, the key path and the
problem; the CLI turns it into exit code 2 before anything starts.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import attrs
import cattrs

from rq_actors.errors import RqError

INST_ID_PATTERN = re.compile(r"^[A-Z0-9]+(-[A-Z0-9_]+){1,3}$")
MAX_INST_ID_LEN = 64  # OKX instIds are ~20 characters; an instId becomes a path component
TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")


class ConfigError(RqError):
    """A configuration file cannot be used. The message says where and why."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {problem}")


class _FieldError(ValueError):
    """A validator's complaint about one attribute; `name` completes the key path."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        super().__init__(problem)


Validator = Any


def _check(test: Any, problem: str) -> Validator:
    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not test(value):
            raise _FieldError(attribute.name, problem.format(value=value))

    return check


_positive = _check(lambda x: x > 0, "must be > 0, got {value!r}")
_non_negative = _check(lambda x: x >= 0, "must be >= 0, got {value!r}")


def _between(lo: float, hi: float) -> Validator:
    return _check(lambda x: lo <= x <= hi, f"must be in {lo}..{hi}, got {{value!r}}")


def _at_least(lo: float) -> Validator:
    return _check(lambda x: x >= lo, f"must be >= {lo}, got {{value!r}}")


def _one_of(*choices: str) -> Validator:
    allowed = ", ".join(repr(c) for c in choices)
    return _check(lambda x: x in choices, f"{{value!r}} is not one of {allowed}")


def _timeframes(_inst: Any, attribute: attrs.Attribute[Any], value: list[str]) -> None:
    bad = [tf for tf in value if tf not in TIMEFRAMES]
    if bad:
        raise _FieldError(
            attribute.name, f"unknown timeframe(s) {bad}; allowed: {list(TIMEFRAMES)}"
        )
    if len(set(value)) != len(value):
        raise _FieldError(attribute.name, f"duplicate timeframes in {value}")


def _url(*schemes: str) -> Validator:
    prefixes = tuple(f"{s}://" for s in schemes)
    return _check(lambda x: x.startswith(prefixes), f"must start with {' or '.join(prefixes)}")


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
        import os

        return None if self.token is None else os.environ.get(self.token[4:]) or None


# ---- [alerts] (issue #12): rules and notifiers; secrets are only ever named, never stored ----
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


# ---- end of [alerts] ----


def _inst_ids(_inst: Any, attribute: attrs.Attribute[Any], value: list[str]) -> None:
    if not value:
        raise _FieldError(attribute.name, "needs at least one instId")
    for i, inst in enumerate(value):
        if len(inst) > MAX_INST_ID_LEN:
            raise _FieldError(
                f"{attribute.name}[{i}]",
                f"instId of {len(inst)} characters is too long (at most {MAX_INST_ID_LEN})",
            )
        if not INST_ID_PATTERN.fullmatch(inst):
            raise _FieldError(
                f"{attribute.name}[{i}]",
                f"{inst!r} is not an instId (must match {INST_ID_PATTERN.pattern})",
            )
    if len(set(value)) != len(value):
        raise _FieldError(attribute.name, f"duplicate instIds in {value}")


@attrs.frozen
class Config:
    instruments: list[str] = attrs.field(validator=_inst_ids)
    vault: VaultConfig = VaultConfig()
    exchange: ExchangeConfig = ExchangeConfig()
    socket: SocketConfig = SocketConfig()
    book: BookConfig = BookConfig()
    retention: RetentionConfig = RetentionConfig()
    cvd: CvdConfig = CvdConfig()
    vwap: VwapConfig = VwapConfig()
    wicks: WicksConfig = WicksConfig()
    signals: SignalsConfig = SignalsConfig()
    supervisor: SupervisorConfig = SupervisorConfig()
    health: HealthConfig = HealthConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    backtest: BacktestConfig = BacktestConfig()
    web: WebConfig = WebConfig()
    alerts: AlertsConfig = AlertsConfig()
    source: str = attrs.field(default="<memory>", eq=False, repr=False)

    @property
    def vault_root(self) -> Path:
        """The vault root; a relative `root` is taken from the config file's folder."""
        root = Path(self.vault.root)
        if root.is_absolute() or self.source.startswith("<"):
            return root
        return Path(self.source).resolve().parent / root


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)

    def _strict(kind: type) -> Any:
        def structure(value: Any, _t: type) -> Any:
            # TOML already has types: refuse silent coercion ("5" → 5, 1 → True).
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            if type(value) is not kind:
                raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
            return value

        return structure

    for kind in (int, float, str, bool):
        conv.register_structure_hook(kind, _strict(kind))

    def _strict_list(value: Any, t: Any) -> Any:
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {type(value).__name__} {value!r}")
        (item,) = t.__args__
        return [_item(conv, x, item, i) for i, x in enumerate(value)]

    conv.register_structure_hook_func(
        lambda t: getattr(t, "__origin__", None) is list, _strict_list
    )
    return conv


def _item(conv: cattrs.Converter, value: Any, item: type, index: int) -> Any:
    try:
        return conv.structure(value, item)
    except Exception as exc:
        raise _FieldError(f"[{index}]", str(exc)) from None


_CONVERTER = _make_converter()


def parse_config(doc: dict[str, Any], source: str = "<memory>") -> Config:
    """Structure a parsed TOML document into a `Config`, or raise `ConfigError`."""
    fields = attrs.fields(attrs.resolve_types(Config))
    # a top-level typo (`instrument = [...]`) is named as such, not as a missing `instruments`
    extra = sorted(set(doc) - {f.name for f in fields if f.name != "source"})
    if extra:
        raise ConfigError(source, "(top level)", f"unknown key(s): {', '.join(extra)}")
    for field in fields:
        value = doc.get(field.name)
        if (
            field.type is not None
            and attrs.has(field.type)
            and value is not None
            and not isinstance(value, dict)
        ):
            raise ConfigError(source, field.name, f"expected a [{field.name}] table, got {value!r}")
    try:
        return _CONVERTER.structure({**doc, "source": source}, Config)
    except Exception as exc:  # cattrs raises exception groups; turn the first leaf into one line
        key, problem = _first_problem(exc)
        raise ConfigError(source, key, problem) from None


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML config file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), "", f"cannot read file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            str(p), "", f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at {exc.start})"
        ) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), "", f"not valid TOML ({exc})") from None
    return parse_config(doc, str(p))


def _first_problem(exc: BaseException, path: tuple[str, ...] = ()) -> tuple[str, str]:
    """Walk cattrs' exception tree to the first leaf; return (dotted key path, problem)."""
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        keys = ", ".join(sorted(exc.extra_fields))
        return ".".join(path) or "(top level)", f"unknown key(s): {keys}"
    if isinstance(exc, BaseExceptionGroup):
        for sub in exc.exceptions:
            step = _note_step(sub)
            return _first_problem(sub, path + step)
    if isinstance(exc, KeyError) and path:
        return ".".join(path), "missing required key"
    if isinstance(exc, _FieldError):
        path = (*path, exc.name)
    text = str(exc) or type(exc).__name__
    return ".".join(path).replace(".[", "[") or "(top level)", text


def _note_step(exc: BaseException) -> tuple[str, ...]:
    """The attribute name or list index that cattrs attached to `exc` as a note."""
    for note in getattr(exc, "__notes__", []):
        name = getattr(note, "name", None)
        if name is not None:
            return (str(name),)
        index = getattr(note, "index", None)
        if index is not None:
            return (f"[{index}]",)
    return ()
