"""The soak's verdict: a run that fell behind is INVALID, and the slope is per market day."""

from __future__ import annotations

import argparse
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from bench import capped_run
from bench.capped_run import cap_caches, refreeze_from_env, trim_from_env
from bench.soak import _arms, compare, env_pair, parse_args
from bench.soak_summary import summarize
from rq_actors.actors import runner
from rq_actors.core.book import model
from rq_actors.core.cache_census import FAMILIES
from rq_actors.core.derive import common
from rq_actors.core.wicks import records
from rq_actors.core.wicks.records import Formatter
from rq_actors.io.health import HealthLog


def _args() -> argparse.Namespace:
    return argparse.Namespace(warmup=0.25, max_lag_s=10.0)


def _rows(
    lags: list[float], *, mb_per_day: float, writer: str = "running", peak_at: int = 0
) -> list[dict]:
    return [
        {
            "wall_s": 10.0 * i,
            "market_day": 0.1 * i,
            "rss_mb": 50 + mb_per_day * 0.1 * i,
            "heap_kblocks": 500.0 + 2 * i,
            "cpu_pct": 20.0,
            "lag_s": lag,
            "writer": writer,
            "gc_pause_ms": 1.0,
            "gc_cpu_ms": 0.5,
            "gc1_max_ms": 1.5,
            "gc2_max_ms": 2.0,
            "gen2": i,
            "wicks": 3,
            "caches": {
                "quant": {"entries": 9, "caches": 4, "peaked": 4 if i >= peak_at else 1},
                "book_levels": {"entries": 7, "caches": 2, "peaked": 2},
            },
        }
        for i, lag in enumerate(lags)
    ]


def test_a_run_that_kept_up_is_valid_with_its_slope() -> None:
    result = summarize(_rows([30.0] + [0.5] * 11, mb_per_day=1.5), _args())
    assert result["valid"]  # the lag during warm-up does not count
    assert result["slope_mb_per_market_day"] == 1.5
    assert result["market_days"] == 1.1
    assert result["heap_kblocks_slope_per_market_day"] == 20.0  # 2 k blocks per 0.1 day


def test_falling_behind_or_a_recovering_writer_makes_it_invalid() -> None:
    late_lag = summarize(_rows([0.5] * 10 + [11.0, 0.5], mb_per_day=0.0), _args())
    assert not late_lag["valid"] and "lag above" in late_lag["why"]
    recovering = summarize(_rows([0.5] * 12, mb_per_day=0.0, writer="recovering"), _args())
    assert not recovering["valid"] and "trade writer" in recovering["why"]


def test_the_slope_after_every_cache_has_peaked_is_reported_apart() -> None:
    rows = _rows([0.5] * 12, mb_per_day=0.0, peak_at=8)
    for r in rows[:8]:
        r["rss_mb"] = 40 + 10 * r["market_day"]  # caches filling: 10 MB/day, then flat
    for r in rows[8:]:
        r["rss_mb"] = 48.0
    result = summarize(rows, _args())
    assert result["caches"]["quant"]["all_peaked_at_market_day"] == 0.8
    assert result["caches"]["book_levels"]["all_peaked_at_market_day"] == 0.0
    assert result["caches_all_peaked_at_market_day"] == 0.8
    assert result["slope_after_caches_peaked_mb_per_market_day"] == 0.0
    assert result["slope_mb_per_market_day"] > 1.0
    never = _rows([0.5] * 12, mb_per_day=0.0, peak_at=99)
    assert summarize(never, _args())["slope_after_caches_peaked_mb_per_market_day"] is None


def test_capped_run_bounds_the_text_caches_and_the_census_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`bench.soak --cache-limit N` runs `rq-run` through `bench.capped_run`: the caches clear
    at N entries and the census calls them full at N, so the soak's slope window starts."""
    for module in (common, records):
        monkeypatch.setattr(module, "_CACHE_LIMIT", module._CACHE_LIMIT)  # restored after
    monkeypatch.setattr(model, "_CACHE_MAX", model._CACHE_MAX)
    for name in ("quant", "wick_text", "book_levels"):
        monkeypatch.setattr(FAMILIES[name], "bound", FAMILIES[name].bound)
    cap_caches(4, book_limit=8)
    text = Formatter(Decimal("0.1"))
    for ticks in range(6):
        text.price(ticks)
    assert len(text._prices) == 2  # cleared at 4, then two more
    fill = FAMILIES["wick_text"].fill()
    assert fill.capacity == 4 * fill.caches and fill.peaked >= 1
    assert model._CACHE_MAX == 8 and FAMILIES["book_levels"].bound == 8


def test_pipeline_env_takes_name_value_pairs_and_refuses_anything_else() -> None:
    assert env_pair("PYTHONMALLOC=malloc") == ("PYTHONMALLOC", "malloc")
    assert env_pair("MALLOC_ARENA_MAX=2") == ("MALLOC_ARENA_MAX", "2")
    assert env_pair("X=") == ("X", "")
    for bad in ("PYTHONMALLOC", "=malloc", "NOT A NAME=1"):
        with pytest.raises(argparse.ArgumentTypeError, match="NAME=VALUE"):
            env_pair(bad)


def test_freeze_per_market_hour_sets_rq_runs_refreeze_to_a_market_hour(
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ["--speed", "24", "--cache-limit", "128", "--pipeline-env", "A=1"]
    args = parse_args([*base, "--freeze-per-market-hour"])
    assert args.pipeline_env == {"A": "1", "RQ_SOAK_REFREEZE_S": "150"}
    assert parse_args(base).pipeline_env == {"A": "1"}
    with pytest.raises(SystemExit) as exited:
        parse_args(["--speed", "24", "--freeze-per-market-hour"])
    assert exited.value.code == 2
    assert "needs --cache-limit" in capsys.readouterr().err


def test_capped_run_refreezes_at_the_period_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = HealthLog(None, stderr=None)
    monkeypatch.setattr(runner, "ProcessWatch", runner.ProcessWatch)  # restored after the test
    monkeypatch.delenv("RQ_SOAK_REFREEZE_S", raising=False)
    refreeze_from_env()
    assert runner.ProcessWatch(tmp_path, log, interval_s=1, min_free_mb=0)._refreeze_every_s == 3600
    monkeypatch.setenv("RQ_SOAK_REFREEZE_S", "150")
    refreeze_from_env()
    watch = runner.ProcessWatch(tmp_path, log, interval_s=1, min_free_mb=0)
    assert watch._refreeze_every_s == 150.0


def test_ab_env_adds_arm_b_with_its_own_vault_and_both_environments(tmp_path: Path) -> None:
    base = ["--cache-limit", "128", "--pipeline-env", "A=1"]
    args = parse_args([*base, "--ab-env", "MALLOC_ARENA_MAX=2", "--ab-env", "A=2"])
    (arm_a, vault_a, env_a), (arm_b, vault_b, env_b) = _arms(args, tmp_path / "vault")
    assert (arm_a, vault_a, env_a) == ("A", tmp_path / "vault", {"A": "1"})
    assert (arm_b, vault_b) == ("B", tmp_path / "vault-b")
    assert env_b == {"A": "2", "MALLOC_ARENA_MAX": "2"}  # B's own value wins
    assert [arm for arm, _, _ in _arms(parse_args(base), tmp_path / "vault")] == ["A"]


def test_an_ab_summary_gives_b_minus_a_and_is_invalid_if_either_arm_is() -> None:
    a = summarize(_rows([0.5] * 12, mb_per_day=4.0), _args())
    b = summarize(_rows([0.5] * 12, mb_per_day=1.5), _args())
    both = compare({"A": a, "B": b})
    assert both["valid"] and both["A"] is a and both["B"] is b
    assert both["b_minus_a"]["slope_mb_per_market_day"] == -2.5
    assert both["b_minus_a"]["slope_after_caches_peaked_mb_per_market_day"] == -2.5
    late = summarize(_rows([0.5] * 10 + [11.0, 0.5], mb_per_day=1.5), _args())
    failed = compare({"A": a, "B": late})
    assert not failed["valid"] and failed["why"].startswith("B: lag above")


def test_capped_run_trims_malloc_on_the_period_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RQ_SOAK_MALLOC_TRIM_S", raising=False)
    assert trim_from_env() is None
    calls: list[int] = []
    trimmed = threading.Event()

    class _Libc:
        def malloc_trim(self, pad: int) -> int:
            calls.append(pad)
            trimmed.set()
            return 1

    monkeypatch.setattr(capped_run.ctypes, "CDLL", lambda _name: _Libc())
    monkeypatch.setenv("RQ_SOAK_MALLOC_TRIM_S", "0.01")
    started = trim_from_env()
    assert started is not None
    thread, stop = started
    assert thread.daemon and trimmed.wait(5) and calls[0] == 0
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
