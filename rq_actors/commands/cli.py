"""Command line: `rq-run CONFIG` and `rq <subcommand>` (SPEC §10).

Bad config prints one line naming the file, the key and the problem, and exits with code 2
before anything starts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

import trio

from rq_actors.config import Config, ConfigError, load_config

EXIT_BAD_CONFIG = 2


def _load_or_exit(path: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"rq: bad config: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_CONFIG) from None


def _unknown_instrument(command: str, config: Config, inst_id: str) -> bool:
    """Say so (exit code 2 follows) when `inst_id` is not one of the config's instruments:
    an instId from the command line becomes part of file paths, so only configured ones go."""
    if inst_id in config.instruments:
        return False
    print(f"rq {command}: {inst_id} is not in {config.source}", file=sys.stderr)
    return True


def run_main(argv: Sequence[str] | None = None) -> None:
    """`rq-run CONFIG`: the supervised live system."""
    parser = argparse.ArgumentParser(prog="rq-run", description=run_main.__doc__)
    parser.add_argument("config", help="TOML config file (see config/okx.toml)")
    args = parser.parse_args(argv)
    config = _load_or_exit(args.config)
    from rq_actors.actors.runner import run_live
    from rq_actors.io.vault.lock import VaultLocked

    try:
        trio.run(run_live, config)
    except VaultLocked as exc:
        print(f"rq-run: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_CONFIG) from None
    raise SystemExit(0)


def _cmd_status(args: argparse.Namespace) -> int:
    from rq_actors.commands.status import print_status

    return print_status(_load_or_exit(args.config))


def _cmd_sim(args: argparse.Namespace) -> int:
    from rq_actors.sim.cli import run_from_args

    try:
        trio.run(run_from_args, args)
    except KeyboardInterrupt:
        pass
    return 0


def _add_sim(sub: Any) -> None:
    p = sub.add_parser("sim", help="run the local OKX simulator (SPEC §11)")
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
    kinds = list(KINDS) if args.only is None else [k.strip() for k in args.only.split(",")]
    unknown = sorted(set(kinds) - set(KINDS))
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
    p = sub.add_parser(
        "derive", help="bring CVD, VWAP, candles and wick events up to date from the vault"
    )
    p.add_argument("config")
    p.add_argument("--instrument", help="one instId (default: every configured one)")
    p.add_argument("--only", help="comma-separated subset of cvd,vwap,candles,wicks")
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
    records = iter_records(VaultPaths(config.vault_root), args.instrument, args.date, args.date)
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
    from rq_actors.io.signals import SignalsError, find_hidden_signals

    config = _load_or_exit(args.config)
    if _unknown_instrument("signals", config, args.instrument):
        return EXIT_BAD_CONFIG
    try:
        as_of = None if args.as_of is None else parse_iso_ms(args.as_of)
    except ValueError as exc:
        print(f"rq signals: --as-of: {exc} (e.g. 2025-12-14T21:34:00Z)", file=sys.stderr)
        return EXIT_BAD_CONFIG
    try:
        as_of, found = find_hidden_signals(
            config,
            args.instrument,
            as_of,
            timeframe=args.timeframe,
            age_min=args.age_min,
            age_max=args.age_max,
            min_touched_surrounding=args.min_touched,
            surround_minutes=args.surround,
            side=args.side,
            close_ticks=args.close_ticks,
            max_size_ticks=args.max_size_ticks,
        )
    except (SignalsError, ValueError) as exc:
        print(f"rq signals: {exc}", file=sys.stderr)
        return 1
    if args.json:
        doc = {"instId": args.instrument, "as_of_utc": iso_ms(as_of)}
        doc["signals"] = [s.to_record() for s in found]
        sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print(f"{args.instrument} at {iso_ms(as_of)}: {len(found)} signal(s)")
        if found:
            print(format_signals_table(found))
    return 0


def _add_signals(sub: Any) -> None:
    p = sub.add_parser("signals", help="hidden untouched-wick setups at a moment (SPEC §8.3)")
    p.add_argument("config")
    p.add_argument("--instrument", required=True)
    p.add_argument("--as-of", help="UTC time, e.g. 2025-12-14T21:34:00Z (default: newest trade)")
    p.add_argument("--timeframe", default="1m")
    p.add_argument("--age-min", type=int, default=20, help="minutes (inclusive)")
    p.add_argument("--age-max", type=int, default=40, help="minutes (inclusive)")
    p.add_argument("--min-touched", type=int, default=10, help="touched surrounding wicks")
    p.add_argument("--surround", type=int, default=30, help="± minutes around the candidate")
    p.add_argument("--side", choices=["same", "any"], default="same")
    p.add_argument("--close-ticks", type=int, default=3)
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
]


def main(argv: Sequence[str] | None = None) -> None:
    """`rq`: tools around the vault and the simulator."""
    parser = argparse.ArgumentParser(prog="rq", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(sub)
    args = parser.parse_args(argv)
    raise SystemExit(args.func(args))
