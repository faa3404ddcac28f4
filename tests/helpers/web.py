"""Shared helpers for the dashboard tests: a small demo vault (trades from the simulator's market
model, derived with the project's own batch jobs, plus L2 snapshots, signal events and health
lines written the way their writers write them) and a server launcher."""

from __future__ import annotations

import socket
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import trio

from rq_actors.config import Config, parse_config
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.timefmt import iso_ms
from rq_actors.core.trades.record import encode_trade
from rq_actors.io.instruments import meta_to_doc
from rq_actors.io.live_bus import LiveBus
from rq_actors.io.metrics.batch import derive_instrument
from rq_actors.io.metrics.signals_job import signals_dir
from rq_actors.io.vault.files import atomic_write_json, iter_jsonl
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade
from rq_actors.web.app import WebContext, create_app
from rq_actors.web.health_view import HealthSource
from rq_actors.web.server import serve_app
from tests.helpers.sim import market_trades

INST = "ETH-USDT-SWAP"
OTHER = "BTC-USDT-SWAP"
META = InstrumentMeta(INST, "SWAP", "0.1", "1", "linear", "0.01", "0.01")
T0 = 1_765_752_000_000  # 2025-12-14T22:40:00Z
MINUTES = 90


def _trades(minutes: int) -> list[Trade]:
    return market_trades(
        INST, minutes, seed=4, start_ms=T0, trades_per_s=2.0, book_interval_ms=1000
    )


def snapshot(ts_ms: int, mid: Decimal, levels: int = 60, wall_at: int = 7) -> dict[str, Any]:
    """A books snapshot record shaped like the book actor's (SPEC §6), with a large resting
    order ("wall") `wall_at` ticks below the best bid."""
    tick = Decimal("0.01")
    bids = [[str(mid - tick * (i + 1)), "900" if i == wall_at else str(i + 1), "0", "1"]
            for i in range(levels)]  # fmt: skip
    asks = [[str(mid + tick * (i + 1)), str(i + 2), "0", "1"] for i in range(levels)]
    return {
        "timestamp_utc": iso_ms(ts_ms), "exchange": "okx", "market": "perp", "channel": "books",
        "instId": INST, "bids_top400": bids, "asks_top400": asks, "best_bid": bids[0][0],
        "best_ask": asks[0][0], "mid_price": str(mid), "checksum": 0, "seqId": ts_ms,
        "prevSeqId": ts_ms - 1, "gap_detected": False,
    }  # fmt: skip


def setup_event(ts_ms: int, wick: dict[str, Any], event: str, tier: str) -> dict[str, Any]:
    """A signal-stream lifecycle event (the contract of the signals job)."""
    return {
        "event_time_utc": iso_ms(ts_ms), "event": event, "id": wick["id"], "instId": INST,
        "tf": wick["tf"], "side": wick["side"],
        "fade": "short" if wick["side"] == "upper" else "long", "tip": wick["tip"],
        "base": wick["base"], "size_ticks": wick["size_ticks"], "age_min": 25, "tier": tier,
        "strength": "HIGH", "touched_surrounding": 12, "surrounding": 20, "price": wick["tip"],
        "distance_ticks": 1, "vwap_1h": None, "vwap_4h": None, "vwap_1h_dev_bps": None,
        "cvd_30m": None,
    }  # fmt: skip


def build_demo_vault(root: Path) -> Config:
    paths = VaultPaths(root)
    atomic_write_json(paths.instrument_meta(INST), meta_to_doc(META, {}, T0))
    trades = _trades(MINUTES)
    by_file: dict[Path, list[bytes]] = {}
    for t in trades:
        by_file.setdefault(paths.trades_file(INST, t.ts_ms), []).append(encode_trade(t, META))
    for path, lines in by_file.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(line + b"\n" for line in lines))
    config = parse_config(
        {"instruments": [INST, OTHER], "vault": {"root": str(root)}, "web": {"port": 0}}
    )
    derive_instrument(config, INST, ["cvd", "vwap", "candles", "wicks"], rebuild=True)
    last = trades[-1]
    mid = Decimal(last.px)
    for i in range(40):
        ts = last.ts_ms - (39 - i) * 2000
        path = paths.l2_file(INST, ts)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as f:
            f.write(orjson.dumps(snapshot(ts, mid + Decimal("0.01") * (i % 3))) + b"\n")
    active = orjson.loads(paths.wicks_active(INST).read_bytes())["wicks"]
    untouched = [w for w in active if w["state"] == "untouched" and w["tf"] == "1m"]
    events = [
        setup_event(last.ts_ms - 3000, untouched[0], "appeared", "CLOSE"),
        setup_event(last.ts_ms - 2000, untouched[1], "appeared", "WATCH"),
        setup_event(last.ts_ms - 1000, untouched[1], "touched", "EXACT"),  # ends that one
    ]
    folder = signals_dir(paths, INST)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{iso_ms(last.ts_ms)[:10]}.jsonl").write_bytes(
        b"".join(orjson.dumps(e) + b"\n" for e in events)
    )
    health = [
        {"ts": iso_ms(last.ts_ms), "actor": "trade_writer", "inst_id": INST, "state": "running",
         "restarts": 1, "counters": {"trades_written": len(trades), "duplicates_skipped": 3,
                                     "quarantined": 2}, "lag_ms": 1500, "last_error": None},
        {"ts": iso_ms(last.ts_ms), "actor": "book", "inst_id": INST, "state": "lagging",
         "restarts": 0, "counters": {"gaps": 4, "resubscribes": 4, "snapshots_written": 40},
         "lag_ms": None, "last_error": "boom"},
    ]  # fmt: skip
    log = paths.health_log()
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"".join(orjson.dumps(h) + b"\n" for h in health))
    return config


def stream_records(folder: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.jsonl")):
        out += list(iter_jsonl(path))
    return out


async def start_web(
    nursery: trio.Nursery, config: Config, health: HealthSource, bus: LiveBus | None = None
) -> tuple[str, WebContext]:
    """Serve the dashboard on a free loopback port; return its base URL and context."""
    ctx = WebContext(config, health, bus)
    urls: list[str] = await nursery.start(serve_app, create_app(ctx), "127.0.0.1", 0)
    return urls[0], ctx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_for_listener(port: int) -> None:
    """The web task starts beside the supervisor: wait until its listener accepts."""
    with trio.fail_after(30):
        while True:
            try:
                await (await trio.open_tcp_stream("127.0.0.1", port)).aclose()
                return
            except OSError:
                await trio.sleep(0.1)


def live_config(root: Path, port: int) -> Config:
    """`rq-run` over the embedded simulator, a market minute every 2 s, web on `port`."""
    return parse_config(
        {
            "instruments": ["BTC-USDT-SWAP"],
            "vault": {"root": str(root)},
            "exchange": {"simulate": True},
            "simulator": {"seed": 5, "speed": 30.0, "trades_per_s": 3.0, "book_interval_ms": 500},
            "book": {"snapshot_interval_s": 1.0},
            "health": {"interval_s": 1.0, "stderr": False},
            "web": {"port": port},
        }
    )


async def start_live(nursery: trio.Nursery, root: Path) -> tuple[int, trio.Event]:
    """`run_live` over the simulator with its web server on a free port, listening; set the
    returned event to stop it."""
    from rq_actors.actors.runner import run_live

    port = free_port()
    stop = trio.Event()
    await nursery.start(
        lambda task_status: run_live(
            live_config(root, port), handle_signals=False, stop=stop, task_status=task_status
        )
    )
    await wait_for_listener(port)
    return port, stop
