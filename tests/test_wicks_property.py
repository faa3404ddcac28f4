"""Property tests: the indexed tracker equals a brute-force reference on any trade stream, and a
tracker resumed from its state at any point emits exactly what an uninterrupted one does."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rq_actors.core.timefmt import MS_PER_HOUR, MS_PER_MINUTE, iso_ms, iso_s, parse_iso_ms
from rq_actors.core.wicks import Wick, WickTracker, detect_wicks, timeframe_ms

INST = "ETH-USDT-SWAP"
T0 = parse_iso_ms("2025-12-14T00:00:00Z")
M = MS_PER_MINUTE
TFS = ("1m", "5m", "15m")
RANK = {"touched": 0, "expired": 1, "created": 2, "near_miss": 3}


class Windows:
    """The simplest candle source: OHLC per timeframe window straight from the trades."""

    def __init__(self) -> None:
        self.open: dict[str, list[int] | None] = dict.fromkeys(TFS)

    def feed(self, ts: int, p: int) -> list[Wick]:
        out: list[Wick] = []
        for tf in TFS:
            ms = timeframe_ms(tf)
            cur = self.open[tf]
            if cur is not None and ts >= cur[0] + ms:
                out.extend(detect_wicks(INST, tf, cur[0], cur[1], cur[2], cur[3], cur[4]))
                cur = None
            if cur is None:
                cur = [ts - ts % ms, p, p, p, p]
            else:
                cur[2], cur[3], cur[4] = max(cur[2], p), min(cur[3], p), p
            self.open[tf] = cur
        return out


class Ref:
    """Brute force: every trade scans every wick; formatting written independently."""

    def __init__(self, tick: str, expiry_hours: int, near: int) -> None:
        self.tick = Decimal(tick)
        self.expiry = expiry_hours * MS_PER_HOUR
        self.near = near
        self.all: list[dict[str, Any]] = []
        self.minute: list[int] | None = None
        self.clock = -1

    def px(self, ticks: int | None) -> str | None:
        if ticks is None:
            return None
        text = format((ticks * self.tick).normalize(), "f")
        return text

    @staticmethod
    def fill(w: Wick, ext: int | None) -> str:
        if ext is None:
            return "0"
        f = Fraction(ext - w.base, w.tip - w.base)
        f = min(max(f, Fraction(0)), Fraction(1))
        q = Fraction(int(f * 10_000), 10_000)  # floor (f ≥ 0)
        return (
            format(Decimal(q.numerator) / Decimal(q.denominator), "f").rstrip("0").rstrip(".")
            or "0"
        )

    @staticmethod
    def dist(w: Wick, ext: int | None) -> int | None:
        if ext is None:
            return None
        return w.tip - ext if w.side == "upper" else ext - w.tip

    def approach(self, w: Wick, r: dict[str, Any]) -> dict[str, Any]:
        return {
            "tip_distance_ticks": self.dist(w, r["ext"]),
            "fill_fraction": self.fill(w, r["ext"]),
        }

    def ident(self, w: Wick) -> dict[str, Any]:
        return {
            "id": w.id,
            "instId": w.inst_id,
            "tf": w.tf,
            "side": w.side,
            "open_time_utc": iso_s(w.open_ms),
            "created_at": iso_s(w.created_ms),
            "tip": self.px(w.tip),
            "base": self.px(w.base),
            "size_ticks": w.size_ticks,
        }

    def ev(self, out: list[Any], kind: str, t: int, r: dict[str, Any], **fields: Any) -> None:
        w = r["w"]
        rec = {"event_time_utc": iso_ms(t), "event": kind, **self.ident(w), **fields}
        out.append((t, RANK[kind], w.order_key, rec))

    def step(self, ts: int, tid: int, p: int, new: list[Wick]) -> list[dict[str, Any]]:
        out: list[Any] = []
        if self.minute is not None and ts >= self.minute[0] + M:
            start, hi, lo, close = self.minute
            for r in self.all:
                if r["status"] == "touched" and r["variant"] is None:
                    w = r["w"]
                    if w.side == "upper":
                        beyond, broken = hi > w.tip, close > w.tip
                    else:
                        beyond, broken = lo < w.tip, close < w.tip
                    r["variant"] = "broken" if broken else "swept" if beyond else "tip_exact"
                    fields = {
                        "touched_at": iso_ms(r["touched"]),
                        "trade_id": str(r["tid"]),
                        "price": self.px(r["tpx"]),
                        "variant": r["variant"],
                        "minute_open_utc": iso_s(start),
                        "minute_high": self.px(hi),
                        "minute_low": self.px(lo),
                        "minute_close": self.px(close),
                    }
                    self.ev(out, "touched", start + M, r, **fields)
            self.minute = None
        for w in new:
            r = {"w": w, "status": "untouched", "ext": None, "near": None, "touched": None,
                 "tid": None, "tpx": None, "variant": None}  # fmt: skip
            self.all.append(r)
            self.ev(out, "created", w.created_ms, r, expires_at=iso_s(w.created_ms + self.expiry))
        for r in self.all:
            w = r["w"]
            if r["status"] == "untouched" and w.created_ms + self.expiry <= ts:
                r["status"] = "expired"
                self.ev(out, "expired", w.created_ms + self.expiry, r, **self.approach(w, r))
        if self.minute is None:
            self.minute = [ts - ts % M, p, p, p]
        else:
            self.minute[1:] = [max(self.minute[1], p), min(self.minute[2], p), p]
        for r in self.all:
            w = r["w"]
            if r["status"] != "untouched":
                continue
            up = w.side == "upper"
            r["ext"] = p if r["ext"] is None else (max if up else min)(r["ext"], p)
            if (p >= w.tip) if up else (p <= w.tip):
                r.update(status="touched", touched=ts, tid=tid, tpx=p)
            elif r["near"] is None and self.dist(w, r["ext"]) <= self.near:
                r["near"] = ts
                trade = {"trade_id": str(tid), "price": self.px(p)}
                self.ev(out, "near_miss", ts, r, **trade, **self.approach(w, r))
        self.clock = ts
        out.sort(key=lambda e: e[:3])
        return [e[3] for e in out]

    def active(self) -> list[dict[str, Any]]:
        rows = []
        for r in sorted(self.all, key=lambda r: r["w"].order_key):
            w = r["w"]
            if r["status"] == "expired" or w.created_ms + self.expiry <= self.clock:
                continue
            touched = r["status"] == "touched"
            rows.append({
                **self.ident(w),
                "expires_at": iso_s(w.created_ms + self.expiry),
                "state": r["status"],
                "tip_distance_ticks": 0 if touched else self.dist(w, r["ext"]),
                "fill_fraction": "1" if touched else self.fill(w, r["ext"]),
                "near_miss_at": None if r["near"] is None else iso_ms(r["near"]),
                "touched_at": None if r["touched"] is None else iso_ms(r["touched"]),
                "trade_id": None if r["tid"] is None else str(r["tid"]),
                "touch_price": self.px(r["tpx"]),
                "variant": r["variant"],
            })  # fmt: skip
        return rows


GAPS = st.one_of(
    st.sampled_from([0, 1, M - 1, M, 5 * M, 15 * M, MS_PER_HOUR, 2 * MS_PER_HOUR]),
    st.integers(0, 90_000),
)

ALIGNED_GAPS = st.sampled_from([0, 0, M, M, 2 * M, 5 * M, 15 * M, MS_PER_HOUR, MS_PER_HOUR + M])


@st.composite
def streams(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 150))
    # often exactly on a minute, so trades land on window ends and expiry instants
    start = T0 + draw(st.one_of(st.integers(0, 180).map(lambda m: m * M), st.integers(0, 3 * M)))
    # "aligned" streams trade on whole minutes only: every trade then sits on window ends and
    # expiry instants, the boundaries where ≤ versus < matters
    gap = ALIGNED_GAPS if draw(st.booleans()) else GAPS
    gaps = draw(st.lists(gap, min_size=n, max_size=n))
    moves = draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n))
    trades, ts, price = [], start, 1000
    for i, (gap, move) in enumerate(zip(gaps, moves, strict=True)):
        ts += gap
        price = max(1, price + move)
        trades.append((ts, 100 + i, price))
    return {
        "trades": trades,
        "tick": draw(st.sampled_from(["0.1", "0.5", "1", "0.01", "25"])),
        "near": draw(st.integers(0, 2)),
        "expiry_hours": draw(st.sampled_from([1, 2])),
        "split": draw(st.integers(0, n)),
    }


def with_wicks(trades: list[tuple[int, int, int]]) -> list[tuple[int, int, int, list[Wick]]]:
    win = Windows()
    return [(ts, tid, p, win.feed(ts, p)) for ts, tid, p in trades]


@pytest.mark.slow
@settings(max_examples=250, deadline=None)
@given(streams())
def test_tracker_equals_brute_force_reference(s: dict[str, Any]) -> None:
    tracker = WickTracker(INST, s["tick"], expiry_hours=s["expiry_hours"], near_ticks=s["near"])
    ref = Ref(s["tick"], s["expiry_hours"], s["near"])
    for ts, tid, p, new in with_wicks(s["trades"]):
        assert tracker.on_trade(ts, tid, p, new) == ref.step(ts, tid, p, new)
        assert tracker.active_wicks() == ref.active()


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(streams())
def test_resume_from_state_at_any_split_is_identical(s: dict[str, Any]) -> None:
    steps = with_wicks(s["trades"])
    kw = {"expiry_hours": s["expiry_hours"], "near_ticks": s["near"]}
    whole = WickTracker(INST, s["tick"], **kw)
    all_events = [e for ts, tid, p, new in steps for e in whole.on_trade(ts, tid, p, new)]
    first = WickTracker(INST, s["tick"], **kw)
    k = s["split"]
    events = [e for ts, tid, p, new in steps[:k] for e in first.on_trade(ts, tid, p, new)]
    resumed = WickTracker(INST, s["tick"], **kw)
    resumed.restore(orjson.loads(orjson.dumps(first.state())))
    assert resumed.state() == first.state()
    # the vault replays from before the cursor: the overlap must be skipped
    replay = steps[max(0, k - 3) :]
    events += [e for ts, tid, p, new in replay for e in resumed.on_trade(ts, tid, p, new)]
    assert events == all_events
    assert resumed.state() == whole.state()
    assert resumed.active_wicks() == whole.active_wicks()
    assert resumed.snapshots() == whole.snapshots()
