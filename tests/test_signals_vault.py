"""`find_signals_in_vault` / `rq signals` over a vault: the states rebuilt from the event files
give exactly the signals of a tracker that stopped at `as_of`, and the answer is deterministic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from rq_actors.config import Config, parse_config
from rq_actors.core.derive.candles import CandleBuilder
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.timefmt import iso_ms
from rq_actors.core.trades.record import encode_trade
from rq_actors.core.wicks import signals as pure
from rq_actors.core.wicks.detect import wicks_from_candle
from rq_actors.core.wicks.tracker import WickTracker
from rq_actors.io.instruments import meta_to_doc
from rq_actors.io.metrics.batch import derive_instrument
from rq_actors.io.signals import find_signals_in_vault
from rq_actors.io.vault.files import atomic_write_json
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade
from tests.helpers.sim import market_trades

# the shared vault fixture alone replays a long simulated market (~10-30 s)
pytestmark = pytest.mark.slow

INST = "ETH-USDT-SWAP"
META = InstrumentMeta(INST, "SWAP", "0.1", "1", "linear", "0.01", "0.01")
T0 = 1_765_752_000_000  # 2025-12-14T22:40:00Z


def _trades(minutes: int) -> list[Trade]:
    return market_trades(
        INST, minutes, seed=4, start_ms=T0, trades_per_s=2.0, book_interval_ms=1000
    )


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, list[Trade]]:
    root = tmp_path_factory.mktemp("signals") / "vault"
    paths = VaultPaths(root)
    atomic_write_json(paths.instrument_meta(INST), meta_to_doc(META, {}, T0))
    trades = _trades(150)
    by_file: dict[Path, list[bytes]] = {}
    for t in trades:
        by_file.setdefault(paths.trades_file(INST, t.ts_ms), []).append(encode_trade(t, META))
    for path, lines in by_file.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(line + b"\n" for line in lines))
    config = parse_config({"instruments": [INST], "vault": {"root": str(root)}})
    derive_instrument(config, INST, ["wicks"], rebuild=True)
    return config, trades


def _tracker_at(trades: list[Trade], as_of: int) -> WickTracker:
    """An independent replay that stops at as_of (the live tracker's view at that moment)."""
    builder = CandleBuilder(META, ["1m", "5m", "15m", "1h", "4h"])
    tracker = WickTracker(INST, META.tick_sz)
    upto = [t for t in trades if t.ts_ms <= as_of]
    candles = builder.feed(upto)
    tracker.feed_batch(upto, [w for c in candles for w in wicks_from_candle(c, META.tick)])
    return tracker


KW = {"age_min": 20, "age_max": 40, "min_touched_surrounding": 3, "surround_minutes": 30}


def test_signals_from_the_vault_equal_the_trackers_view(vault: tuple[Config, list[Trade]]) -> None:
    config, trades = vault
    checked = 0
    for i in range(len(trades) // 3, len(trades) - 200, max(1, len(trades) // 25)):
        as_of = trades[i].ts_ms
        got_as_of, got = find_signals_in_vault(config, INST, as_of, **KW)  # type: ignore[arg-type]
        assert got_as_of == as_of
        tracker = _tracker_at(trades, as_of)
        last = [t for t in trades if t.ts_ms <= as_of][-1]
        want = pure.find_hidden_signals(
            tracker.snapshots(),
            tracker.fmt.ticks(last.px),
            as_of,
            tick=META.tick,
            **KW,  # type: ignore[arg-type]
        )
        assert [s.to_record() for s in got] == [s.to_record() for s in want]
        checked += len(want)
    assert checked > 0  # the comparison saw real signals, not only empty lists


def test_default_as_of_is_the_newest_trade_and_answers_repeat(
    vault: tuple[Config, list[Trade]],
) -> None:
    config, trades = vault
    as_of, first = find_signals_in_vault(config, INST, **KW)  # type: ignore[arg-type]
    assert as_of == max(t.ts_ms for t in trades)
    assert find_signals_in_vault(config, INST, **KW) == (as_of, first)  # type: ignore[arg-type]


def test_cli_json_and_table(vault: tuple[Config, list[Trade]], tmp_path: Path) -> None:
    config, trades = vault
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'instruments = ["{INST}"]\n[vault]\nroot = "{config.vault_root}"\n')
    as_of = iso_ms(trades[len(trades) // 2].ts_ms)
    base = [sys.executable, "-m", "rq_actors", "signals", str(cfg), "--instrument", INST]
    opts = ["--as-of", as_of, "--min-touched", "3"]
    out = subprocess.run([*base, *opts, "--json"], capture_output=True, timeout=60, check=True)
    doc = orjson.loads(out.stdout)
    assert doc["as_of_utc"] == as_of
    table = subprocess.run([*base, *opts], capture_output=True, text=True, timeout=60, check=True)
    assert table.stdout.splitlines()[0].endswith(f"{len(doc['signals'])} signal(s)")
    if doc["signals"]:
        assert "STRENGTH" in table.stdout
