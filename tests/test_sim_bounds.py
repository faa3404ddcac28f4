"""The simulator's memory is bounded (truth, REST history) and a restart continues the tape."""

from __future__ import annotations

import argparse

import httpx
import trio

from rq_actors.sim.cli import add_arguments, options_from_args
from rq_actors.sim.events import BookMessage, MarketEvent, TradeGroup
from rq_actors.sim.history import FillHistory
from rq_actors.sim.market import Market
from rq_actors.sim.recorder import Recorder
from tests.helpers.sim import START_MS, start_sim

BTC = "BTC-USDT-SWAP"
ETH = "ETH-USDT-SWAP"


def _fill_ids(events: list[MarketEvent]) -> list[int]:
    return [f.trade_id for e in events if isinstance(e, TradeGroup) for f in e.fills]


def test_truth_and_history_stay_within_their_bounds_over_a_long_run() -> None:
    market = Market(ETH, seed=5, start_ms=START_MS)
    recorder, history = Recorder(limit=300), FillHistory(limit=500)
    longest_fills = longest_log = longest_history = 0
    fills_seen = 0
    for _ in range(40):  # 40 × 30 market seconds: many times each bound
        events = market.advance(30_000)
        for event in events:
            recorder.record(event)
            if isinstance(event, TradeGroup):
                history.add(event.fills)
                fills_seen += len(event.fills)
        longest_fills = max(longest_fills, len(recorder.fills[ETH]))
        longest_log = max(longest_log, len(recorder.book_log[ETH]))
        longest_history = max(longest_history, len(history.recent(ETH, 10**9)))
    assert fills_seen > 10 * 500 and longest_history >= 500
    assert longest_fills <= 300 * 5 // 4 and longest_log <= 300 * 5 // 4
    assert longest_history <= 500 * 5 // 4
    # What is kept is still the newest truth, and the replayed book still matches.
    last_book = recorder.book_log[ETH][-1]
    snap = market.snapshot()
    assert recorder.true_book(ETH, last_book.seq_id) == (snap.bids, snap.asks)
    newest = history.recent(ETH, 3)
    assert [f.trade_id for f in newest] == [f.trade_id for f in reversed(recorder.fills[ETH][-3:])]


def test_record_limit_zero_keeps_nothing() -> None:
    market = Market(BTC, seed=5, start_ms=START_MS)
    recorder = Recorder(limit=0)
    for event in market.advance(60_000):
        recorder.record(event)
    assert not recorder.fills and not recorder.book_log


def test_rq_sim_keeps_truth_only_when_asked_to_save_it() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert options_from_args(parser.parse_args([])).record_limit == 0
    saved = options_from_args(parser.parse_args(["--record-dir", "x", "--record-limit", "9"]))
    assert saved.record_limit == 9
    assert options_from_args(parser.parse_args(["--history-limit", "77"])).history_limit == 77


def test_a_market_started_later_continues_ids_and_sequence_numbers() -> None:
    first = Market(BTC, seed=7, start_ms=START_MS)
    before = first.advance(120_000)
    # The same seed started two minutes later, as `rq sim` or the demo does after a restart.
    second = Market(BTC, seed=7, start_ms=START_MS + 120_000)
    after = second.advance(60_000)
    assert _fill_ids(before) and _fill_ids(after)
    assert min(_fill_ids(after)) > max(_fill_ids(before))
    first_seqs = [e.seq_id for e in before if isinstance(e, TradeGroup)]
    second_seqs = [e.seq_id for e in after if isinstance(e, TradeGroup)]
    assert min(second_seqs) > max(first_seqs)
    books_before = [e.seq_id for e in before if isinstance(e, BookMessage)]
    books_after = [e.seq_id for e in after if isinstance(e, BookMessage)]
    assert min(books_after) > max(books_before)


def test_a_pinned_id_origin_is_deterministic_and_instruments_stay_apart() -> None:
    one = Market(BTC, seed=3, start_ms=START_MS, id_origin=10**12)
    two = Market(BTC, seed=3, start_ms=START_MS + 999_000, id_origin=10**12)
    assert _fill_ids(one.advance(30_000)) == _fill_ids(two.advance(30_000))
    eth = Market(ETH, seed=3, start_ms=START_MS, id_origin=10**12)
    btc_ids = set(_fill_ids(Market(BTC, seed=3, start_ms=START_MS).advance(30_000)))
    assert not btc_ids & set(_fill_ids(eth.advance(30_000)))


async def test_restarted_simulator_serves_ids_above_the_previous_run(autojump_clock) -> None:
    newest: list[int] = []
    for start in (START_MS, START_MS + 60_000):
        async with trio.open_nursery() as nursery:
            sim = await start_sim(nursery, instruments=[BTC], start_ms=start)
            await trio.sleep(60)
            async with httpx.AsyncClient(base_url=sim.rest_url) as http:
                reply = await http.get("/api/v5/market/trades", params={"instId": BTC})
            ids = [int(r["tradeId"]) for r in reply.json()["data"]]
            assert ids
            if newest:
                assert min(ids) > max(newest)
            newest = ids
            nursery.cancel_scope.cancel()
