"""The pure alert rules: which signal events alert, VWAP deviation, CVD divergence, rate limits,
the phone text and the idempotency key."""

from __future__ import annotations

from typing import Any

from rq_actors.config import parse_config
from rq_actors.core.alerts.model import Alert, idempotency_key
from rq_actors.core.alerts.rules import AlertRules
from rq_actors.core.timefmt import MS_PER_MINUTE, iso_s
from rq_actors.messages import LiveRecord
from tests.helpers.alerts import INST, T0, signal


def rules(**alerts: Any) -> AlertRules:
    return AlertRules(parse_config({"instruments": [INST], "alerts": alerts}).alerts)


def candle(minute: int, close: str) -> LiveRecord:
    ms = T0 + minute * MS_PER_MINUTE
    rec = {"open_time_utc": iso_s(ms), "instId": INST, "timeframe": "1m", "close": close}
    return LiveRecord("candles", INST, "1m", ms, rec)


def vwap(minute: int, value: str | None) -> LiveRecord:
    ms = T0 + minute * MS_PER_MINUTE
    rec = {"window_start_utc": iso_s(ms), "instId": INST, "vwap_1h": value, "vwap_4h": value}
    return LiveRecord("vwap", INST, "1m", ms, rec)


def cvd(minute: int, value: str) -> LiveRecord:
    ms = T0 + minute * MS_PER_MINUTE
    rec = {"window_start_utc": iso_s(ms), "instId": INST, "timeframe": "1m", "cvd_value": value}
    return LiveRecord("cvd", INST, "1m", ms, rec)


def feed_all(r: AlertRules, items: list[LiveRecord]) -> list[Alert]:
    return [a for item in items for a in r.feed(item)]


def test_a_strong_setup_alerts_with_everything_a_phone_needs() -> None:
    r = rules(dashboard_url="http://127.0.0.1:8080/")
    (alert,) = r.feed(signal("appeared"))
    assert alert.rule == "setups" and alert.inst_id == INST
    assert alert.text.splitlines()[0] == alert.title
    for part in ("SHORT", INST, "5m", "EXACT", "VERY_HIGH", "43250.5", "0 ticks", "27 min"):
        assert part in alert.title + alert.text, part
    assert "16/20" in alert.text and "VWAP 1h 43100.2 (+34.8 bps)" in alert.text
    assert "4h 42980.0" in alert.text and "CVD 30m -1520.3" in alert.text
    assert "http://127.0.0.1:8080/?instId=BTC-USDT-SWAP&tf=5m" in alert.text
    assert alert.fields["id"] == signal("appeared").record["id"]


def test_no_dashboard_link_without_a_dashboard() -> None:
    (alert,) = rules().feed(signal("appeared"))
    assert "http" not in alert.text


def test_filters_tier_strength_timeframe_side_instrument() -> None:
    setups = {"min_tier": "NEAR", "min_strength": "HIGH", "timeframes": ["5m"]}
    r = rules(setups={**setups, "sides": ["upper"], "instruments": [INST]})
    assert r.feed(signal("appeared", tier="CLOSE", strength="MEDIUM")) == []
    assert r.feed(signal("appeared", tier="NEAR", strength="MEDIUM")) == []
    assert r.feed(signal("appeared", tf="1m", id="x1")) == []
    assert r.feed(signal("appeared", side="lower", fade="long", id="x2")) == []
    assert r.feed(signal("appeared", instId="ETH-USDT-SWAP", id="x3")) == []
    assert len(r.feed(signal("appeared", tier="NEAR", strength="HIGH"))) == 1


def test_tier_changes_alert_only_when_better_than_what_was_told() -> None:
    r = rules(setups={"min_tier": "CLOSE"})
    assert len(r.feed(signal("appeared", T0, tier="CLOSE", strength="MEDIUM"))) == 1
    assert len(r.feed(signal("tier_changed", T0 + 60_000, tier="NEAR", strength="HIGH"))) == 1
    assert r.feed(signal("tier_changed", T0 + 120_000, tier="CLOSE", strength="MEDIUM")) == []
    assert r.feed(signal("tier_changed", T0 + 180_000, tier="NEAR", strength="HIGH")) == []
    assert len(r.feed(signal("tier_changed", T0 + 240_000, tier="EXACT"))) == 1


def test_touched_follows_up_only_setups_the_trader_was_told_about() -> None:
    r = rules(setups={"min_tier": "NEAR"})
    assert r.feed(signal("appeared", tier="WATCH", strength="LOW")) == []
    assert r.feed(signal("touched", T0 + 60_000)) == []  # never told: no follow-up
    other = f"{INST}:5m:2026-01-01T00:05:00Z:upper"
    assert len(r.feed(signal("appeared", id=other))) == 1
    (touched,) = r.feed(signal("touched", T0 + 60_000, id=other))
    assert touched.title.startswith("TOUCHED SHORT")
    assert r.feed(signal("touched", T0 + 120_000, id=other)) == []  # closed once


def test_rate_limit_is_per_rule_and_instrument_in_event_time() -> None:
    r = rules(setups={"rate_limit": {"max_alerts": 2, "window_s": 600}})
    ids = [f"{INST}:5m:{i}:upper" for i in range(4)]
    got = [len(r.feed(signal("appeared", T0 + i * 60_000, id=ids[i]))) for i in range(3)]
    assert got == [1, 1, 0] and r.rate_limited == 1
    eth = signal("appeared", T0 + 3 * 60_000, id="e", instId="ETH-USDT-SWAP")
    assert len(r.feed(eth)) == 1  # another instrument has its own budget
    assert len(r.feed(signal("appeared", T0 + 600_000, id=ids[3]))) == 1  # window passed


def test_keys_are_stable_and_distinct() -> None:
    a1 = rules().feed(signal("appeared"))[0]
    a2 = rules().feed(signal("appeared"))[0]
    assert (
        a1.key
        == a2.key
        == idempotency_key("setups", signal("appeared").record["id"], "appeared", T0)
    )
    b = rules().feed(signal("appeared", T0 + 1))[0]
    assert b.key != a1.key and Alert.from_json(a1.to_json()) == a1


def test_vwap_deviation_once_per_crossing_with_hysteresis_in_either_arrival_order() -> None:
    closes = ["100", "100.6", "100.7", "100.3", "100.2", "100.6", "99.3"]
    stream = []
    for m, c in enumerate(closes):
        pair = [candle(m, c), vwap(m, "100")]
        stream += pair if m % 2 else pair[::-1]
    r = rules(vwap_deviation={"enabled": True, "threshold_bps": 50, "rearm_bps": 25})
    alerts = feed_all(r, stream)
    # 100.6 crosses (+60 bps); 100.7 stays beyond; 100.3 (+30) is not yet re-armed; 100.2 (+20)
    # re-arms; 100.6 crosses again; 99.3 jumps to the other side: a new crossing at once
    assert [a.fields["minute_utc"] for a in alerts] == [iso_s(T0 + m * 60_000) for m in (1, 5, 6)]
    assert [a.fields["dev_bps"] for a in alerts] == ["+60.0", "+60.0", "-70.0"]
    assert "above" in alerts[0].title and "below" in alerts[2].title


def test_vwap_deviation_exactly_at_threshold_counts_and_missing_vwap_is_skipped() -> None:
    r = rules(vwap_deviation={"enabled": True, "threshold_bps": 50, "rearm_bps": 10})
    assert feed_all(r, [candle(0, "100.5"), vwap(0, None)]) == []
    assert len(feed_all(r, [candle(1, "100.5"), vwap(1, "100")])) == 1


def test_cvd_divergence_new_high_while_cvd_falls_once_per_episode() -> None:
    r = rules(cvd_divergence={"enabled": True, "lookback_min": 3, "min_cvd_change": "5"})
    closes = ["10", "11", "10.5", "12", "13", "14", "13"]
    cvds = ["100", "101", "99", "94", "90", "80", "85"]
    stream = []
    for m in range(len(closes)):
        stream += [candle(m, closes[m]), cvd(m, cvds[m])]
    alerts = feed_all(r, stream)
    # m=3: 12 above 10, 11, 10.5 and cvd 94 − 100 = −6 < −5 → bearish; m=4, m=5 continue the
    # same episode; m=6 is no new high: the episode ends
    assert [(a.fields["minute_utc"], a.fields["cvd_change"]) for a in alerts] == [
        (iso_s(T0 + 3 * 60_000), "-6")
    ]
    assert "bearish" in alerts[0].title and "fade: short" in alerts[0].text


def test_cvd_divergence_needs_a_full_lookback_and_a_big_enough_move() -> None:
    r = rules(cvd_divergence={"enabled": True, "lookback_min": 3, "min_cvd_change": "5"})
    # a new low with CVD up 4 only: no alert; then up 10: bullish
    stream = [
        x
        for m, c, v in [(0, "10", "0"), (1, "9", "2"), (2, "8", "3")]
        for x in (candle(m, c), cvd(m, v))
    ]
    assert feed_all(r, stream) == []  # not three minutes of history yet
    assert feed_all(r, [candle(3, "7"), cvd(3, "4")]) == []
    (bull,) = feed_all(r, [candle(4, "6"), cvd(4, "12")])
    assert "bullish" in bull.title and bull.fields["cvd_change"] == "10"  # 12 − cvd(minute 1)


def test_disabled_market_rules_ignore_their_streams() -> None:
    r = rules()
    assert feed_all(r, [candle(0, "100"), vwap(0, "50"), cvd(0, "1")]) == []
    assert r.records_seen == 3
