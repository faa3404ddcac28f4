"""The pure market generator: determinism, book invariants, sequence rules, trades vs book."""

from __future__ import annotations

import itertools
from decimal import Decimal

import orjson
import pytest

from rq_actors.core.okx.checksum import book_checksum
from rq_actors.sim.events import BookMessage, MarketEvent, TradeGroup
from rq_actors.sim.frames import encode_book
from rq_actors.sim.instruments import fmt_scaled, instrument_row, spec_for
from rq_actors.sim.market import Market
from rq_actors.sim.recorder import Recorder
from tests.helpers.sim import START_MS, ClientBook


def _run(
    inst: str = "BTC-USDT-SWAP", ms: int = 120_000, **kw: object
) -> tuple[Market, list[MarketEvent]]:
    market = Market(inst, seed=11, start_ms=START_MS, **kw)  # type: ignore[arg-type]
    return market, market.advance(ms)


def _books(events: list[MarketEvent]) -> list[BookMessage]:
    return [e for e in events if isinstance(e, BookMessage)]


def _groups(events: list[MarketEvent]) -> list[TradeGroup]:
    return [e for e in events if isinstance(e, TradeGroup)]


def test_fmt_scaled_is_exact_and_plain() -> None:
    assert fmt_scaled(600_001, 1) == "60000.1"
    assert fmt_scaled(600_000, 1) == "60000"
    assert fmt_scaled(5, 8) == "0.00000005"
    assert fmt_scaled(120, 2) == "1.2"
    assert fmt_scaled(7, 0) == "7"


def test_same_seed_same_stream_other_seed_differs() -> None:
    a = Market("ETH-USDT-SWAP", seed=3, start_ms=START_MS).advance(30_000)
    b = Market("ETH-USDT-SWAP", seed=3, start_ms=START_MS).advance(30_000)
    c = Market("ETH-USDT-SWAP", seed=4, start_ms=START_MS).advance(30_000)
    assert a == b
    assert a != c


@pytest.mark.parametrize("inst", ["BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP", "BTC-USDT"])
def test_book_stream_invariants(inst: str) -> None:
    market, events = _run(inst, 60_000)
    spec = market.spec
    tick, lot = Decimal(spec.tick_sz), Decimal(spec.lot_sz)
    books = _books(events)
    assert books[0].action == "snapshot" and books[0].prev_seq_id == -1
    assert len(books[0].bids) == 400 and len(books[0].asks) == 400
    client = ClientBook()
    for prev, msg in itertools.pairwise(books):
        assert msg.prev_seq_id == prev.seq_id
        assert msg.seq_id > 2**31
        assert msg.seq_id - msg.prev_seq_id != 1  # never consecutive
        assert msg.ts_ms - prev.ts_ms >= 100 and msg.ts_ms % 100 == START_MS % 100
    for i, msg in enumerate(books):
        client.apply(orjson.loads(encode_book(msg)))
        if i % 5 == 0:
            bids, asks = client.sorted_bids(), client.sorted_asks()
            assert len(bids) == 400 and len(asks) == 400
            assert Decimal(bids[0][0]) < Decimal(asks[0][0])  # never crossed
        for lvl in msg.bids + msg.asks:
            assert len(lvl) == 4 and lvl[2] == "0"
            assert Decimal(lvl[0]) % tick == 0 and "e" not in lvl[0].lower()
            assert Decimal(lvl[1]) % lot == 0 and "e" not in lvl[1].lower()
            assert (lvl[1] == "0") == (lvl[3] == "0")
    # the mid walks: it is not pinned to its start
    first_mid = Decimal(books[0].bids[0][0])
    assert any(Decimal(b[0]) != first_mid for m in books[1:] for b in m.bids[:1])


def test_trades_consume_the_book_and_ids_are_consecutive() -> None:
    _market, events = _run("BTC-USDT-SWAP", 120_000)
    client = ClientBook()
    last_id = None
    swept = multi_fill = 0
    for event in events:
        if isinstance(event, BookMessage):
            client.apply(orjson.loads(encode_book(event)))
            continue
        # Takers hit the best level of the opposite side, as the book stood before the trade
        # (the book update follows within 100 ms); deeper groups of one order go further away.
        for fill in event.fills:
            assert last_id is None or fill.trade_id == last_id + 1
            last_id = fill.trade_id
        assert Decimal(event.sz) == sum(Decimal(f.sz) for f in event.fills)
        assert all(f.px == event.px and f.side == event.side for f in event.fills)
        multi_fill += event.count > 1
    takers: dict[int, list[TradeGroup]] = {}
    for g in _groups(events):
        takers.setdefault(g.seq_id, []).append(g)
    for groups in takers.values():
        pxs = [Decimal(g.px) for g in groups]
        side = groups[0].side
        assert pxs == sorted(pxs, reverse=(side == "sell"))
        swept += len(groups) > 1
    assert swept > 0 and multi_fill > 0


def test_fill_removes_liquidity_at_that_price() -> None:
    # a calm market: no maker noise, fair price pinned, so only takers move the best levels
    market = Market(
        "SOL-USDT-SWAP", seed=5, start_ms=START_MS, maker_changes_per_s=0.0, vol_scale=0.0
    )
    market.advance(0)
    seen = 0
    for _ in range(300):
        before = {lvl[0]: lvl for lvl in market.snapshot().asks + market.snapshot().bids}
        events = market.advance(100)
        groups = _groups(events)
        books = _books(events)
        if len(groups) != 1 or not books or groups[0].px not in before:
            continue
        group = groups[0]
        changed = {lvl[0]: lvl for lvl in books[-1].asks + books[-1].bids}
        left = Decimal(before[group.px][1]) - Decimal(group.sz)
        assert left >= 0
        assert group.px in changed
        if left > 0:
            # partly consumed: the level shrank by exactly the traded size
            assert Decimal(changed[group.px][1]) == left
            seen += 1
        # (fully consumed levels vanish, and makers may quote that price again at once)
    assert seen > 10


def test_bursts_raise_the_trade_rate() -> None:
    _market, events = _run("SOL-USDT-SWAP", 300_000, trades_per_s=5.0)
    per_s: dict[int, int] = {}
    for g in _groups(events):
        per_s[g.ts_ms // 1000] = per_s.get(g.ts_ms // 1000, 0) + 1
    counts = sorted(per_s.values())
    assert counts[len(counts) // 2] <= 10 and counts[-1] >= 25


def test_halted_market_heartbeats_and_reset_links() -> None:
    market = Market("ETH-USDT-SWAP", seed=2, start_ms=START_MS, heartbeat_ms=5_000)
    market.advance(1_000)
    market.halted = True
    events = market.advance(20_000)
    beats = [m for m in _books(events) if m.is_heartbeat]
    assert len(beats) in (3, 4) and not _groups(events)
    assert all(b.ts_ms - a.ts_ms == 5_000 for a, b in itertools.pairwise(beats))
    market.halted = False
    market.trigger_reset()
    msg = _books(market.advance(100))[0]
    assert msg.is_reset and msg.prev_seq_id == beats[-1].seq_id and msg.seq_id > 2**31
    nxt = _books(market.advance(100))[0]
    assert nxt.prev_seq_id == msg.seq_id and nxt.seq_id > nxt.prev_seq_id


def test_checksums_match_the_rebuilt_book() -> None:
    _market, events = _run("BTC-USDT-SWAP", 20_000, checksums=True)
    client = ClientBook()
    for msg in _books(events):
        client.apply(orjson.loads(encode_book(msg)))
        assert msg.checksum != 0
        assert msg.checksum == book_checksum(client.sorted_bids(), client.sorted_asks())


def test_recorder_true_book_replays_and_trims() -> None:
    market = Market("ETH-USDT-SWAP", seed=9, start_ms=START_MS)
    full, trimmed = Recorder(), Recorder(limit=40)
    for event in market.advance(30_000):
        full.record(event)
        trimmed.record(event)
    log = full.book_log["ETH-USDT-SWAP"]
    snap = market.snapshot()
    assert full.true_book("ETH-USDT-SWAP", snap.seq_id) == (snap.bids, snap.asks)
    for msg in (log[-45], log[-3], log[5]):
        assert full.true_book("ETH-USDT-SWAP", msg.seq_id, depth=25) == (
            full.true_book("ETH-USDT-SWAP", msg.seq_id)[0][:25],
            full.true_book("ETH-USDT-SWAP", msg.seq_id)[1][:25],
        )
    assert len(trimmed.book_log["ETH-USDT-SWAP"]) <= 50
    for msg in log[-20:]:
        assert trimmed.true_book("ETH-USDT-SWAP", msg.seq_id) == full.true_book(
            "ETH-USDT-SWAP", msg.seq_id
        )
    with pytest.raises(KeyError):
        trimmed.true_book("ETH-USDT-SWAP", log[1].seq_id)


def test_instrument_rows() -> None:
    btc = instrument_row(spec_for("BTC-USDT-SWAP"), 1)
    assert (btc["tickSz"], btc["lotSz"], btc["ctVal"], btc["ctMult"], btc["ctType"]) == (
        "0.1", "0.01", "0.01", "1", "linear",
    )  # fmt: skip
    eth = instrument_row(spec_for("ETH-USDT-SWAP"), 1)
    assert (eth["tickSz"], eth["lotSz"], eth["ctVal"]) == ("0.01", "0.01", "0.1")
    sol = instrument_row(spec_for("SOL-USDT-SWAP"), 1)
    assert (sol["tickSz"], sol["lotSz"], sol["ctVal"], sol["settleCcy"]) == (
        "0.01",
        "1",
        "1",
        "USDT",
    )
    spot = instrument_row(spec_for("BTC-USDT"), 1)
    assert spot["instType"] == "SPOT" and spot["ctType"] == "" and spot["ctVal"] == ""
    assert spot["baseCcy"] == "BTC" and spot["quoteCcy"] == "USDT"
    assert all(isinstance(v, str) for k, v in btc.items() if k not in ("instIdCode", "upcChg"))
    inverse = instrument_row(spec_for("BTC-USD-SWAP"), 1)
    assert (inverse["ctType"], inverse["ctValCcy"], inverse["ctVal"]) == ("inverse", "USD", "100")
    with pytest.raises(ValueError):
        spec_for("btc/usdt")


@pytest.mark.slow  # ~8 s: half an hour of a fast-changing market
def test_a_low_priced_book_never_quotes_or_trades_at_zero_or_below() -> None:
    """Removals near the top and refills behind the deepest level make a book drift outwards;
    at 100 USDT and a 0.01 tick the bids once reached negative prices within market hours
    (a 50-instrument soak quarantined them). Fast makers make the drift come sooner."""
    market = Market(
        "S00-USDT-SWAP", seed=3, start_ms=START_MS, trades_per_s=2.0, book_interval_ms=4000,
        maker_changes_per_s=600.0,
    )  # fmt: skip
    for _ in range(3):
        events = market.advance(600_000)
        for e in _groups(events):
            assert Decimal(e.px) > 0
            assert all(Decimal(f.px) > 0 for f in e.fills)
        for b in _books(events):
            assert all(Decimal(level[0]) > 0 for level in b.bids)


def test_vol_scale_widens_the_price_walk() -> None:
    """`rq sim --vol-scale` (a wider walk meets new prices sooner): over two market hours a
    market at 4x the default volatility trades at more than twice as many distinct prices."""

    def distinct_prices(vol_scale: float) -> int:
        market = Market(
            "S00-USDT-SWAP", seed=5, start_ms=START_MS, trades_per_s=0.5,
            book_interval_ms=4000, vol_scale=vol_scale,
        )  # fmt: skip
        return len({g.px for g in _groups(market.advance(7_200_000))})

    assert distinct_prices(4.0) > 2 * distinct_prices(1.0)


def test_the_book_stays_dense_near_the_top_for_an_hour() -> None:
    """New liquidity is quoted near the top: a side's 400 levels stay within 800 ticks of its
    best, so takers trade near the fair price. (Refilling only behind the deepest level let a
    100-USDT book spread over 130 USDT in six market hours, with fills 20 % from fair.)"""
    market = Market(
        "S00-USDT-SWAP", seed=5, start_ms=START_MS, trades_per_s=1.0, book_interval_ms=4000,
        maker_changes_per_s=60.0,
    )  # fmt: skip
    prices: list[Decimal] = []
    for _ in range(2):
        prices += [Decimal(g.px) for g in _groups(market.advance(1_800_000))]
        for side in (market._bids, market._asks):
            assert len(side) == 400
            assert side.key_at(-1) - side.key_at(0) <= 800
    assert max(prices) - min(prices) < Decimal("10")  # a 100-USDT market, 2 % daily volatility
