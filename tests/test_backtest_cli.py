"""`rq backtest` end to end: bad input is one line and exit 2; a run on a simulator-produced vault
writes the report folder, and the same vault and options give byte-identical files."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from rq_actors.commands.cli import main
from rq_actors.core.timefmt import MS_PER_MINUTE, iso_ms
from rq_actors.io.backtest.run import run_backtest
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade
from tests.helpers.backtest import BASE, INST, RULES, T0, W2, tape, write_vault
from tests.helpers.sim import market_trades


def _rq(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["backtest", *args])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def _sim_trades(minutes: int) -> list[Trade]:
    return market_trades(
        INST, minutes, seed=5, start_ms=T0, trades_per_s=3.0, book_interval_ms=60_000
    )


@pytest.fixture(scope="module")
def sim_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bt")
    write_vault(root / "vault", _sim_trades(150))
    cfg = root / "c.toml"
    cfg.write_text(
        f'instruments = ["{INST}"]\n[vault]\nroot = "vault"\n'
        '[backtest]\nmin_touched_surrounding = 3\nstop = "2w"\ntarget = "1R"\n'
    )
    return cfg


BAD = [
    (["--instrument", "ETH-USDT-SWAP"], "ETH-USDT-SWAP is not in"),
    (["--instrument", INST, "--stop", "1R"], "--stop: '1R': R is the stop distance"),
    (["--instrument", INST, "--fill-rule", "maybe"], "--fill-rule: 'maybe' is not one of"),
    (["--instrument", INST, "--from", "2025-13-01"], "--from '2025-13-01' is not a date"),
    (["--instrument", INST, "--sweep", "agemin=1,2"], "--sweep 'agemin': unknown knob"),
    (["--instrument", INST, "--sweep", "target=1R,zz"], "target: 'zz' is not a distance"),
    (["--instrument", INST, "--maker-fee-bps", "x"], "--maker-fee-bps: 'x' is not a decimal"),
]


@pytest.mark.parametrize(("args", "says"), BAD)
def test_bad_input_is_one_line_and_exit_2(
    sim_config: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    code, out, err = _rq(capsys, str(sim_config), *args)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and says in err and "Traceback" not in err, err


def test_bad_config_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'instruments = ["{INST}"]\n[backtest]\nstop = "fast"\n')
    code, _, err = _rq(capsys, str(cfg), "--instrument", INST)
    assert code == 2 and len(err.splitlines()) == 1 and "backtest.stop" in err


def test_a_vault_without_trades_is_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'instruments = ["{INST}"]\n[vault]\nroot = "vault"\n')
    code, _, err = _rq(capsys, str(cfg), "--instrument", INST)
    assert code == 1 and "no instrument metadata" in err


def test_report_is_byte_identical_on_a_second_run(
    sim_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = ["--sweep", "min_touched_surrounding=2,3,4", "target=1R,2R"]
    for name in ("a", "b"):
        code, out, err = _rq(capsys, str(sim_config), "--instrument", INST, *sweep,
                             "--report", str(tmp_path / name))  # fmt: skip
        assert code == 0, err
        assert "## Verdict" in out and "Threshold sweep" in out and "trades/s" in err
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["outcomes.jsonl", "report.html", "report.md", "summary.json"]
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    doc = orjson.loads((tmp_path / "a" / "summary.json").read_bytes())
    assert doc["groups"]["signal"]["setups"] > 0
    assert len(doc["sweep"]["points"]) == 6  # 3 rule sets × 2 exit sets, the base among them
    lines = (tmp_path / "a" / "outcomes.jsonl").read_bytes().splitlines()
    assert len(lines) == sum(1 for _ in lines) and orjson.loads(lines[0])["exits"] in (0, 1)


def test_json_output_is_the_summary(sim_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _rq(
        capsys, str(sim_config), "--instrument", INST, "--json", "--no-overlap", "true"
    )
    assert code == 0
    doc = orjson.loads(out)
    assert doc["instId"] == INST and doc["exits"][0]["no_overlap"] is True
    assert set(doc["edge"]) == {"signal_vs_zero", "signal_vs_baseline", "signal_vs_random"}


def test_book_features_come_from_the_newest_snapshot_at_or_before(tmp_path: Path) -> None:
    config = write_vault(tmp_path / "vault", tape([*BASE, ["98.5"]]))
    paths = VaultPaths(tmp_path / "vault")
    as_of = T0 + 5 * MS_PER_MINUTE
    snaps = [  # asks with a wall at the tip 99.2; the later snapshot is after the instant
        (as_of - 3000, [["98.6", "1"], ["99.2", "40"], ["99.3", "5"]], [["98.4", "10"]]),
        (as_of + 1000, [["98.6", "999"]], [["98.4", "999"]]),
    ]
    path = paths.l2_file(INST, as_of - 3000)
    path.parent.mkdir(parents=True)
    with path.open("wb") as f:
        for ts, asks, bids in snaps:
            rec = {"timestamp_utc": iso_ms(ts), "bids_top400": bids, "asks_top400": asks}
            f.write(orjson.dumps(rec) + b"\n")
    res = run_backtest(config, INST, overrides=RULES)
    (s,) = [s for s in res.setups if s.id == W2]
    assert s.context["book_age_ms"] == 3000
    assert s.context["book_tip_size"] == "40" and s.context["book_near_tip_size"] == "45"
    assert s.context["book_imbalance"] == "-0.6429"  # (10 − 46) / (10 + 46)
    assert res.book_setups == len(res.setups)
