"""`rq backtest CONFIG --instrument ID`: does fading hidden untouched wicks pay? (issue #11)

Every `[backtest]` key of the config is also an option here (the option wins). Bad input —
config, instrument, dates, distances, sweep — prints one line and exits 2; a vault the backtest
cannot read exits 1. See docs/BACKTEST.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import attrs
import orjson

from rq_actors.config import BacktestConfig, ConfigError, load_config
from rq_actors.core.timefmt import iso_ms

EXIT_BAD_INPUT = 2

_HELP = {
    "age_min": "finder: minimum wick age, minutes",
    "age_max": "finder: maximum wick age, minutes",
    "min_touched_surrounding": "finder: touched surrounding wicks needed",
    "surround_minutes": "finder: ± minutes of surrounding wicks",
    "side": "finder: same | any",
    "close_ticks": "finder: CLOSE tier distance",
    "max_size_ticks": "finder: size limit (0: the surrounding median)",
    "max_tier": "trade only setups of this tier or better: EXACT | NEAR | CLOSE | WATCH",
    "fill_rule": "through (a trade ≥ 1 tick beyond the tip) | touch (a trade at the tip)",
    "target": "e.g. 12t (ticks), 2w (wick sizes), 1.5R (stop distances)",
    "stop": "e.g. 10t or 1w",
    "time_stop_min": "exit at market this many minutes after the fill",
    "order_ttl_min": "cancel the resting order after this many minutes (0: while listed)",
    "maker_fee_bps": "maker fee, bps (entry and target)",
    "taker_fee_bps": "taker fee, bps (stop, time stop)",
    "size_base": "position size in base units (e.g. 0.5 BTC)",
    "no_overlap": "true: skip setups while one is resting or open",
    "cvd_minutes": "CVD change look-back, minutes",
    "baselines": "false: skip the baseline and random groups",
    "random_every_min": "random baseline: one entry per this many minutes on average",
    "holdout": "sweep: the later fraction held out",
    "seed": "random baseline and bootstrap seed",
    "book_near_ticks": "book: ± ticks around the tip",
    "book_levels": "book: levels per side for the imbalance",
}


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("backtest", help="backtest the hidden-wick fade on the vault (issue #11)")
    p.add_argument("config")
    p.add_argument("--instrument", required=True)
    p.add_argument("--from", dest="start", help="first trade-file date, YYYY-MM-DD")
    p.add_argument("--to", dest="end", help="last trade-file date, YYYY-MM-DD (inclusive)")
    for f in attrs.fields(BacktestConfig):
        name = getattr(f.type, "__name__", f.type)  # a string under postponed annotations
        kind: Any = {"int": int, "float": float, "bool": _bool}.get(str(name), str)
        p.add_argument(
            "--" + f.name.replace("_", "-"), dest=f.name, type=kind, help=_HELP.get(f.name)
        )
    p.add_argument(
        "--sweep",
        nargs="+",
        metavar="KEY=V1,V2",
        help="grid, e.g. age_min=15,20,25 min_touched_surrounding=5,10,15 target=1R,2R",
    )
    p.add_argument("--report", type=Path, help="write outcomes, summary and HTML report here")
    p.add_argument("--json", action="store_true", help="print the summary JSON instead")
    p.add_argument("--progress", action="store_true", help="progress on stderr (default: a tty)")
    p.set_defaults(func=run)


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _fail(text: str) -> int:
    print(f"rq backtest: {text}", file=sys.stderr)
    return EXIT_BAD_INPUT


def run(args: argparse.Namespace) -> int:
    from rq_actors.core.backtest.options import OptionError
    from rq_actors.core.backtest.sweep import parse_sweep
    from rq_actors.io.backtest.report import format_text, summary_doc, write_report
    from rq_actors.io.backtest.run import BacktestError, run_backtest

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return _fail(f"bad config: {exc}")
    if args.instrument not in config.instruments:
        return _fail(f"{args.instrument} is not in {config.source}")
    overrides = {
        f.name: getattr(args, f.name)
        for f in attrs.fields(BacktestConfig)
        if getattr(args, f.name) is not None
    }
    for flag, day in (("--from", args.start), ("--to", args.end)):
        if day is not None and not _is_date(day):
            return _fail(f"{flag} {day!r} is not a date like 2025-12-14")
    try:
        attrs.evolve(config.backtest, **overrides)  # the config's validators check the options
        grid = parse_sweep(args.sweep or [])
    except (ValueError, OptionError) as exc:
        name = getattr(exc, "name", None)  # the config validator's key
        return _fail(f"--{name.replace('_', '-')}: {exc}" if name else str(exc))
    show = args.progress or sys.stderr.isatty()
    started = time.perf_counter()

    def progress(n: int, ts: int) -> None:
        rate = n / max(1e-9, time.perf_counter() - started)
        print(f"\r{n:>12,} trades  {iso_ms(ts)}  {rate:,.0f}/s", end="", file=sys.stderr)

    try:
        res = run_backtest(
            config,
            args.instrument,
            start_day=args.start,
            end_day=args.end,
            overrides=overrides,
            sweep=grid,
            progress=progress if show else None,
        )
    except OptionError as exc:
        return _fail(str(exc))
    except BacktestError as exc:
        print(f"rq backtest: {exc}", file=sys.stderr)
        return 1
    finally:
        if show:
            print(file=sys.stderr)
    doc = summary_doc(res)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print(format_text(doc))
    if args.report is not None:
        written = write_report(res, args.report)
        print(f"report: {', '.join(str(p) for p in written)}", file=sys.stderr)
    print(
        f"{res.trades:,} trades in {res.seconds:.2f} s ({res.trades_per_s:,.0f} trades/s)",
        file=sys.stderr,
    )
    return 0
