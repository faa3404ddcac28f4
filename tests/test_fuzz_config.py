"""Fuzzing `load_config` (issue: reliability suite, part 1): random TOML documents built from
the real schema (right keys, wrong and edge values: NaN, inf, huge ints, nested junk), random
TOML-ish text and random bytes. Property: a `Config` or a `ConfigError` naming the file, never
another exception. A file that loads must hold only instIds that are safe in paths.
"""

from __future__ import annotations

import json
import math
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rq_actors.config import INST_ID_PATTERN, Config, ConfigError, load_config

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SECTIONS: dict[str, list[str]] = {
    f.name: [g.name for g in attrs.fields(f.type)]
    for f in attrs.fields(attrs.resolve_types(Config))
    if isinstance(f.type, type) and attrs.has(f.type)
}

toml_scalars = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()  # NaN and ±inf included: TOML has them
    | st.text(max_size=20)
    | st.sampled_from(["BTC-USDT-SWAP", "../etc", "btc-usdt-swap", "A-" + "B" * 300, "A-B\x00"])
    | st.sampled_from(["trades", "books", "warn", "1m", "wss://x", "http://x", "ftp://x"])
    | st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 1, 1))
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _key(name: str) -> str:
    return (
        name
        if name.replace("_", "a").replace("-", "a").isalnum() and name.isascii()
        else (json.dumps(name))
    )


def to_toml(value: Any) -> str:
    """A tiny TOML writer (inline forms only), enough for fuzzing."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)  # 'inf', '-inf', '1e+300' are TOML
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string (or invalid TOML: also worth feeding)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(to_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{_key(k)} = {to_toml(v)}" for k, v in value.items()) + "}"


@st.composite
def documents(draw: st.DrawFn) -> str:
    doc: dict[str, Any] = {}
    if draw(st.integers(0, 5)):
        doc["instruments"] = draw(
            st.lists(st.sampled_from(["BTC-USDT-SWAP", "ETH-USDT", "BTC-USD-SWAP"]), max_size=3)
            | toml_values
        )
    for section, keys in SECTIONS.items():
        if draw(st.booleans()):
            continue
        table = {k: draw(toml_values) for k in draw(st.lists(st.sampled_from(keys), max_size=4))}
        doc[section] = table if draw(st.integers(0, 9)) else draw(toml_values)
    doc.update(draw(st.dictionaries(st.text(max_size=5), toml_values, max_size=1)))
    return "\n".join(f"{_key(k)} = {to_toml(v)}" for k, v in doc.items()) + "\n"


def _check(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.toml"
        path.write_bytes(data)
        try:
            config = load_config(path)
        except ConfigError as exc:
            assert str(exc).startswith(f"{path}: ") or str(exc) == str(path)
            assert exc.problem
            return
        assert all(INST_ID_PATTERN.fullmatch(i) for i in config.instruments)
        assert all(".." not in i and "/" not in i for i in config.instruments)


@pytest.mark.slow
@FUZZ
@given(documents())
def test_random_documents_load_or_raise_config_error(text: str) -> None:
    _check(text.encode("utf-8", "surrogatepass"))


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@FUZZ
@given(
    st.binary(max_size=300).filter(_utf8)
    | st.text(alphabet='[]{}=."\n #abc1-_', max_size=120).map(str.encode)
    | st.text(max_size=120).map(str.encode)
)
def test_random_text_loads_or_raises_config_error(data: bytes) -> None:
    _check(data)


# Bytes that are not UTF-8 are a ConfigError (exit 2), not a UnicodeDecodeError traceback.
@pytest.mark.parametrize("data", [b"\x80", b'instruments = ["BTC-USDT-SWAP"] # \xff\n'])
def test_bytes_that_are_not_utf8_are_a_config_error(data: bytes) -> None:
    _check(data)


def test_path_unsafe_inst_ids_are_refused(tmp_path: Path) -> None:
    for inst in ["../BTC-USDT", "BTC/USDT-SWAP", "BTC-USDT\x00", "btc-usdt-swap",
                 "A-" + "B" * 100 + "/..", ".", "BTC-USDT-SWAP\n", ""]:  # fmt: skip
        path = tmp_path / "c.toml"
        path.write_text(f"instruments = [{json.dumps(inst)}]\n")
        try:
            load_config(path)
        except ConfigError as exc:
            assert exc.key == "instruments[0]" or "not valid TOML" in exc.problem
        else:
            raise AssertionError(f"{inst!r} was accepted")
