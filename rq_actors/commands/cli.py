"""Command line: `rq-run CONFIG` and `rq <subcommand>`.

Bad config, bad arguments and other user-caused failures print one line saying what to do and
exit with code 2 before anything starts (`boundary.guarded`); Ctrl-C exits quietly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import trio

from rq_actors.commands import alerts as alerts_cmd
from rq_actors.commands import backtest
from rq_actors.commands import web as _web
from rq_actors.commands.boundary import (
    EXIT_INTERRUPTED,
    EXIT_USER_ERROR,
    check_vault_writable,
    guarded,
)
from rq_actors.config import Config, load_config

EXIT_BAD_CONFIG = EXIT_USER_ERROR


def _load_or_exit(path: str) -> Config:
    return load_config(path)  # a ConfigError becomes one line at the boundary


def _add_version(parser: argparse.ArgumentParser) -> None:
    from rq_actors.io.console import package_version

    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")


def _unknown_instrument(command: str, config: Config, inst_id: str) -> bool:
    """Say so (exit code 2 follows) when `inst_id` is not one of the config's instruments:
    an instId from the command line becomes part of file paths, so only configured ones go."""
    if inst_id in config.instruments:
        return False
    hint = f"; did you mean {inst_id.upper()}?" if inst_id.upper() in config.instruments else ""
    print(
        f"rq {command}: {inst_id} is not in {config.source} "
        f"(configured: {', '.join(config.instruments)}){hint}",
        file=sys.stderr,
    )
    return True


def _day_or_none(option: str, value: str | None) -> str | None:
    """`value` checked as a real `YYYY-MM-DD` day: an impossible date is the user's error,
    not an empty answer."""
    from rq_actors.io.vault.load import check_day

    return None if value is None else check_day(value, option)


def run_main(argv: Sequence[str] | None = None) -> None:
    """`rq-run CONFIG`: the supervised live system (Ctrl-C or SIGTERM stops it cleanly)."""
    parser = argparse.ArgumentParser(prog="rq-run", description=run_main.__doc__)
    parser.add_argument("config", help="TOML config file (see config/okx.toml)")
    parser.add_argument(
        "--log-format",
        choices=["human", "json"],
        help="what stderr shows: a start-up summary and status lines, or the JSON health "
        "stream (default: [health] log_format, itself 'human')",
    )
    _add_version(parser)
    args = parser.parse_args(argv)

    def run() -> int:
        config = _load_or_exit(args.config)
        if args.log_format is not None:
            import attrs

            config = attrs.evolve(
                config, health=attrs.evolve(config.health, log_format=args.log_format)
            )
        if config.alerts.notifiers:  # a missing secret: one line before anything is created
            import os

            from rq_actors.io.alerts.notifiers import read_secrets

            read_secrets(config.alerts, config.source, os.environ)
        check_vault_writable(config.vault_root, config.source)
        from rq_actors.actors.runner import run_live
        from rq_actors.actors.testing_hooks import TestHooks  # RQ_TEST_CRASH, for the chaos test

        trio.run(partial(run_live, config, hooks=TestHooks.from_env()))
        return 0

    raise SystemExit(guarded("rq-run", run, interrupt_code=EXIT_INTERRUPTED))


def _cmd_status(args: argparse.Namespace) -> int:
    from rq_actors.commands.status import print_status

    return print_status(_load_or_exit(args.config))


def _cmd_sim(args: argparse.Namespace) -> int:
    from rq_actors.sim.cli import run_from_args

    # "Ctrl-C to stop" is how the simulator is meant to end: exit 0, quietly.
    return guarded("rq sim", lambda: trio.run(run_from_args, args) or 0, interrupt_code=0)


def _add_sim(sub: Any) -> None:
    p = sub.add_parser(
        "sim",
        help="run the local OKX simulator on loopback (Ctrl-C stops it)",
    )
    from rq_actors.sim.cli import add_arguments

    add_arguments(p)
    p.set_defaults(func=_cmd_sim)


def _add_status(sub: Any) -> None:
    p = sub.add_parser("status", help="latest health state of every actor, as a table")
    p.add_argument("config")
    p.set_defaults(func=_cmd_status)


def _cmd_derive(args: argparse.Namespace) -> int:
    from rq_actors.io.metrics.batch import DeriveError, derive_instrument
    from rq_actors.io.metrics.jobs import KINDS, StateMismatch
    from rq_actors.io.vault.lock import VaultLock, VaultLocked

    config = _load_or_exit(args.config)
    kinds = None if args.only is None else [k.strip() for k in args.only.split(",")]
    unknown = sorted(set(kinds or ()) - set(KINDS))
    if unknown:
        print(
            f"rq derive: unknown --only kind(s) {unknown}; choose from {list(KINDS)}",
            file=sys.stderr,
        )
        return EXIT_BAD_CONFIG
    insts = [args.instrument] if args.instrument else config.instruments
    try:
        lock = VaultLock(config.vault_root, "rq derive")
        lock.acquire()  # a live rq-run writes the same derived files
    except VaultLocked as exc:
        print(f"rq derive: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    with lock:
        for inst in insts:
            if _unknown_instrument("derive", config, inst):
                return EXIT_BAD_CONFIG
            try:
                res = derive_instrument(
                    config, inst, kinds, rebuild=args.rebuild, progress=sys.stderr.isatty()
                )
            except (DeriveError, StateMismatch) as exc:
                print(f"rq derive: {exc}", file=sys.stderr)
                return 1
            print(
                f"{inst}: {res.trades_read} trades read, {res.records_written} records written "
                f"in {res.seconds:.2f} s"
            )
    return 0


def _add_derive(sub: Any) -> None:
    from rq_actors.io.metrics.jobs import KINDS

    p = sub.add_parser(
        "derive", help="bring CVD, VWAP, candles and wick events up to date from the vault"
    )
    p.add_argument("config")
    p.add_argument("--instrument", help="one instId (default: every configured one)")
    p.add_argument("--only", help=f"comma-separated subset of {','.join(KINDS)}")
    p.add_argument("--rebuild", action="store_true", help="delete outputs and state, start over")
    p.set_defaults(func=_cmd_derive)


def _cmd_retention(args: argparse.Namespace) -> int:
    import time

    from rq_actors.io.retention import run_retention_pass
    from rq_actors.io.vault.paths import VaultPaths

    config = _load_or_exit(args.config)
    report = run_retention_pass(
        VaultPaths(config.vault_root),
        list(config.instruments),
        config.retention,
        int(time.time() * 1000),
    )
    print(
        f"compressed {len(report.compressed)} file(s) ({report.bytes_in:,} → "
        f"{report.bytes_out:,} bytes), deleted {len(report.deleted)}, "
        f"removed {len(report.temps_removed)} leftover temp file(s)"
    )
    for err in report.errors:
        print(f"rq retention: {err}", file=sys.stderr)
    return 1 if report.errors else 0


def _add_retention(sub: Any) -> None:
    p = sub.add_parser("retention", help="one retention pass over the L2 files (compress, delete)")
    p.add_argument("config")
    p.set_defaults(func=_cmd_retention)


def _cmd_trades(args: argparse.Namespace) -> int:
    import orjson

    from rq_actors.io.vault.load import iter_records
    from rq_actors.io.vault.paths import VaultPaths

    config = _load_or_exit(args.config)
    if _unknown_instrument("trades", config, args.instrument):
        return EXIT_BAD_CONFIG
    day = _day_or_none("--date", args.date)
    records = iter_records(VaultPaths(config.vault_root), args.instrument, day, day)
    out = sys.stdout.buffer
    for n, record in enumerate(records):
        if args.limit is not None and n >= args.limit:
            break
        out.write(orjson.dumps(record) + b"\n")
    out.flush()
    return 0


def _add_trades(sub: Any) -> None:
    p = sub.add_parser("trades", help="print an instrument's trades from the vault as JSONL")
    p.add_argument("config")
    p.add_argument("--instrument", required=True)
    p.add_argument("--date", help="YYYY-MM-DD (default: every day)")
    p.add_argument("--limit", type=int, help="at most this many trades")
    p.set_defaults(func=_cmd_trades)


def _cmd_signals(args: argparse.Namespace) -> int:
    import orjson

    from rq_actors.core.timefmt import iso_ms, parse_iso_ms
    from rq_actors.core.wicks.signals import format_signals_table
    from rq_actors.io.signals import SignalsError, explain_no_signals, find_signals_in_vault

    config = _load_or_exit(args.config)
    if _unknown_instrument("signals", config, args.instrument):
        return EXIT_BAD_CONFIG
    try:
        as_of = None if args.as_of is None else parse_iso_ms(args.as_of)
    except ValueError as exc:
        print(f"rq signals: --as-of: {exc} (e.g. 2025-12-14T21:34:00Z)", file=sys.stderr)
        return EXIT_BAD_CONFIG
    rules: dict[str, Any] = {
        "timeframe": args.timeframe,
        "age_min": args.age_min,
        "age_max": args.age_max,
        "min_touched_surrounding": args.min_touched,
        "surround_minutes": args.surround,
    }
    try:
        as_of, found = find_signals_in_vault(
            config,
            args.instrument,
            as_of,
            side=args.side,
            close_ticks=args.close_ticks,
            max_size_ticks=args.max_size_ticks,
            **rules,
        )
    except (SignalsError, ValueError) as exc:
        print(f"rq signals: {exc}", file=sys.stderr)
        return 1
    why = None if found else explain_no_signals(config, args.instrument, as_of, **rules)
    if args.json:
        doc: dict[str, Any] = {"instId": args.instrument, "as_of_utc": iso_ms(as_of)}
        doc["signals"] = [s.to_record() for s in found]
        if why is not None:
            doc["why_none"] = why
        sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print(f"{args.instrument} at {iso_ms(as_of)}: {len(found)} signal(s)")
        print(format_signals_table(found) if why is None else f"  why: {why}")
    return 0


def _add_signals(sub: Any) -> None:
    p = sub.add_parser(
        "signals",
        help="hidden untouched-wick setups at a moment (small, untouched, 20-40 min old wicks "
        "among touched ones)",
    )
    p.add_argument("config")
    p.add_argument("--instrument", required=True)
    p.add_argument("--as-of", help="UTC time, e.g. 2025-12-14T21:34:00Z (default: newest trade)")
    p.add_argument("--timeframe", default="1m", help="wick timeframe (default 1m)")
    p.add_argument(
        "--age-min", type=int, default=20, help="youngest candidate, minutes (default 20)"
    )
    p.add_argument("--age-max", type=int, default=40, help="oldest candidate, minutes (default 40)")
    p.add_argument(
        "--min-touched", type=int, default=10, help="touched surrounding wicks needed (default 10)"
    )
    p.add_argument(
        "--surround", type=int, default=30, help="± minutes around the candidate (default 30)"
    )
    p.add_argument(
        "--side",
        choices=["same", "any"],
        default="same",
        help="surrounding wicks on the candidate's side only, or both (default same)",
    )
    p.add_argument(
        "--close-ticks",
        type=int,
        default=3,
        help="ticks from the tip that count as CLOSE (default 3)",
    )
    p.add_argument("--max-size-ticks", type=int, help="default: the surrounding median")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_signals)


_SUBCOMMANDS: list[Callable[[Any], None]] = [
    _add_sim,
    _add_status,
    _add_trades,
    _add_derive,
    _add_retention,
    _add_signals,
    backtest.add_parser,
    _web.add_parser,
    alerts_cmd.add_parser,
]


def main(argv: Sequence[str] | None = None) -> None:
    """`rq`: tools around the vault and the simulator."""
    parser = argparse.ArgumentParser(prog="rq", description=main.__doc__)
    _add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(sub)
    args = parser.parse_args(argv)
    if args.command == "sim":  # the simulator guards itself: its Ctrl-C is a normal stop
        raise SystemExit(args.func(args))
    prog = f"rq {args.command}"
    raise SystemExit(guarded(prog, lambda: int(args.func(args)), interrupt_code=EXIT_INTERRUPTED))
