"""Config (SPEC §13): defaults, and every kind of bad config rejected with file, key and reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rq_actors.config import Config, ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[1]


def test_shipped_configs_load() -> None:
    live = load_config(REPO / "config" / "okx.toml")
    demo = load_config(REPO / "config" / "demo.toml")
    assert live.exchange.simulate is False
    assert demo.exchange.simulate is True
    assert live.instruments == ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]


def test_every_key_has_its_documented_default() -> None:
    c = parse_config({"instruments": ["BTC-USDT-SWAP"]})
    assert c.vault.root == "vault"
    assert c.exchange.ws_public_url == "wss://ws.okx.com:8443/ws/v5/public"
    assert c.exchange.ws_business_url == "wss://ws.okx.com:8443/ws/v5/business"
    assert c.exchange.rest_url == "https://www.okx.com"
    assert c.exchange.trades_channel == "trades-all"
    assert c.exchange.book_channel == "books"
    assert (c.book.depth, c.book.snapshot_interval_s, c.book.checksum_policy) == (
        400,
        2.0,
        "resubscribe",
    )
    assert (c.retention.compress_after_hours, c.retention.delete_after_days) == (6, 5)
    assert c.retention.interval_s == 300
    assert c.cvd.unit == "quote"
    assert c.cvd.timeframes == ["1m", "5m", "15m", "1h", "4h", "1d"]
    assert c.vwap.windows_minutes == [60, 240]
    assert c.vwap.weighting == "base"
    assert c.wicks.timeframes == ["1m", "5m", "15m", "1h", "4h"]
    assert (c.wicks.expiry_hours, c.wicks.near_ticks) == (168, 1)
    s = c.supervisor
    assert (s.max_restarts, s.restart_window_s, s.backoff_initial_s, s.backoff_max_s) == (
        5,
        60,
        0.5,
        30,
    )
    assert c.health.interval_s == 5


def test_relative_vault_root_is_taken_from_the_config_folder(tmp_path: Path) -> None:
    f = tmp_path / "sub" / "c.toml"
    f.parent.mkdir()
    f.write_text('instruments = ["BTC-USDT-SWAP"]\n[vault]\nroot = "v"\n')
    assert load_config(f).vault_root == tmp_path / "sub" / "v"


BAD = [
    # (kind, toml text, key path, words in the problem)
    ("missing instruments", "[book]\ndepth = 5\n", "instruments", "missing"),
    ("unknown top-level key", 'instruments = ["BTC-USDT-SWAP"]\nbok = 1\n', "(top level)", "bok"),
    ("unknown nested key", 'instruments = ["BTC-USDT-SWAP"]\n[book]\ndept = 5\n', "book", "dept"),
    ("wrong type", 'instruments = ["BTC-USDT-SWAP"]\n[book]\ndepth = "400"\n', "book.depth", "int"),
    (
        "wrong type bool",
        'instruments = ["BTC-USDT-SWAP"]\n[exchange]\nsimulate = 1\n',
        "exchange.simulate",
        "bool",
    ),
    ("not a list", 'instruments = "BTC-USDT-SWAP"\n', "instruments", "list"),
    ("not a table", 'instruments = ["BTC-USDT-SWAP"]\nbook = 5\n', "book", "table"),
    (
        "bad instId traversal",
        'instruments = ["BTC-USDT-SWAP", "../etc"]\n',
        "instruments[1]",
        "not an instId",
    ),
    (
        "bad instId lowercase",
        'instruments = ["btc-usdt-swap"]\n',
        "instruments[0]",
        "not an instId",
    ),
    ("bad instId slash", 'instruments = ["BTC/USDT"]\n', "instruments[0]", "not an instId"),
    (
        "duplicate instId",
        'instruments = ["BTC-USDT-SWAP", "BTC-USDT-SWAP"]\n',
        "instruments",
        "duplicate",
    ),
    ("empty instruments", "instruments = []\n", "instruments", "at least one"),
    (
        "out of range high",
        'instruments = ["BTC-USDT-SWAP"]\n[book]\ndepth = 500\n',
        "book.depth",
        "1..400",
    ),
    (
        "out of range negative",
        'instruments = ["BTC-USDT-SWAP"]\n[supervisor]\nmax_restarts = -1\n',
        "supervisor.max_restarts",
        ">= 0",
    ),
    (
        "out of range zero",
        'instruments = ["BTC-USDT-SWAP"]\n[book]\nsnapshot_interval_s = 0\n',
        "book.snapshot_interval_s",
        "> 0",
    ),
    (
        "bad choice",
        'instruments = ["BTC-USDT-SWAP"]\n[exchange]\ntrades_channel = "fills"\n',
        "exchange.trades_channel",
        "'fills'",
    ),
    (
        "bad timeframe",
        'instruments = ["BTC-USDT-SWAP"]\n[cvd]\ntimeframes = ["1m", "2m"]\n',
        "cvd.timeframes",
        "2m",
    ),
    (
        "bad list item",
        'instruments = ["BTC-USDT-SWAP"]\n[vwap]\nwindows_minutes = [60, "x"]\n',
        "vwap.windows_minutes[1]",
        "int",
    ),
    (
        "bad url",
        'instruments = ["BTC-USDT-SWAP"]\n[exchange]\nrest_url = "ftp://x"\n',
        "exchange.rest_url",
        "http",
    ),
    ("not toml", "instruments = [\n", "", "not valid TOML"),
]


@pytest.mark.parametrize(("kind", "text", "key", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_file_key_and_problem(
    tmp_path: Path, kind: str, text: str, key: str, words: str
) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(f)
    err = info.value
    assert err.file == str(f)
    assert err.key == key
    assert words in err.problem
    assert str(err).startswith(f"{f}: ")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    "kind",
    ["unknown nested key", "bad instId traversal", "wrong type", "out of range high", "not toml"],
)
def test_cli_exits_2_and_starts_nothing(tmp_path: Path, kind: str) -> None:
    text = next(b[1] for b in BAD if b[0] == kind)
    f = tmp_path / "bad.toml"
    f.write_text(text + '\n[vault]\nroot = "v"\n' if "not toml" not in kind else text)
    for argv in (
        ["-m", "rq_actors.commands.cli_run", str(f)],
        ["-m", "rq_actors", "status", str(f)],
    ):
        proc = subprocess.run(
            [sys.executable, *argv], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        assert proc.returncode == 2, proc.stderr
        assert str(f) in proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "v").exists()  # nothing started, nothing written


def test_config_is_frozen() -> None:
    c = parse_config({"instruments": ["BTC-USDT-SWAP"]})
    assert isinstance(c, Config)
    with pytest.raises(AttributeError):
        c.instruments = []  # type: ignore[misc]


def test_a_top_level_typo_is_named_as_an_unknown_key() -> None:
    with pytest.raises(ConfigError, match=r"\(top level\): unknown key\(s\): instrument$"):
        parse_config({"instrument": ["BTC-USDT-SWAP"]}, "typo.toml")
    with pytest.raises(ConfigError, match=r"unknown key\(s\): source"):
        parse_config({"instruments": ["BTC-USDT-SWAP"], "source": "x"}, "typo.toml")
