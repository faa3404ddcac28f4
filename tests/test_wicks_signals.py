"""Signal finder (SPEC §8.3): every rule on hand-built wick sets, plus the tracker → finder path."""

from __future__ import annotations

import random
from typing import Any

from rq_actors.core.timefmt import iso_s, parse_iso_ms
from rq_actors.core.wicks import (
    WickSnapshot,
    WickTracker,
    detect_wicks,
    find_hidden_signals,
    format_signals_table,
    snapshot_from_active,
)

INST = "BTC-USDT-SWAP"
M = 60_000
AS_OF = parse_iso_ms("2025-12-14T12:00:00Z") + 12_345  # the newest trade's time
TICK = "0.1"


def wick(
    minutes_ago: float,
    size: int,
    *,
    side: str = "upper",
    tip: int = 1000,
    touched_ago_ms: int | None = None,
    touch_price: int | None = None,
    tf: str = "1m",
    extra_ms: int = 0,
) -> WickSnapshot:
    """A wick whose candle closed `minutes_ago` before AS_OF (+ `extra_ms`)."""
    created = AS_OF - round(minutes_ago * M) + extra_ms
    tf_ms = {"1m": M, "5m": 5 * M}[tf]
    open_ms = created - tf_ms
    touched = None if touched_ago_ms is None else AS_OF - touched_ago_ms
    if touched is not None and touch_price is None:
        touch_price = tip + (1 if side == "upper" else -1)  # a sweep, not an exact touch
    return WickSnapshot(
        id=f"{INST}:{tf}:{iso_s(open_ms)}.{open_ms % 60_000}:{side}",
        tf=tf,
        side=side,  # type: ignore[arg-type]
        open_ms=open_ms,
        created_ms=created,
        tip=tip,
        size_ticks=size,
        touched_ms=touched,
        touch_price=touch_price,
    )


def touched_crowd(
    n: int, *, size: int = 10, around: float = 30, side: str = "upper"
) -> list[WickSnapshot]:
    """n touched wicks spread within ±10 min of `around` minutes ago (tips far from 1000), at
    odd times that no candidate of these tests uses."""
    return [
        wick(around - 10 + 20 * (i + 0.37) / n, size, side=side, tip=2000 + i, touched_ago_ms=M)
        for i in range(n)
    ]


def find(ws: list[WickSnapshot], last: int = 990, **kw: Any) -> list[Any]:
    return find_hidden_signals(ws, last, AS_OF, tick=TICK, **kw)


def test_basic_signal_fields() -> None:
    cand = wick(30, 3, tip=1000)
    (s,) = find([cand, *touched_crowd(10)], last=990)
    assert s.id == cand.id
    assert (s.size_ticks, s.touched_surrounding, s.total_surrounding) == (3, 10, 10)
    assert (s.distance_ticks, s.tier, s.strength, s.fade) == (10, "WATCH", "LOW", "short")
    assert s.age_minutes == "30" and s.median_size_ticks == "10" and s.tip == "100"
    rec = s.to_record()
    assert list(rec)[:3] == ["id", "tf", "side"] and rec["age_minutes"] == "30"


def test_age_bounds_are_inclusive() -> None:
    crowd = touched_crowd(12)
    for minutes, extra, expected in [
        (20, 0, True),
        (40, 0, True),
        (20, 1, False),  # 19:59.999 old
        (40, -1, False),  # 40:00.001 old
    ]:
        cand = wick(minutes, 1, extra_ms=extra)
        got = [s.id for s in find([cand, *crowd])]
        assert (cand.id in got) is expected, (minutes, extra)


def test_surrounding_window_is_plus_minus_30_minutes_inclusive() -> None:
    cand = wick(30, 1)
    inside = [wick(0, 10, tip=3000, touched_ago_ms=0)]  # created exactly 30 min after
    inside += [wick(60, 10, tip=3001, touched_ago_ms=M)]  # exactly 30 min before
    outside = [wick(60, 10, tip=3002, touched_ago_ms=M, extra_ms=-1)]  # 30:00.001 before
    outside += [wick(-0.5, 10, tip=3003, touched_ago_ms=0)]  # created after as_of: unknown
    (s,) = find([cand, *inside, *outside], min_touched_surrounding=2)
    assert (s.touched_surrounding, s.total_surrounding) == (2, 2)


def test_touched_surrounding_counts_touches_at_as_of_only() -> None:
    cand = wick(30, 1)
    crowd = touched_crowd(9)
    later = wick(25, 20, tip=3000, touched_ago_ms=-1)  # touched 1 ms after as_of
    at = wick(26, 10, tip=3001, touched_ago_ms=0)  # touched at as_of exactly
    never = wick(27, 20, tip=3002)  # (sizes 20: too big to be signals themselves)
    (s,) = find([cand, *crowd, later, at, never])
    assert (s.touched_surrounding, s.total_surrounding) == (10, 12)
    assert find([cand, *crowd, later, never]) == []  # 9 touched < 10


def test_side_filter_and_other_timeframes() -> None:
    cand = wick(30, 1)
    lowers = touched_crowd(10, side="lower")
    htf = [wick(30 + i / 10, 10, tip=4000 + i, touched_ago_ms=M, tf="5m") for i in range(10)]
    assert find([cand, *lowers, *htf]) == []  # same side: no touched surrounding
    got = find([cand, *lowers, *htf], side="any")
    assert [s.id for s in got] == [cand.id] and got[0].touched_surrounding == 10
    # a lower candidate among lower wicks fades long
    low = wick(30, 1, side="lower", tip=900)
    (s,) = find([low, *lowers], last=905)
    assert (s.fade, s.distance_ticks, s.tier) == ("long", 5, "WATCH")


def test_small_rule_median_odd_even_empty_and_override() -> None:
    odd = [wick(30 + i, size, tip=2000 + i, touched_ago_ms=M) for i, size in enumerate([2, 4, 9])]
    assert [s.median_size_ticks for s in find([wick(25, 4), *odd], min_touched_surrounding=3)] == [
        "4"
    ]
    assert find([wick(25, 5), *odd], min_touched_surrounding=3) == []
    even = [*odd, wick(34, 5, tip=2010, touched_ago_ms=M)]  # sizes 2 4 5 9: median 4.5
    (s,) = find([wick(25, 4), *even], min_touched_surrounding=4)
    assert s.median_size_ticks == "4.5"
    assert find([wick(25, 5), *even], min_touched_surrounding=4) == []
    # no surrounding wicks: no median, never small (even with no touched minimum)
    assert find([wick(30, 1)], min_touched_surrounding=0) == []
    # an explicit max_size_ticks replaces the median rule
    assert len(find([wick(25, 5), *even], min_touched_surrounding=4, max_size_ticks=5)) == 1
    assert find([wick(25, 4), *even], min_touched_surrounding=4, max_size_ticks=3) == []


def test_tiers_and_strengths() -> None:
    def graded(last: int, n_touched: int, **kw: Any) -> tuple[str, str]:
        (s,) = find([wick(30, 1, tip=1000), *touched_crowd(n_touched)], last=last, **kw)
        return s.tier, s.strength

    assert graded(1000, 15) == ("EXACT", "VERY_HIGH")
    assert graded(1000, 14) == ("EXACT", "HIGH")
    assert graded(999, 20) == ("NEAR", "HIGH")
    assert graded(998, 20) == ("CLOSE", "MEDIUM")
    assert graded(997, 20) == ("CLOSE", "MEDIUM")
    assert graded(996, 20) == ("WATCH", "LOW")
    assert graded(996, 20, close_ticks=4) == ("CLOSE", "MEDIUM")
    assert graded(999, 20, close_ticks=0) == ("NEAR", "HIGH")


def test_touch_at_as_of_and_exact_touch_within_the_last_minute() -> None:
    crowd = touched_crowd(15)
    # the newest trade touched it exactly at the tip: untouched just before as_of → EXACT
    at = wick(30, 1, tip=1000, touched_ago_ms=0, touch_price=1000)
    (s,) = find([at, *crowd], last=1000)
    assert (s.tier, s.strength, s.distance_ticks) == ("EXACT", "VERY_HIGH", 0)
    # touched exactly at the tip 59.999 s ago: still EXACT although price moved on
    recent = wick(30, 1, tip=1000, touched_ago_ms=59_999, touch_price=1000)
    (s,) = find([recent, *crowd], last=997)
    assert (s.tier, s.distance_ticks) == ("EXACT", 0)
    # ... a full minute ago: no longer a candidate
    old = wick(30, 1, tip=1000, touched_ago_ms=60_000, touch_price=1000)
    assert find([old, *crowd], last=1000) == []
    # touched 30 s ago by a trade beyond the tip (a sweep): not a candidate
    swept = wick(30, 1, tip=1000, touched_ago_ms=30_000, touch_price=1001)
    assert find([swept, *crowd], last=1000) == []
    # the newest trade went through the tip: untouched just before as_of, graded by distance
    through = wick(30, 1, tip=1000, touched_ago_ms=0, touch_price=1002)
    (s,) = find([through, *crowd], last=1002)
    assert (s.tier, s.distance_ticks) == ("CLOSE", 2)
    # touched after as_of (a later snapshot): untouched at as_of
    future = wick(30, 1, tip=1000, touched_ago_ms=-5_000, touch_price=1000)
    (s,) = find([future, *crowd], last=999)
    assert s.tier == "NEAR"


def test_order_is_deterministic() -> None:
    ws = [*touched_crowd(16)]
    ws += [wick(22, 1, tip=1000), wick(25, 1, tip=999), wick(28, 1, tip=990), wick(31, 1, tip=998)]
    ws += [wick(33, 1, tip=995, side="lower"), *touched_crowd(16, side="lower")]
    first = find(ws, last=997)
    for seed in range(5):
        shuffled = ws[:]
        random.Random(seed).shuffle(shuffled)
        assert find(shuffled, last=997) == first
    # strongest, then nearest, then most touched around, then oldest (wick order)
    assert [
        (s.side, s.strength, s.tier, s.distance_ticks, round((AS_OF - s.created_ms) / M))
        for s in first
    ] == [
        ("upper", "HIGH", "NEAR", 1, 31),
        ("lower", "MEDIUM", "CLOSE", 2, 33),
        ("upper", "MEDIUM", "CLOSE", 2, 25),
        ("upper", "MEDIUM", "CLOSE", 3, 22),
        ("upper", "LOW", "WATCH", 7, 28),
    ]


def test_table() -> None:
    assert format_signals_table([]) == "no signals"
    sigs = find([wick(30, 1, tip=1000), *touched_crowd(15)], last=1000)
    table = format_signals_table(sigs).splitlines()
    assert table[0].split() == [
        "STRENGTH", "TIER", "FADE", "SIDE", "OPEN_UTC", "AGE_MIN", "SIZE", "TOUCHED", "MEDIAN",
        "DIST", "TIP",
    ]  # fmt: skip
    assert table[1].split()[:4] == ["VERY_HIGH", "EXACT", "short", "upper"]
    assert "15/15" in table[1] and len(table) == 2


def test_tracker_snapshots_feed_the_finder() -> None:
    """End to end: 45 one-minute candles, each with an upper wick of 5-7 ticks that a later
    spike touches, except candle 15: a 2-tick wick at a level price never returns to."""
    t = WickTracker(INST, TICK)
    start = parse_iso_ms("2025-12-14T11:00:00Z")
    tid = 0
    new: tuple[Any, ...] = ()
    for i in range(45):
        m0 = start + i * M
        base, spike = (1010, 1012) if i == 15 else (1000, 1005 + i % 3)
        for off, p in ((0, base), (10_000, spike), (50_000, base)):
            tid += 1
            t.on_trade(m0 + off, tid, p, new)
            new = ()
        new = detect_wicks(INST, "1m", m0, base, spike, base, base)
    last_ts = start + 45 * M + 1
    t.on_trade(last_ts, tid + 1, 1011, new)
    snaps = t.snapshots()
    assert [snapshot_from_active(r, TICK) for r in t.active_wicks()] == snaps
    (s,) = find_hidden_signals(snaps, 1011, last_ts, tick=TICK)
    assert s.id == f"{INST}:1m:2025-12-14T11:15:00Z:upper"
    assert (s.size_ticks, s.distance_ticks, s.tier, s.strength) == (2, 1, "NEAR", "HIGH")
    assert (s.touched_surrounding, s.total_surrounding) == (44, 44)
    assert s.age_minutes == "29" and s.median_size_ticks == "6"
