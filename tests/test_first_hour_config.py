"""config/okx.toml lists every config key with its true default (the shipped configs load)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import attrs
import pytest

from rq_actors.config import Config, load_config

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
NOT_DEFAULT = {"instruments", "vault.root"}  # marked "not the default" in the file
ARRAYS_OF_TABLES = {"alerts.notifiers"}  # empty by default; the file shows commented examples


def _fields(cls: type, prefix: str = "") -> dict[str, Any]:
    """Every leaf key of the config classes, dotted, with its default."""
    out: dict[str, Any] = {}
    for field in attrs.fields(attrs.resolve_types(cls)):
        if field.name == "source":
            continue
        key = f"{prefix}{field.name}"
        if attrs.has(field.type):
            out.update(_fields(field.type, key + "."))
        elif isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            out[key] = field.default.factory()
        else:
            out[key] = field.default
    return out


def _flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _commented_keys(text: str) -> dict[str, str]:
    """`# key = value` lines, keyed by their dotted name under the table they sit in."""
    table = ""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if m := re.match(r"^\[([a-z_.]+)\]", line):
            table = m.group(1) + "."
        elif m := re.match(r"^# ([a-z_]+) = ", line):
            found[table + m.group(1)] = line
    return found


def test_okx_toml_lists_every_key_with_its_default() -> None:
    text = (CONFIG_DIR / "okx.toml").read_text()
    shown = _flatten(tomllib.loads(text))
    commented = _commented_keys(text)
    defaults = _fields(Config)
    missing = [k for k in defaults if k not in shown and k not in commented]
    assert missing == [], f"keys missing from config/okx.toml: {missing}"
    assert sorted(set(shown) - set(defaults)) == []
    for key, default in defaults.items():
        if key in NOT_DEFAULT:
            continue
        if key in commented:
            # unset by default: None, or no [[tables]] of an array of tables (alerts.notifiers)
            assert default is None or key in ARRAYS_OF_TABLES, (
                f"{key} is commented out but its default is {default!r}"
            )
        else:
            assert shown[key] == default, f"{key}: file says {shown[key]!r}, default {default!r}"
    for key in NOT_DEFAULT:
        line = next(x for x in text.splitlines() if x.startswith(key.split(".")[-1] + " "))
        assert "not the default" in line


@pytest.mark.parametrize("name", ["okx.toml", "demo.toml", "demo-fast.toml"])
def test_shipped_configs_load(name: str) -> None:
    config = load_config(CONFIG_DIR / name)
    assert config.instruments == ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]
    if name == "demo-fast.toml":
        assert config.exchange.simulate and config.simulator.speed == 30
