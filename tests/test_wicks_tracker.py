"""Wick detector and touch tracker (SPEC §8.1, §8.2): hand-written golden cases, one per rule."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import orjson
import pytest

from rq_actors.core.timefmt import MS_PER_HOUR, parse_iso_ms
from rq_actors.core.wicks import (
    OffGridPrice,
    Wick,
    WickTracker,
    detect_wicks,
    detect_wicks_px,
    price_to_ticks,
    ticks_to_price,
    timeframe_ms,
)
from rq_actors.core.wicks.extremes import RunningExtreme
from rq_actors.core.wicks.records import fill_fraction
from rq_actors.messages import Trade

INST = "BTC-USDT-SWAP"
T0 = parse_iso_ms("2025-12-14T10:00:00Z")
M = 60_000
H = MS_PER_HOUR


def wicks(tf: str, open_ms: int, o: int, h: int, lo: int, c: int) -> tuple[Wick, ...]:
    return detect_wicks(INST, tf, open_ms, o, h, lo, c)


def one(ws: tuple[Wick, ...], side: str) -> Wick:
    (w,) = [w for w in ws if w.side == side]
    return w


class Feed:
    """Feeds trades with increasing trade ids and collects every event."""

    def __init__(self, tracker: WickTracker) -> None:
        self.t = tracker
        self.events: list[dict[str, Any]] = []
        self.next_id = 1

    def __call__(self, ts: int, price: int, new: tuple[Wick, ...] = ()) -> list[dict[str, Any]]:
        out = self.t.on_trade(ts, self.next_id, price, new)
        self.next_id += 1
        self.events.extend(out)
        return out

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]


def tracker(**kw: Any) -> Feed:
    return Feed(WickTracker(INST, "0.1", **kw))


# ----------------------------------------------------------------------------- detector


def test_detector_sides_ids_and_sizes() -> None:
    ws = wicks("1m", T0, 100, 110, 95, 102)
    up, low = one(ws, "upper"), one(ws, "lower")
    assert up.id == "BTC-USDT-SWAP:1m:2025-12-14T10:00:00Z:upper"
    assert (up.tip, up.base, up.size_ticks) == (110, 102, 8)
    assert low.id == "BTC-USDT-SWAP:1m:2025-12-14T10:00:00Z:lower"
    assert (low.tip, low.base, low.size_ticks) == (95, 100, 5)
    assert up.created_ms == low.created_ms == T0 + M
    h4 = one(wicks("4h", T0 - 2 * H, 100, 101, 100, 100), "upper")
    assert h4.created_ms == T0 + 2 * H and h4.id.endswith(":4h:2025-12-14T08:00:00Z:upper")


def test_zero_size_wicks_are_not_created() -> None:
    assert wicks("1m", T0, 100, 100, 100, 100) == ()
    assert [w.side for w in wicks("1m", T0, 100, 105, 100, 103)] == ["upper"]  # low == open
    assert [w.side for w in wicks("1m", T0, 103, 103, 99, 100)] == ["lower"]  # high == open


def test_detector_rejects_impossible_candles_and_unaligned_open() -> None:
    with pytest.raises(ValueError):
        wicks("1m", T0, 100, 99, 95, 98)  # high below the open
    with pytest.raises(ValueError):
        wicks("5m", T0 + M, 100, 101, 99, 100)  # a 5m candle cannot open at 10:01
    with pytest.raises(ValueError):
        timeframe_ms("7m")  # does not divide a day


def test_decimal_prices_and_grid() -> None:
    ws = detect_wicks_px(
        INST, "1m", T0, "101250.5", "101251", Decimal("101249.00"), "101250", "0.1"
    )
    assert [(w.side, w.size_ticks) for w in ws] == [("upper", 5), ("lower", 10)]
    assert price_to_ticks("101250.50", Decimal("0.1")) == 1012505
    assert ticks_to_price(1012505, Decimal("0.1")) == "101250.5"
    assert ticks_to_price(1012500, Decimal("0.10")) == "101250"
    assert ticks_to_price(0, Decimal("0.01")) == "0"
    with pytest.raises(OffGridPrice):
        price_to_ticks("101250.55", Decimal("0.1"))


def test_fill_fraction_rounds_down_to_4_places() -> None:
    assert fill_fraction("upper", 3, 0, 2) == "0.6666"
    assert fill_fraction("upper", 3, 0, -5) == "0"  # clamped below
    assert fill_fraction("upper", 20001, 0, 20000) == "0.9999"  # never "1" while untouched
    assert fill_fraction("lower", 0, 4, 1) == "0.75"
    assert fill_fraction("lower", 0, 4, None) == "0"


def test_running_extreme_matches_naive_max() -> None:
    ext = RunningExtreme(highest=True)
    seen: dict[int, list[int]] = {}
    prices = [5, 3, 4, 9, 1, 1, 7, 2, 8, 8, 0]
    for i, p in enumerate(prices):
        ext.open_bucket(i)
        seen[i] = []
        ext.push(p)
        for k in seen:
            seen[k].append(p)
        for k, ps in seen.items():
            assert ext.value(k) == max(ps)
    assert len(ext) < len(prices)  # equal-valued runs are merged


# ----------------------------------------------------------------------------- tracker


def test_own_candle_never_touches_and_created_event() -> None:
    f = tracker()
    f(T0 + 10, 100)
    f(T0 + 30_000, 110)  # the candle's own high: before created_at, never counts
    f(T0 + 59_999, 102)
    ws = wicks("1m", T0, 100, 110, 100, 102)
    out = f(T0 + M + 1, 105, ws)
    assert [e["event"] for e in out] == ["created"]
    e = out[0]
    assert list(e) == [
        "event_time_utc", "event", "id", "instId", "tf", "side", "open_time_utc", "created_at",
        "tip", "base", "size_ticks", "expires_at",
    ]  # fmt: skip
    assert e["event_time_utc"] == "2025-12-14T10:01:00.000Z"
    assert e["created_at"] == "2025-12-14T10:01:00Z"
    assert (e["tip"], e["base"], e["size_ticks"]) == ("11", "10.2", 8)
    assert e["expires_at"] == "2025-12-21T10:01:00Z"
    assert f.t.active_wicks()[0]["state"] == "untouched"


def test_touch_at_exact_tip_is_tip_exact_upper_and_lower() -> None:
    f = tracker()
    ws = wicks("1m", T0, 100, 110, 95, 102)
    f(T0 + M, 110, ws)  # at created_at exactly, at the tip exactly (≥ is inclusive)
    f(T0 + M + 5, 95)  # lower tip exactly (≤ is inclusive)
    f(T0 + M + 9, 100)
    assert f.of("touched") == []  # variant not known until the minute closes
    out = f(T0 + 2 * M, 100)
    touched = [e for e in out if e["event"] == "touched"]
    assert [(e["side"], e["variant"]) for e in touched] == [
        ("upper", "tip_exact"),
        ("lower", "tip_exact"),
    ]
    up = touched[0]
    assert up["event_time_utc"] == "2025-12-14T10:02:00.000Z"  # the touching minute's close
    assert up["touched_at"] == "2025-12-14T10:01:00.000Z"
    assert (up["trade_id"], up["price"], up["minute_open_utc"]) == (
        "1",
        "11",
        "2025-12-14T10:01:00Z",
    )
    assert (up["minute_high"], up["minute_low"], up["minute_close"]) == ("11", "9.5", "10")
    assert touched[1]["touched_at"] == "2025-12-14T10:01:00.005Z"
    assert f.of("near_miss") == []  # a direct touch is not a near miss


def test_swept_one_tick_beyond_then_back() -> None:
    f = tracker()
    up = wicks("1m", T0, 100, 110, 100, 102)
    f(T0 + M + 1, 104, up)
    f(T0 + M + 2, 110)  # touch exactly at the tip ...
    f(T0 + M + 3, 111)  # ... then one tick beyond within the same minute
    f(T0 + M + 4, 110)  # closes back at the tip
    f(T0 + 3 * M, 100)
    assert [e["variant"] for e in f.of("touched")] == ["swept"]


def test_broken_when_the_minute_closes_beyond() -> None:
    f = tracker()
    f(T0 + M + 1, 104, wicks("1m", T0, 100, 110, 100, 102))
    f(T0 + M + 2, 112)
    f(T0 + M + 3, 111)
    f(T0 + 2 * M, 100)
    assert [e["variant"] for e in f.of("touched")] == ["broken"]


def test_lower_mirrors_swept_and_broken() -> None:
    f = tracker()
    f(T0 + M + 1, 100, wicks("1m", T0, 100, 100, 90, 98))  # lower tip 90, base 98
    f(T0 + M + 2, 89)
    f(T0 + M + 3, 90)  # back to the tip: swept
    g = tracker()
    g(T0 + M + 1, 100, wicks("1m", T0, 100, 100, 90, 98))
    g(T0 + M + 2, 89)  # closes below: broken
    f(T0 + 2 * M, 95)
    g(T0 + 2 * M, 95)
    assert [e["variant"] for e in f.of("touched")] == ["swept"]
    assert [e["variant"] for e in g.of("touched")] == ["broken"]


def test_minute_includes_trades_before_the_touch() -> None:
    # trades earlier in the touching minute are below the tip, so they cannot change the variant
    f = tracker()
    f(T0 + M + 1, 100, wicks("1m", T0, 100, 110, 100, 102))
    f(T0 + 2 * M + 1, 109)  # near miss, same minute as the touch below
    f(T0 + 2 * M + 2, 110)
    f(T0 + 3 * M, 100)
    (t,) = f.of("touched")
    assert t["variant"] == "tip_exact" and t["minute_open_utc"] == "2025-12-14T10:02:00Z"


def test_near_miss_at_one_tick_once_and_not_for_zero_near_ticks() -> None:
    f = tracker()
    f(T0 + M + 1, 100, wicks("1m", T0, 100, 110, 100, 102))  # upper tip 110, base 102
    assert f(T0 + M + 2, 108) == []  # 2 ticks away: not near with near_ticks=1
    (nm,) = f(T0 + M + 3, 109)
    assert nm["event"] == "near_miss"
    assert (nm["tip_distance_ticks"], nm["fill_fraction"], nm["price"]) == (1, "0.875", "10.9")
    assert nm["event_time_utc"] == "2025-12-14T10:01:00.003Z" and nm["trade_id"] == "3"
    assert f(T0 + M + 4, 109) == []  # only the first time
    assert f.t.active_wicks()[0]["near_miss_at"] == "2025-12-14T10:01:00.003Z"
    g = tracker(near_ticks=0)
    g(T0 + M + 1, 100, wicks("1m", T0, 100, 110, 100, 102))
    g(T0 + M + 2, 109)
    assert g.of("near_miss") == []
    h = tracker(near_ticks=3)
    h(T0 + M + 1, 100, wicks("1m", T0, 100, 110, 100, 102))
    assert [e["tip_distance_ticks"] for e in h(T0 + M + 2, 107)] == [3]


def test_closest_approach_and_fill_while_untouched() -> None:
    f = tracker()
    f(T0 + M + 1, 100, wicks("1m", T0, 100, 120, 100, 100))  # tip 120, base 100
    f(T0 + M + 2, 110)
    f(T0 + 5 * M, 104)  # price falls back: the closest approach stays at 110
    (a,) = f.t.active_wicks()
    assert (a["tip_distance_ticks"], a["fill_fraction"]) == (10, "0.5")


def test_expiry_at_exactly_168h() -> None:
    f = tracker()
    ws = wicks("1m", T0, 100, 110, 100, 102)
    f(T0 + M, 100, ws)
    created = T0 + M
    f(created + 1 * H, 105)
    out = f(created + 168 * H, 110)  # at the tip, but exactly at the expiry instant
    assert [e["event"] for e in out] == ["expired"]
    assert out[0]["event_time_utc"] == "2025-12-21T10:01:00.000Z"
    assert (out[0]["tip_distance_ticks"], out[0]["fill_fraction"]) == (5, "0.375")
    assert f.t.active_wicks() == []
    g = tracker()
    g(T0 + M, 100, ws)
    g(created + 168 * H - 1, 110)  # one millisecond earlier still touches
    g(created + 168 * H + M, 100)
    assert [e["event"] for e in g.events] == ["created", "touched"]
    assert g.t.active_wicks() == []  # touched and past retention: dropped silently


def test_expiry_decided_by_any_later_trade() -> None:
    f = tracker(expiry_hours=1)
    f(T0 + M, 100, wicks("1m", T0, 100, 110, 100, 102))
    out = f(T0 + 5 * H, 90)  # the first trade after the expiry instant decides it
    assert [(e["event"], e["event_time_utc"]) for e in out] == [
        ("expired", "2025-12-14T11:01:00.000Z")
    ]


def test_htf_wicks_touched_inside_later_1m_candles() -> None:
    f = tracker()
    for i in range(5):  # the 5m candle's own trades, 10:00-10:05
        f(T0 + i * M + 1, 100 + i)
    w5 = wicks("5m", T0, 100, 120, 100, 104)  # upper tip 120
    w1 = wicks("1m", T0 + 4 * M, 104, 104, 104, 104)  # no wick
    assert w1 == ()
    f(T0 + 5 * M + 7, 104, w5)
    f(T0 + 7 * M + 3, 121)  # 10:07: beyond the tip ...
    f(T0 + 7 * M + 8, 119)  # ... closes back inside: swept
    w1h = wicks("1h", T0 - H, 130, 140, 90, 135)  # an older hour: lower tip 90
    assert one(w1h, "lower").created_ms == T0
    g = tracker()
    g(T0, 100, w1h)
    g(T0 + 30 * M, 90)
    g(T0 + 31 * M, 95)
    f(T0 + 8 * M, 100)
    (t5,) = f.of("touched")
    assert (t5["tf"], t5["variant"], t5["minute_open_utc"]) == (
        "5m",
        "swept",
        "2025-12-14T10:07:00Z",
    )
    (t1h,) = [e for e in g.of("touched") if e["side"] == "lower"]
    assert (t1h["tf"], t1h["variant"], t1h["touched_at"]) == (
        "1h",
        "tip_exact",
        "2025-12-14T10:30:00.000Z",
    )


def test_same_instant_event_order_and_cross_call_monotonicity() -> None:
    f = tracker(expiry_hours=1)
    f(T0 + M, 100, wicks("1m", T0, 100, 110, 95, 102))
    f(T0 + M + 1, 110)  # touch upper in 10:01
    f(T0 + 2 * M - 1, 105)
    # 11:01:00.000: the 10:01 minute closed long ago; new trade at the lower wick's expiry
    # instant plus a new candle closing then, and a near miss at the same time
    new = wicks("1m", T0 + 60 * M, 100, 101, 99, 100)
    out = f(T0 + 61 * M, 100, new)
    assert [(e["event"], e["side"]) for e in out] == [
        ("touched", "upper"),  # at 10:02 (the minute's close)
        ("expired", "lower"),  # at 11:01
        ("created", "upper"),  # at 11:01, upper before lower
        ("created", "lower"),
        ("near_miss", "upper"),  # at 11:01 (the trade)
        ("near_miss", "lower"),
    ]
    times = [e["event_time_utc"] for e in f.events]
    assert times == sorted(times)


def test_replays_are_skipped_and_bad_feeding_is_refused() -> None:
    f = tracker()
    ws = wicks("1m", T0, 100, 110, 100, 102)
    f.t.on_trade(T0 + M, 5, 100, ws)
    assert f.t.on_trade(T0 + M, 5, 110, ws) == []  # replay of the same trade (and its wicks)
    assert f.t.on_trade(T0 + M - 1, 9, 110) == []  # earlier ts
    assert f.t.skipped == 2
    with pytest.raises(ValueError):  # a wick must come with the trade that closed its candle
        f.t.on_trade(T0 + 3 * M, 6, 100, wicks("1m", T0 + 4 * M, 100, 110, 100, 102))
    with pytest.raises(ValueError):  # ... not later
        f.t.on_trade(T0 + 3 * M, 7, 100, wicks("1m", T0 - M, 100, 110, 100, 102))
    with pytest.raises(ValueError):
        WickTracker("ETH-USDT-SWAP", "0.1").on_trade(T0 + M, 1, 100, ws)


def test_feed_batch_assigns_wicks_to_the_closing_trade() -> None:
    a, b = WickTracker(INST, "0.1"), WickTracker(INST, "0.1")
    ws1 = wicks("1m", T0, 100, 110, 95, 102)
    ws2 = wicks("1m", T0 + M, 100, 111, 96, 102)
    trades = [
        Trade(INST, 1, T0 + M + 5, "buy", "10.2", "1"),
        Trade(INST, 2, T0 + 2 * M + 5, "buy", "11.1", "1"),
        Trade(INST, 3, T0 + 3 * M, "sell", "9.5", "1"),
    ]
    batch = a.feed_batch(trades, [*ws2, *ws1])
    single = [
        *b.feed(trades[0], ws1),
        *b.feed(trades[1], ws2),
        *b.feed(trades[2]),
    ]
    assert batch == single and a.state() == b.state()
    assert a.feed_batch(trades, [*ws1, *ws2]) == []  # a replayed batch changes nothing
    with pytest.raises(ValueError):
        a.feed_batch([], wicks("1m", T0 + 5 * M, 100, 110, 95, 102))


def test_touch_just_before_expiry_resolves_before_the_wick_leaves() -> None:
    # created_at and expiry are whole minutes, so the touching minute always ends by the
    # expiry instant: its variant is decided in the same step that drops the wick
    f = tracker(expiry_hours=1)
    created = T0 + M
    f(created, 100, wicks("1m", T0, 100, 110, 100, 102))
    f(created + H - 30_000, 110)  # touched 30 s before the wick leaves the 1 h window
    f(created + H - 1, 111)
    st = orjson.loads(orjson.dumps(f.t.state()))
    assert [(w["status"], w["variant"]) for w in st["wicks"]] == [("touched", None)]
    resumed = WickTracker(INST, "0.1", expiry_hours=1)
    resumed.restore(st)
    out_a = f(created + H + 10, 100)
    out_b = resumed.on_trade(created + H + 10, f.next_id - 1, 100)
    assert [(e["event"], e["variant"]) for e in out_a] == [("touched", "broken")]
    assert out_a == out_b
    assert f.t.active_wicks() == [] == resumed.active_wicks()
    assert f.t.state() == resumed.state()


def test_restore_refuses_other_settings() -> None:
    f = tracker()
    f(T0 + M, 100, wicks("1m", T0, 100, 110, 100, 102))
    st = f.t.state()
    for other in (
        WickTracker(INST, "0.01"),
        WickTracker(INST, "0.1", near_ticks=2),
        WickTracker(INST, "0.1", expiry_hours=24),
        WickTracker("ETH-USDT-SWAP", "0.1"),
    ):
        with pytest.raises(ValueError):
            other.restore(st)
    used = WickTracker(INST, "0.1")
    used.on_trade(T0, 1, 100)
    with pytest.raises(ValueError):
        used.restore(st)


def test_candle_builder_adapter_and_batches() -> None:
    """`wicks_from_candle` over `derive.candles.CandleBuilder` output, fed in batches, equals
    per-trade feeding with wicks straight from OHLC windows built here."""
    from rq_actors.core.derive.candles import CandleBuilder
    from rq_actors.core.meta import InstrumentMeta
    from rq_actors.core.wicks import wicks_from_candle

    meta = InstrumentMeta(INST, "SWAP", "0.01", "1", "linear", "0.1", "0.01")
    rnd = random.Random(7)
    trades, ts, price = [], T0 + 17, 1_000_000
    for i in range(3000):
        ts += rnd.choice([0, 150, 900, 4_000, 20_000, 61_000])
        price += rnd.randint(-3, 3)
        trades.append(Trade(INST, 1000 + i, ts, "buy", ticks_to_price(price, Decimal("0.1")), "1"))
    tfs = ("1m", "5m", "15m")
    builder = CandleBuilder(meta, tfs)
    batched = WickTracker(INST, "0.1", expiry_hours=1)
    got: list[dict[str, Any]] = []
    for k in range(0, len(trades), 97):
        chunk = trades[k : k + 97]
        new = [w for c in builder.feed(chunk) for w in wicks_from_candle(c, meta.tick_sz)]
        got += batched.feed_batch(chunk, new)
    single = WickTracker(INST, "0.1", expiry_hours=1)
    windows: dict[str, list[int]] = {}
    want: list[dict[str, Any]] = []
    for tr in trades:
        p = price_to_ticks(tr.px, Decimal("0.1"))
        new_w: list[Wick] = []
        for tf in tfs:
            ms = timeframe_ms(tf)
            cur = windows.get(tf)
            if cur is not None and tr.ts_ms >= cur[0] + ms:
                new_w += detect_wicks(INST, tf, *cur)
                cur = None
            if cur is None:
                cur = [tr.ts_ms - tr.ts_ms % ms, p, p, p, p]
            cur[2], cur[3], cur[4] = max(cur[2], p), min(cur[3], p), p
            windows[tf] = cur
        want += single.on_trade(tr.ts_ms, tr.trade_id, p, new_w)
    assert got == want
    assert {e["event"] for e in got} == {"created", "near_miss", "touched", "expired"}
    assert batched.state() == single.state()
