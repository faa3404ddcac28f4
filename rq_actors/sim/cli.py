"""`rq sim`: run the local OKX simulator on loopback until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
from functools import partial
from pathlib import Path

import trio

from rq_actors.sim.options import FaultOptions, SimOptions
from rq_actors.sim.recording import save_recording
from rq_actors.sim.server import Simulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="WebSocket port (0 = any free)")
    parser.add_argument("--rest-port", type=int, default=0, help="REST port (0 = any free)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--record-dir",
        help="on SIGINT/SIGTERM, save the published fills and book messages here (for tests)",
    )
    parser.add_argument(
        "--record-limit",
        type=int,
        default=500_000,
        metavar="N",
        help="with --record-dir: newest fills and book messages kept per instrument"
        " (default 500000; a book message costs 1-6 KB)",
    )
    parser.add_argument(
        "--history-limit",
        type=int,
        default=200_000,
        metavar="N",
        help="fills per instrument served by REST trade history (default 200000, ~0.3 KB each)",
    )
    parser.add_argument(
        "--instruments", default="BTC-USDT-SWAP,ETH-USDT-SWAP", help="comma-separated instIds"
    )
    parser.add_argument("--speed", type=float, default=1.0, help="market time per real second")
    parser.add_argument(
        "--start-ms", type=int, metavar="MS", help="market time at start (default: the clock)"
    )
    parser.add_argument("--trades-per-s", type=float, default=20.0)
    parser.add_argument(
        "--book-interval-ms", type=int, default=100, metavar="MS", help="market ms between books"
    )
    parser.add_argument(
        "--vol-scale",
        type=float,
        default=1.0,
        metavar="X",
        help="multiply every instrument's 2%% daily volatility by X (default 1)",
    )
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=60.0,
        metavar="S",
        help="books heartbeat after S market seconds without changes",
    )
    parser.add_argument("--idle-close", type=float, default=30.0, metavar="S")
    faults = parser.add_argument_group("faults (all off by default)")
    faults.add_argument("--disconnect-every", type=float, metavar="S")
    faults.add_argument("--notice-every", type=float, metavar="S")
    faults.add_argument("--notice-close-after", type=float, default=60.0, metavar="S")
    faults.add_argument("--gap-prob", type=float, default=0.0, metavar="P")
    faults.add_argument("--reset-every", type=float, metavar="S")
    faults.add_argument("--checksums", action="store_true", help="real CRC32 instead of 0")
    faults.add_argument("--bad-checksum-prob", type=float, default=0.0, metavar="P")
    faults.add_argument("--malformed-prob", type=float, default=0.0, metavar="P")
    faults.add_argument("--duplicate-prob", type=float, default=0.0, metavar="P")
    faults.add_argument("--unknown-inst-prob", type=float, default=0.0, metavar="P")
    faults.add_argument("--pong-delay", type=float, default=0.0, metavar="S")
    faults.add_argument("--rest-error-prob", type=float, default=0.0, metavar="P")
    faults.add_argument(
        "--rest-rate-limit",
        action="store_true",
        help="enforce OKX REST limits (code 50011, HTTP 429)",
    )


def options_from_args(args: argparse.Namespace) -> SimOptions:
    instruments = [s.strip() for s in str(args.instruments).split(",") if s.strip()]
    return SimOptions(
        seed=args.seed,
        instruments=instruments,
        trades_per_s=args.trades_per_s,
        book_interval_ms=args.book_interval_ms,
        vol_scale=args.vol_scale,
        heartbeat_s=args.heartbeat,
        nonzero_checksums=args.checksums,
        speed=args.speed,
        start_ms=args.start_ms,
        idle_close_s=args.idle_close,
        # Only --record-dir reads the truth; without it none is kept, so memory stays flat.
        record_limit=args.record_limit if args.record_dir else 0,
        history_limit=args.history_limit,
        faults=FaultOptions(
            disconnect_every_s=args.disconnect_every,
            notice_every_s=args.notice_every,
            notice_close_after_s=args.notice_close_after,
            gap_prob=args.gap_prob,
            reset_every_s=args.reset_every,
            bad_checksum_prob=args.bad_checksum_prob,
            malformed_prob=args.malformed_prob,
            duplicate_prob=args.duplicate_prob,
            unknown_inst_prob=args.unknown_inst_prob,
            pong_delay_s=args.pong_delay,
            rest_error_prob=args.rest_error_prob,
            rest_rate_limit=args.rest_rate_limit,
        ),
    )


async def run_from_args(args: argparse.Namespace) -> None:
    sim = Simulator(options_from_args(args))
    async with trio.open_nursery() as nursery:
        serve = partial(sim.serve, host=args.host, ws_port=args.port, rest_port=args.rest_port)
        await nursery.start(serve)
        print(f"OKX simulator, seed {sim.options.seed}: {', '.join(sim.markets)}", flush=True)
        print(f"  ws public    {sim.ws_public_url}", flush=True)
        print(f"  ws business  {sim.ws_business_url}", flush=True)
        print(f"  rest         {sim.rest_url}", flush=True)
        print("Point rq-run at it with this [exchange] section (and simulate = false):")
        print(f'  ws_public_url = "{sim.ws_public_url}"')
        print(f'  ws_business_url = "{sim.ws_business_url}"')
        print(f'  rest_url = "{sim.rest_url}"', flush=True)
        print("Ctrl-C to stop.", file=sys.stderr, flush=True)
        if args.record_dir:
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as os_signals:
                async for _ in os_signals:
                    break
            save_recording(sim.recorder, Path(args.record_dir))
            nursery.cancel_scope.cancel()
