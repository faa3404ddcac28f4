"""`rq sim` argument handling, the speed factor and a run on the real clock."""

from __future__ import annotations

import argparse
import time

import httpx
import trio
from trio_websocket import open_websocket_url

from rq_actors.sim.cli import add_arguments, options_from_args, run_from_args
from tests.helpers.sim import START_MS, next_json, start_sim, subscribe


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_arguments_map_to_options() -> None:
    args = _parse(
        "--port", "8443", "--rest-port", "8080", "--seed", "3", "--instruments",
        "BTC-USDT-SWAP, SOL-USDT-SWAP", "--speed", "5", "--gap-prob", "0.1", "--checksums",
        "--disconnect-every", "30", "--notice-every", "60", "--reset-every", "90",
        "--bad-checksum-prob", "0.2", "--malformed-prob", "0.01", "--duplicate-prob", "0.02",
        "--unknown-inst-prob", "0.03", "--pong-delay", "1.5", "--rest-error-prob", "0.04",
        "--rest-rate-limit",
    )  # fmt: skip
    opts = options_from_args(args)
    assert (args.port, args.rest_port) == (8443, 8080)
    assert opts.seed == 3 and opts.instruments == ["BTC-USDT-SWAP", "SOL-USDT-SWAP"]
    assert opts.speed == 5 and opts.nonzero_checksums
    f = opts.faults
    assert (f.disconnect_every_s, f.notice_every_s, f.reset_every_s) == (30, 60, 90)
    assert (f.gap_prob, f.bad_checksum_prob, f.malformed_prob) == (0.1, 0.2, 0.01)
    assert (f.duplicate_prob, f.unknown_inst_prob, f.pong_delay_s) == (0.02, 0.03, 1.5)
    assert f.rest_error_prob == 0.04 and f.rest_rate_limit
    plain = options_from_args(_parse())
    assert plain.faults.gap_prob == 0 and not plain.faults.rest_rate_limit


async def test_run_from_args_prints_urls(capsys) -> None:
    with trio.move_on_after(0.5):
        await run_from_args(_parse("--instruments", "ETH-USDT-SWAP"))
    out = capsys.readouterr().out
    assert "ws://127.0.0.1:" in out and "/ws/v5/public" in out and "/ws/v5/business" in out
    assert "http://127.0.0.1:" in out


async def test_speed_scales_market_time(autojump_clock, nursery) -> None:
    sim = await start_sim(nursery, instruments=["ETH-USDT-SWAP"], speed=10)
    t0 = trio.current_time()
    await trio.sleep(3)
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        r = await http.get("/api/v5/market/trades", params={"instId": "ETH-USDT-SWAP"})
    newest = int(r.json()["data"][0]["ts"])
    elapsed_ms = (trio.current_time() - t0) * 1000
    assert START_MS + 10 * elapsed_ms - 2_000 <= newest <= START_MS + 10 * elapsed_ms
    assert sim.market_now_ms() >= START_MS + 30_000


async def test_real_clock_wall_time_start(nursery) -> None:
    """No mock clock: event times start at the wall clock and data flows in real time."""
    before = int(time.time() * 1000)
    sim = await start_sim(nursery, instruments=["BTC-USDT-SWAP"], start_ms=None)
    assert before <= sim.start_ms <= int(time.time() * 1000)
    async with open_websocket_url(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", "BTC-USDT-SWAP"))
        with trio.fail_after(2):
            await next_json(ws)  # ack
            snap = await next_json(ws)
            update = await next_json(ws)
            while "data" not in update or update["arg"]["channel"] != "books":
                update = await next_json(ws)
        assert update["data"][0]["prevSeqId"] == snap["data"][0]["seqId"]
        assert abs(int(update["data"][0]["ts"]) - int(time.time() * 1000)) < 1_000
