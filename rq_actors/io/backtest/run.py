"""`run_backtest`: the vault's trades through the pure backtest engine, with book features.

Reads the instrument metadata and the trade files through the vault loaders (the same trade
order the live derived actors see), feeds the engine in chunks (memory: one chunk, the
tracker's look-back and the setups alive at once), attaches L2 book features when snapshot
files exist, and builds the summary. Same vault + same options → the same result, always.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import attrs

from rq_actors.config import BacktestConfig, Config
from rq_actors.core.backtest.analysis import summary
from rq_actors.core.backtest.engine import BacktestEngine
from rq_actors.core.backtest.options import Distance, ExitRules, OptionError, RuleSet, parse_bps
from rq_actors.core.backtest.outcome import Outcome
from rq_actors.core.backtest.setup import Setup
from rq_actors.core.backtest.sweep import expand
from rq_actors.core.derive.candles import Candle
from rq_actors.io.backtest.book import attach_book_features
from rq_actors.io.instruments import read_saved_meta
from rq_actors.io.vault.load import iter_trades
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.io.vault.trade_files import TradeVaultError
from rq_actors.messages import Trade

CHUNK = 20_000
Progress = Callable[[int, int], None]  # (trades so far, event time of the last one)


class BacktestError(Exception):
    """The backtest cannot run on this vault (no metadata, no trades, bad dates)."""


@attrs.frozen
class BacktestResult:
    inst_id: str
    tick: Decimal
    trades: int
    dropped: int
    first_ms: int
    last_ms: int
    seconds: float = attrs.field(eq=False)
    rules: list[RuleSet]
    exits: list[ExitRules]
    setups: list[Setup]
    outcomes: list[Outcome]
    book_setups: int
    summary: dict[str, Any]
    examples: dict[int, list[Candle]] = attrs.field(factory=dict, eq=False)

    @property
    def trades_per_s(self) -> float:
        return self.trades / self.seconds if self.seconds > 0 else 0.0


def options_from_config(bt: BacktestConfig) -> tuple[RuleSet, ExitRules]:
    """The base rule set and exit rules of a `[backtest]` section (OptionError if unusable)."""
    rules = RuleSet(
        age_min=bt.age_min,
        age_max=bt.age_max,
        min_touched_surrounding=bt.min_touched_surrounding,
        surround_minutes=bt.surround_minutes,
        side=bt.side,  # type: ignore[arg-type]
        close_ticks=bt.close_ticks,
        max_size_ticks=bt.max_size_ticks or None,
        max_tier=bt.max_tier,  # type: ignore[arg-type]
    )
    exits = ExitRules(
        fill_rule=bt.fill_rule,  # type: ignore[arg-type]
        target=Distance.parse(bt.target, "target"),
        stop=Distance.parse(bt.stop, "stop", allow_r=False),
        time_stop_min=bt.time_stop_min,
        order_ttl_min=bt.order_ttl_min or None,
        maker_fee_bps=parse_bps(bt.maker_fee_bps, "maker_fee_bps"),
        taker_fee_bps=parse_bps(bt.taker_fee_bps, "taker_fee_bps"),
        size_base=Decimal(bt.size_base),
        no_overlap=bt.no_overlap,
    )
    return rules, exits


def run_backtest(
    config: Config,
    inst_id: str,
    *,
    start_day: str | None = None,
    end_day: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    sweep: Mapping[str, Sequence[str]] | None = None,
    progress: Progress | None = None,
) -> BacktestResult:
    """Backtest `inst_id` over the vault's trade files dated `[start_day, end_day]` (inclusive,
    `YYYY-MM-DD`, either open). `overrides`: `[backtest]` keys to replace; `sweep`: values per
    knob (see `core.backtest.sweep`). Raises `BacktestError` or `OptionError`."""
    for day in (start_day, end_day):
        if day is not None:
            try:
                date.fromisoformat(day)
            except ValueError:
                raise BacktestError(f"{day!r} is not a date like 2025-12-14") from None
    bt = attrs.evolve(config.backtest, **dict(overrides or {}))
    base_rules, base_exits = options_from_config(bt)
    rules, exits = expand(sweep or {}, base_rules, base_exits)
    paths = VaultPaths(config.vault_root)
    meta = read_saved_meta(paths, inst_id)
    if meta is None:
        raise BacktestError(f"{inst_id}: no instrument metadata in {paths.root}; run rq-run first")
    engine = BacktestEngine(
        meta,
        rules,
        exits,
        near_ticks=config.wicks.near_ticks,
        vwap_windows=config.vwap.windows_minutes,
        vwap_weighting=config.vwap.weighting,
        cvd_unit=config.cvd.unit,
        cvd_minutes=bt.cvd_minutes,
        baselines=bt.baselines,
        random_every_min=bt.random_every_min,
        seed=bt.seed,
    )
    t0 = time.perf_counter()
    chunk: list[Trade] = []
    try:
        for trade in iter_trades(paths, inst_id, start_day, end_day):
            chunk.append(trade)
            if len(chunk) >= CHUNK:
                engine.feed(chunk)
                chunk = []
                if progress is not None:
                    progress(engine.trades, trade.ts_ms)
    except TradeVaultError as exc:
        raise BacktestError(str(exc)) from None
    engine.feed(chunk)
    outcomes = engine.finish()
    seconds = time.perf_counter() - t0
    if engine.first_ms is None or engine.last_ms is None:
        raise BacktestError(f"{inst_id}: no trades in the vault at {paths.root} for those dates")
    booked = attach_book_features(
        paths, inst_id, engine.setups, meta.tick, near=bt.book_near_ticks, levels=bt.book_levels
    )
    doc = summary(
        outcomes,
        rules,
        exits,
        cvd_key=f"cvd_{bt.cvd_minutes}m",
        first_ms=engine.first_ms,
        last_ms=engine.last_ms,
        holdout=bt.holdout,
        seed=bt.seed,
    )
    return BacktestResult(
        inst_id=inst_id,
        tick=meta.tick,
        trades=engine.trades,
        dropped=engine.dropped,
        first_ms=engine.first_ms,
        last_ms=engine.last_ms,
        seconds=seconds,
        rules=rules,
        exits=exits,
        setups=engine.setups,
        outcomes=outcomes,
        book_setups=booked,
        summary=doc,
        examples=engine.examples.captured,
    )


__all__ = ["BacktestError", "BacktestResult", "OptionError", "options_from_config", "run_backtest"]
