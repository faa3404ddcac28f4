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

from rq_actors.sim.options import FaultOptions

INST_ID_PATTERN = re.compile(r"^[A-Z0-9]+(-[A-Z0-9_]+){1,3}$")
MAX_INST_ID_LEN = 64  # OKX instIds are ~20 characters; an instId becomes a path component
TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")


class ConfigError(Exception):
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
    # a `running` actor whose lag (now − newest event handled) passes this reports `lagging`
    lagging_after_s: float = attrs.field(default=30, validator=_positive)
    # below this much free space on the vault's disk, the `process` health line warns
    min_free_mb: int = attrs.field(default=1024, validator=_at_least(0))


@attrs.frozen
class SimulatorConfig:
    """The embedded simulator used when `[exchange] simulate = true` (demo and tests)."""

    seed: int = 7
    trades_per_s: float = attrs.field(default=20.0, validator=_positive)
    book_interval_ms: int = attrs.field(default=100, validator=_at_least(1))
    nonzero_checksums: bool = False
    speed: float = attrs.field(default=1.0, validator=_positive)  # market time × trio time
    start_ms: int | None = None  # event time at start; None = the wall clock
    faults: FaultOptions = attrs.field(factory=FaultOptions)  # see rq_actors/sim/options.py


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
    supervisor: SupervisorConfig = SupervisorConfig()
    health: HealthConfig = HealthConfig()
    simulator: SimulatorConfig = SimulatorConfig()
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
    if "source" in doc:
        raise ConfigError(source, "source", "unknown key(s): source")
    for field in attrs.fields(attrs.resolve_types(Config)):
        value = doc.get(field.name)
        if attrs.has(field.type) and value is not None and not isinstance(value, dict):
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
