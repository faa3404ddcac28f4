"""The whole `Config`, and reading it from TOML with one clear line per problem."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import attrs
import cattrs

from rq_actors.config._checks import INST_ID_PATTERN, MAX_INST_ID_LEN, _FieldError
from rq_actors.config.alerts import AlertsConfig
from rq_actors.config.sections import (
    BacktestConfig,
    BookConfig,
    CvdConfig,
    ExchangeConfig,
    HealthConfig,
    RetentionConfig,
    SignalsConfig,
    SimulatorConfig,
    SocketConfig,
    SupervisorConfig,
    VaultConfig,
    VwapConfig,
    WebConfig,
    WicksConfig,
)
from rq_actors.errors import RqError


class ConfigError(RqError):
    """A configuration file cannot be used. The message says where and why."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {problem}")


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
    vault: VaultConfig = attrs.field(factory=VaultConfig)
    exchange: ExchangeConfig = attrs.field(factory=ExchangeConfig)
    socket: SocketConfig = attrs.field(factory=SocketConfig)
    book: BookConfig = attrs.field(factory=BookConfig)
    retention: RetentionConfig = attrs.field(factory=RetentionConfig)
    cvd: CvdConfig = attrs.field(factory=CvdConfig)
    vwap: VwapConfig = attrs.field(factory=VwapConfig)
    wicks: WicksConfig = attrs.field(factory=WicksConfig)
    signals: SignalsConfig = attrs.field(factory=SignalsConfig)
    supervisor: SupervisorConfig = attrs.field(factory=SupervisorConfig)
    health: HealthConfig = attrs.field(factory=HealthConfig)
    simulator: SimulatorConfig = attrs.field(factory=SimulatorConfig)
    backtest: BacktestConfig = attrs.field(factory=BacktestConfig)
    web: WebConfig = attrs.field(factory=WebConfig)
    alerts: AlertsConfig = attrs.field(factory=AlertsConfig)
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
