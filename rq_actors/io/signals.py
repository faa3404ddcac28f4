"""The signal finder over the vault (SPEC §8.3): `find_signals_in_vault` and `rq signals`.

The wick states at `as_of` are rebuilt from the wick event files (`created` gives each wick,
`touched` its touching trade's time and price), and the price at `as_of` is the last vault trade
at or before it, so the answer depends only on the vault and `as_of`, never on the wall clock.
`as_of` defaults to the time of the newest trade in the vault. The rules themselves are the pure
`rq_actors.core.wicks.signals.find_hidden_signals`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from rq_actors.config import Config
from rq_actors.core.timefmt import MS_PER_MINUTE, date_str, parse_iso_ms
from rq_actors.core.trades.record import decode_trade
from rq_actors.core.wicks import signals as pure
from rq_actors.core.wicks.model import WickSnapshot, price_to_ticks
from rq_actors.errors import RqError
from rq_actors.io.instruments import read_saved_meta
from rq_actors.io.vault.files import iter_jsonl, last_line
from rq_actors.io.vault.load import iter_trades
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.io.vault.trade_files import day_files
from rq_actors.messages import Trade

Signal = pure.Signal


class SignalsError(RqError):
    pass


def find_signals_in_vault(
    config: Config,
    inst_id: str,
    as_of: int | None = None,
    *,
    timeframe: str = "1m",
    age_min: int = 20,
    age_max: int = 40,
    min_touched_surrounding: int = 10,
    surround_minutes: int = 30,
    side: Literal["same", "any"] = "same",
    close_ticks: int = 3,
    max_size_ticks: int | None = None,
) -> tuple[int, list[Signal]]:
    """The hidden untouched-wick setups of `inst_id` at `as_of` (ms; default: newest trade).

    Returns `(as_of, signals)`, strongest first.
    """
    paths = VaultPaths(config.vault_root)
    tick = _tick(paths, inst_id)
    if as_of is None:
        newest = newest_trade(paths, inst_id)
        if newest is None:
            raise SignalsError(f"{inst_id}: no trades in the vault at {paths.root}")
        as_of = newest.ts_ms
    last = last_trade_at(paths, inst_id, as_of)
    if last is None:
        raise SignalsError(f"{inst_id}: no trade at or before as_of in the vault")
    start = as_of - (age_max + surround_minutes) * MS_PER_MINUTE
    wicks = list(wick_snapshots(paths, inst_id, timeframe, tick, start, as_of))
    signals = pure.find_hidden_signals(
        wicks,
        price_to_ticks(last.px, tick),
        as_of,
        tick=tick,
        timeframe=timeframe,
        age_min=age_min,
        age_max=age_max,
        min_touched_surrounding=min_touched_surrounding,
        surround_minutes=surround_minutes,
        side=side,
        close_ticks=close_ticks,
        max_size_ticks=max_size_ticks,
    )
    return as_of, signals


def _tick(paths: VaultPaths, inst_id: str) -> Decimal:
    meta = read_saved_meta(paths, inst_id)
    if meta is None:
        raise SignalsError(f"{inst_id}: no instrument metadata in {paths.root}; run rq-run first")
    return meta.tick


def explain_no_signals(
    config: Config,
    inst_id: str,
    as_of: int,
    *,
    timeframe: str = "1m",
    age_min: int = 20,
    age_max: int = 40,
    min_touched_surrounding: int = 10,
    surround_minutes: int = 30,
) -> str:
    """Why `find_hidden_signals` found nothing at `as_of`, in one sentence a newcomer can act
    on (most often: the capture has not run long enough for a wick to be old enough)."""
    paths = VaultPaths(config.vault_root)
    start = as_of - (age_max + surround_minutes) * MS_PER_MINUTE
    wicks = list(wick_snapshots(paths, inst_id, timeframe, _tick(paths, inst_id), start, as_of))
    return why_no_signals(
        wicks,
        as_of,
        timeframe=timeframe,
        age_min=age_min,
        age_max=age_max,
        min_touched_surrounding=min_touched_surrounding,
        window_minutes=age_max + surround_minutes,
    )


def why_no_signals(
    wicks: Sequence[WickSnapshot],
    as_of: int,
    *,
    timeframe: str,
    age_min: int,
    age_max: int,
    min_touched_surrounding: int,
    window_minutes: int,
) -> str:
    """The first rule of the finder that no wick in `wicks` (those created in the
    `window_minutes` before `as_of`) gets past."""
    ages = f"{age_min}–{age_max} minutes old"
    if not wicks:
        return (
            f"no {timeframe} wick was created in the {window_minutes} minutes before as_of "
            "(a wick appears when its candle closes; let the capture run longer)"
        )
    oldest = max(as_of - w.created_ms for w in wicks) // MS_PER_MINUTE
    aged = [w for w in wicks if age_min <= (as_of - w.created_ms) / MS_PER_MINUTE <= age_max]
    if not aged:
        if oldest < age_min:
            return f"no {timeframe} wick is {ages} yet; the oldest is {oldest} minute(s)"
        return f"no {timeframe} wick is {ages} (none was created then; was the capture off?)"
    untouched = [w for w in aged if w.touched_ms is None or w.touched_ms >= as_of]
    if not untouched:
        return f"all {len(aged)} {timeframe} wick(s) {ages} are touched already"
    return (
        f"{len(untouched)} untouched {timeframe} wick(s) are {ages}, but none is smaller than "
        f"the median of the wicks around it with at least {min_touched_surrounding} of those "
        "touched"
    )


def newest_trade(paths: VaultPaths, inst_id: str) -> Trade | None:
    """The newest trade (highest id) of the vault; the two newest day files decide it."""
    best: Trade | None = None
    for path in day_files(paths, inst_id)[-2:]:
        line = last_line(path)
        if line:
            trade = decode_trade(line)
            if best is None or trade.trade_id > best.trade_id:
                best = trade
    return best


def last_trade_at(paths: VaultPaths, inst_id: str, as_of: int) -> Trade | None:
    """The last trade (in vault order) with `ts ≤ as_of`, from as_of's day and the day before."""
    day = date.fromisoformat(date_str(as_of))
    last: Trade | None = None
    for trade in iter_trades(paths, inst_id, str(day - timedelta(days=1)), str(day)):
        if trade.ts_ms <= as_of:
            last = trade
    return last


def wick_snapshots(
    paths: VaultPaths, inst_id: str, timeframe: str, tick: object, start_ms: int, as_of: int
) -> Iterator[WickSnapshot]:
    """Wicks of `timeframe` created in `[start_ms, as_of]`, with touches known by the files.

    A `touched` event is written at the close of the touching minute, so the files of the day
    after `as_of` may hold a touch from before it; the pure finder ignores touches after as_of.
    """
    first = date.fromisoformat(date_str(start_ms))
    last = date.fromisoformat(date_str(as_of + MS_PER_MINUTE))
    created: dict[str, dict[str, object]] = {}
    touched: dict[str, tuple[int, int]] = {}
    day = first
    while day <= last:
        path = paths.wick_events_file(inst_id, str(day))
        if path.exists():
            for ev in iter_jsonl(path):
                if ev["tf"] != timeframe:
                    continue
                if ev["event"] == "created":
                    c = parse_iso_ms(ev["created_at"])
                    if start_ms <= c <= as_of:
                        created[ev["id"]] = ev
                elif ev["event"] == "touched":
                    touched[ev["id"]] = (
                        parse_iso_ms(ev["touched_at"]),
                        price_to_ticks(ev["price"], tick),  # type: ignore[arg-type]
                    )
        day += timedelta(days=1)
    for wick_id, ev in created.items():
        touch = touched.get(wick_id)
        yield WickSnapshot(
            id=wick_id,
            tf=str(ev["tf"]),
            side=ev["side"],  # type: ignore[arg-type]
            open_ms=parse_iso_ms(str(ev["open_time_utc"])),
            created_ms=parse_iso_ms(str(ev["created_at"])),
            tip=price_to_ticks(str(ev["tip"]), tick),  # type: ignore[arg-type]
            size_ticks=int(ev["size_ticks"]),  # type: ignore[call-overload]
            touched_ms=None if touch is None else touch[0],
            touch_price=None if touch is None else touch[1],
        )
