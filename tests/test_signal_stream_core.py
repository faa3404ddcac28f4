"""Setup lifecycle core (issue #12): hand-built wick states through every event, and a property:
a state round trip at any evaluation changes nothing, and each setup's events follow the
appeared → tier_changed* → gone order. Pure: no trio, no files."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from hypothesis import event, given, settings
from hypothesis import strategies as st

from rq_actors.core.signals import CvdTrail, FinderParams, MarketContext, SetupLifecycle
from rq_actors.core.signals.context import deviation_bps
from rq_actors.core.timefmt import parse_iso_ms
from rq_actors.core.wicks.live import Live
from rq_actors.core.wicks.model import make_wick

INST = "BTC-USDT-SWAP"
M = 60_000
T0 = parse_iso_ms("2025-12-14T12:00:00Z")  # the candidate's created_at
PARAMS = FinderParams(age_min=2, age_max=5, min_touched_surrounding=2, surround_minutes=3)
CTX = MarketContext(vwap_1h="1000.5", vwap_4h=None, vwap_1h_dev_bps="-5", cvd_30m="12")
DAY = 7 * 24 * 60 * M


def live(created_ms: int, tip: int, size: int, *, side: str = "upper") -> Live:
    base = tip - size if side == "upper" else tip + size
    w = make_wick(INST, "1m", created_ms - M, side, tip, base)  # type: ignore[arg-type]
    return Live(w, created_ms + DAY)


def touch(lv: Live, at_ms: int, price: int, variant: str | None = None) -> Live:
    lv.status = "touched"
    lv.touched_ms, lv.trade_id, lv.touch_price, lv.variant = at_ms, 1, price, variant
    return lv


def crowd() -> list[Live]:
    """The candidate (tip 1000, size 1) and three touched neighbours of size 5."""
    neighbours = [live(T0 + k * M, 900 + k, 5) for k in (-2, -1, 1)]
    for lv in neighbours:
        touch(lv, lv.wick.created_ms + 1000, lv.wick.tip + 2, "broken")
    return [live(T0, 1000, 1), *neighbours]


def lifecycle(**kw: Any) -> SetupLifecycle:
    return SetupLifecycle(INST, "0.1", [PARAMS], expiry_ms=kw.pop("expiry_ms", DAY), **kw)


def test_appears_changes_tier_and_ages_out() -> None:
    lc = lifecycle()
    wicks = crowd()
    assert lc.evaluate(T0 + M, wicks, 990, None, CTX) == []  # age 1 < age_min
    (ev,) = lc.evaluate(T0 + 2 * M, wicks, 990, None, CTX)
    assert ev["event"] == "appeared" and ev["id"] == wicks[0].wick.id
    assert (ev["tier"], ev["strength"], ev["fade"], ev["side"]) == (
        "WATCH",
        "LOW",
        "short",
        "upper",
    )
    assert (ev["tip"], ev["base"], ev["price"], ev["distance_ticks"]) == ("100", "99.9", "99", 10)
    assert (ev["age_min"], ev["size_ticks"], ev["touched_surrounding"], ev["surrounding"]) == (
        2, 1, 3, 3,
    )  # fmt: skip
    assert ev["event_time_utc"] == "2025-12-14T12:02:00.000Z"
    assert (ev["vwap_1h"], ev["vwap_4h"], ev["vwap_1h_dev_bps"], ev["cvd_30m"]) == (
        "1000.5", None, "-5", "12",
    )  # fmt: skip
    (ev,) = lc.evaluate(T0 + 3 * M, wicks, 998, None, CTX)
    assert (ev["event"], ev["tier"], ev["prev_tier"], ev["strength"]) == (
        "tier_changed", "CLOSE", "WATCH", "MEDIUM",
    )  # fmt: skip
    assert lc.evaluate(T0 + 4 * M, wicks, 997, None, CTX) == []  # same tier: nothing to say
    assert lc.evaluate(T0 + 5 * M, wicks, 998, None, CTX) == []  # age 5: still inside
    (ev,) = lc.evaluate(T0 + 6 * M, wicks, 998, None, CTX)
    assert (ev["event"], ev["reason"], ev["tier"], ev["age_min"]) == (
        "invalidated", "too_old", "CLOSE", 6,
    )  # fmt: skip
    assert lc.setups == []


def test_touch_beyond_the_tip_reports_the_variant_of_the_minute_just_closed() -> None:
    lc = lifecycle()
    wicks = crowd()
    lc.evaluate(T0 + 2 * M, wicks, 995, None, CTX)
    touch(wicks[0], T0 + 2 * M + 30_000, 1001)  # pending: the tracker has not closed it yet
    (ev,) = lc.evaluate(T0 + 3 * M, wicks, 999, (1002, 995, 999), CTX)
    assert (ev["event"], ev["variant"], ev["touch_price"], ev["touched_at"]) == (
        "touched", "swept", "100.1", "2025-12-14T12:02:30.000Z",
    )  # fmt: skip
    assert ev["tier"] == "WATCH" and ev["distance_ticks"] == 1


def test_exact_tip_touch_is_exact_for_a_minute_then_touched_with_the_trackers_variant() -> None:
    lc = lifecycle()
    wicks = crowd()
    lc.evaluate(T0 + 2 * M, wicks, 995, None, CTX)
    touch(wicks[0], T0 + 2 * M + 10_000, 1000)
    (ev,) = lc.evaluate(T0 + 3 * M, wicks, 996, (1000, 990, 996), CTX)
    assert (ev["event"], ev["tier"], ev["strength"], ev["distance_ticks"]) == (
        "tier_changed", "EXACT", "HIGH", 0,
    )  # fmt: skip
    wicks[0].variant = "tip_exact"  # the tracker closed the touching minute meanwhile
    (ev,) = lc.evaluate(T0 + 4 * M, wicks, 996, None, CTX)
    assert (ev["event"], ev["variant"], ev["tier"]) == ("touched", "tip_exact", "EXACT")


def test_no_longer_small_or_surrounded_invalidates_and_can_reappear() -> None:
    lc = lifecycle()
    wicks = [live(T0, 1000, 4), *crowd()[1:]]
    lc.evaluate(T0 + 2 * M, wicks, 995, None, CTX)
    assert len(lc.setups) == 1
    tiny = [live(T0 + k * M, 800 + k, 1) for k in (-3, 2, 3)]
    (ev,) = lc.evaluate(T0 + 3 * M, wicks + tiny, 995, None, CTX)  # median 3 < 4: not small
    assert (ev["event"], ev["reason"]) == ("invalidated", "not_small")
    (ev,) = lc.evaluate(T0 + 4 * M, wicks, 995, None, CTX)  # (a caller that forgot them)
    assert ev["event"] == "appeared"
    (ev,) = lc.evaluate(T0 + 5 * M, wicks[:2], 995, None, CTX)  # one touched neighbour left
    assert (ev["event"], ev["reason"], ev["touched_surrounding"]) == (
        "invalidated", "too_few_touched", 1,
    )  # fmt: skip


def test_expired_when_the_wick_itself_expires_while_a_setup() -> None:
    lc = lifecycle(expiry_ms=3 * M)
    wicks = crowd()
    lc.evaluate(T0 + 2 * M, wicks, 995, None, CTX)
    (ev,) = lc.evaluate(T0 + 3 * M, wicks[1:], 995, None, CTX)
    assert (ev["event"], ev["expires_at"]) == ("expired", "2025-12-14T12:03:00Z")


def test_settings_change_is_refused_on_restore() -> None:
    lc = lifecycle()
    lc.evaluate(T0 + 2 * M, crowd(), 995, None, CTX)
    other = FinderParams(age_min=1, age_max=5, min_touched_surrounding=2, surround_minutes=3)
    try:
        SetupLifecycle(INST, "0.1", [other], expiry_ms=DAY, state=lc.state())
    except ValueError as exc:
        assert "finder settings changed" in str(exc)
    else:
        raise AssertionError("a state made with other settings was accepted")


def test_context_arithmetic_is_exact() -> None:
    assert deviation_bps(Decimal("101"), Decimal("100")) == "100"
    assert deviation_bps(Decimal("99.99999"), Decimal("100")) == "0"  # -0.001 truncates to 0
    assert deviation_bps(Decimal("100.00333"), Decimal("100")) == "0.33"  # truncated, not 0.34
    assert deviation_bps(Decimal("99.99667"), Decimal("100")) == "-0.33"
    assert deviation_bps(Decimal("1"), None) is None
    trail = CvdTrail()
    for k in range(40):
        trail.add(T0 + k * M, Decimal(k * 2))
    assert trail.change(T0 + 39 * M) == "60"  # 78 − 18: thirty 1m windows of +2
    assert trail.change(T0 + 39 * M + 30_000) == "60"
    assert len(trail.state()) <= 31  # bounded
    assert CvdTrail().change(T0) is None
    short = CvdTrail([(T0, "5")])
    assert short.change(T0 + 10 * M) is None  # history shorter than 30 minutes


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[tuple[int, int]], int]:
    """Random wicks around T0 (some touched at random minutes) and a price per evaluation."""
    specs = draw(
        st.lists(
            st.tuples(
                st.integers(-6, 6),  # created, minutes from T0
                st.sampled_from(["upper", "lower"]),
                st.integers(1, 4),  # size
                st.integers(-6, 6),  # tip offset
                st.one_of(st.none(), st.integers(0, 12)),  # touched at T0 + k min + 1 s
            ),
            min_size=4,
            max_size=26,
            unique_by=lambda s: (s[0], s[1]),
        )
    )
    wicks = [
        {"created": c, "side": side, "size": size, "tip": 1000 + off, "touched": t}
        for c, side, size, off, t in specs
    ]
    prices = [(k, 1000 + draw(st.integers(-8, 8))) for k in range(-6, 16)]
    cut = draw(st.integers(0, len(prices)))
    return wicks, prices, cut


def _lives(specs: list[dict[str, Any]], as_of: int) -> list[Live]:
    out = []
    for s in specs:
        created = T0 + s["created"] * M
        if created > as_of:
            continue
        lv = live(created, s["tip"], s["size"], side=s["side"])
        if s["touched"] is not None:
            at = max(created, T0 + s["touched"] * M) + 1000
            if at < as_of:
                price = s["tip"] + (0 if s["touched"] % 2 else (1 if s["side"] == "upper" else -1))
                touch(lv, at, price, "broken" if at < as_of - M else None)
        out.append(lv)
    return out


@given(histories())
@settings(max_examples=150, deadline=None)
def test_round_trip_at_any_evaluation_and_event_order(
    history: tuple[list[dict[str, Any]], list[tuple[int, int]], int],
) -> None:
    specs, prices, cut = history
    params = FinderParams(age_min=1, age_max=4, min_touched_surrounding=1, surround_minutes=3)

    def make(state: Any = None) -> SetupLifecycle:
        return SetupLifecycle(INST, "0.1", [params], expiry_ms=10 * M, state=state)

    def run(lc: SetupLifecycle, steps: list[tuple[int, int]]) -> list[dict[str, Any]]:
        out = []
        for k, price in steps:
            at = T0 + k * M
            out += lc.evaluate(at, _lives(specs, at), price, (price + 1, price - 1, price), CTX)
        return out

    whole = run(make(), prices)
    event(f"kinds: {sorted({e['event'] for e in whole})}")
    first = make()
    head = run(first, prices[:cut])
    resumed = make(orjson.loads(orjson.dumps(first.state())))
    assert head + run(resumed, prices[cut:]) == whole
    alive: set[str] = set()
    for ev in whole:
        if ev["event"] == "appeared":
            assert ev["id"] not in alive
            alive.add(ev["id"])
        else:
            assert ev["id"] in alive, ev
            if ev["event"] != "tier_changed":
                alive.remove(ev["id"])
