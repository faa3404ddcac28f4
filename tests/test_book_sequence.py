"""Sequence tracker, BookSync integrity rules and the resubscribe scheduler (golden cases)."""

from __future__ import annotations

from typing import Any

import pytest

from rq_actors.core.book.model import prepare_levels
from rq_actors.core.book.parse import BookRow, MalformedRow, parse_row
from rq_actors.core.book.record import verify_record
from rq_actors.core.book.recovery import ResubscribeScheduler
from rq_actors.core.book.sequence import SequenceTracker, Verdict
from rq_actors.core.book.sync import BookSync
from rq_actors.core.okx.checksum import book_checksum

INST = "BTC-USDT-SWAP"


def lv(px: str, sz: str) -> list[str]:
    return [px, sz, "0", "1"]


def msg(
    action: str,
    prev: int,
    seq: int,
    bids: list[list[str]] | None = None,
    asks: list[list[str]] | None = None,
    *,
    ts: int = 1_765_000_000_000,
    checksum: int = 0,
) -> BookRow:
    return BookRow(
        action="snapshot" if action == "snapshot" else "update",
        bids=prepare_levels(bids or [], "bids"),
        asks=prepare_levels(asks or [], "asks"),
        ts_ms=ts,
        seq_id=seq,
        prev_seq_id=prev,
        checksum=checksum,
    )


SNAP_BIDS = [lv("100", "1"), lv("99", "2")]
SNAP_ASKS = [lv("101", "3"), lv("102", "4")]


def live_sync(policy: str = "resubscribe", seq: int = 10) -> BookSync:
    s = BookSync(INST, depth=400, checksum_policy=policy)
    out = s.on_message(msg("snapshot", -1, seq, SNAP_BIDS, SNAP_ASKS))
    assert out.kind == "snapshot" and s.live
    return s


# -- SequenceTracker --------------------------------------------------------------------------


def test_doc_example_snapshot_update_heartbeat_reset_update() -> None:
    t = SequenceTracker()
    assert t.observe(True, -1, 10, False) is Verdict.SNAPSHOT
    assert t.observe(False, 10, 15, False) is Verdict.APPLY
    assert t.observe(False, 15, 15, True) is Verdict.HEARTBEAT
    assert t.observe(False, 15, 3, False) is Verdict.RESET
    assert t.observe(False, 3, 5, False) is Verdict.APPLY
    assert t.last == 5


def test_gap_then_waiting_until_snapshot() -> None:
    t = SequenceTracker()
    t.observe(True, -1, 10, False)
    assert t.observe(False, 12, 20, False) is Verdict.GAP
    assert not t.live
    assert t.observe(False, 20, 25, False) is Verdict.WAITING
    assert t.observe(True, -1, 30, False) is Verdict.SNAPSHOT
    assert t.observe(False, 30, 31, False) is Verdict.APPLY


def test_update_before_any_snapshot_waits() -> None:
    assert SequenceTracker().observe(False, 10, 15, False) is Verdict.WAITING


def test_stale_duplicate_is_dropped_without_gap() -> None:
    t = SequenceTracker()
    t.observe(True, -1, 10, False)
    t.observe(False, 10, 15, False)
    t.observe(False, 15, 20, False)
    assert t.observe(False, 10, 15, False) is Verdict.STALE  # replay of an applied message
    assert t.last == 20
    assert t.observe(False, 20, 22, False) is Verdict.APPLY


def test_unlinked_heartbeat_and_forward_jump_are_gaps() -> None:
    t = SequenceTracker()
    t.observe(True, -1, 10, False)
    assert t.observe(False, 11, 11, True) is Verdict.GAP
    t.observe(True, -1, 10, False)
    assert t.observe(False, 10 + 5, 40, False) is Verdict.GAP
    t.observe(True, -1, 20, False)
    assert t.observe(False, 25, 3, False) is Verdict.GAP  # a reset that does not link


def test_snapshot_while_live_restarts_the_chain() -> None:
    t = SequenceTracker()
    t.observe(True, -1, 10, False)
    assert t.observe(True, -1, 500, False) is Verdict.SNAPSHOT
    assert t.observe(False, 10, 15, False) is Verdict.STALE
    assert t.observe(False, 500, 501, False) is Verdict.APPLY


# -- BookSync ---------------------------------------------------------------------------------


def test_applied_updates_and_version_only_on_change() -> None:
    s = live_sync()
    v = s.version
    out = s.on_message(msg("update", 10, 15, [lv("100", "5")], ts=1_765_000_000_100))
    assert out.kind == "update" and out.changed and s.version == v + 1
    out = s.on_message(msg("update", 15, 15, ts=1_765_000_000_200))  # heartbeat
    assert out.kind == "heartbeat" and not out.changed and s.version == v + 1
    assert (s.ts_ms, s.seq_id, s.prev_seq_id) == (1_765_000_000_200, 15, 15)
    out = s.on_message(msg("update", 15, 3, [lv("99", "0")]))
    assert out.kind == "update" and out.reset


def test_gap_writes_record_of_last_good_book_and_clears() -> None:
    s = live_sync()
    s.on_message(msg("update", 10, 15, [lv("100", "5")]))
    out = s.on_message(msg("update", 12, 20, [lv("100", "9")], ts=1_765_000_001_000))
    assert out.kind == "fault" and "sequence gap" in (out.fault or "")
    rec = out.gap_record
    assert rec is not None and rec["gap_detected"] is True
    assert rec["bids_top400"] == [lv("100", "5"), lv("99", "2")]  # offending update not applied
    assert (rec["seqId"], rec["prevSeqId"]) == (20, 12)
    assert rec["timestamp_utc"] == "2025-12-06T05:46:41.000Z"
    assert verify_record(rec)
    assert not s.live and s.model.is_empty() and s.record() is None


def test_one_fault_then_everything_dropped_until_snapshot() -> None:
    s = live_sync()
    kinds = [s.on_message(msg("update", 50 + i, 60 + i, [lv("1", "1")])).kind for i in range(100)]
    assert kinds[0] == "fault" and set(kinds[1:]) == {"dropped"}
    assert s.on_message(msg("snapshot", -1, 900, SNAP_BIDS, SNAP_ASKS)).kind == "snapshot"
    assert s.live and not s.recovering
    assert s.on_message(msg("update", 900, 901, [lv("100", "2")])).kind == "update"


def test_crossed_book_after_update_is_corruption() -> None:
    s = live_sync()
    out = s.on_message(msg("update", 10, 11, [lv("101.5", "1")]))
    assert out.kind == "fault" and "crossed" in (out.fault or "")
    assert out.gap_record is not None
    assert out.gap_record["best_bid"] == "101.5"  # the corrupt book as it was before clearing
    assert not s.live


def test_heartbeat_keeps_book_and_does_not_fault() -> None:
    s = live_sync()
    assert s.on_message(msg("update", 10, 10)).kind == "heartbeat"
    assert s.model.top_bids() == SNAP_BIDS


def _sum_after(bids: list[list[str]], asks: list[list[str]]) -> int:
    return book_checksum(bids, asks)


@pytest.mark.parametrize("policy", ["resubscribe", "warn", "off"])
def test_checksum_zero_is_never_a_mismatch(policy: str) -> None:
    s = live_sync(policy)
    out = s.on_message(msg("update", 10, 11, [lv("100", "5")], checksum=0))
    assert out.kind == "update" and out.checksum_mismatch is None


@pytest.mark.parametrize("policy", ["resubscribe", "warn", "off"])
def test_correct_nonzero_checksum_passes(policy: str) -> None:
    s = live_sync(policy)
    good = _sum_after([lv("100", "5"), lv("99", "2")], SNAP_ASKS)
    out = s.on_message(msg("update", 10, 11, [lv("100", "5")], checksum=good))
    assert out.kind == "update" and out.checksum_mismatch is None


def test_checksum_mismatch_resubscribe_policy_is_a_fault() -> None:
    s = live_sync("resubscribe")
    out = s.on_message(msg("update", 10, 11, [lv("100", "5")], checksum=12345))
    assert out.kind == "fault" and out.checksum_mismatch and "checksum" in (out.fault or "")
    assert not s.live


def test_checksum_mismatch_warn_policy_keeps_going() -> None:
    s = live_sync("warn")
    out = s.on_message(msg("update", 10, 11, [lv("100", "5")], checksum=12345))
    assert out.kind == "update" and out.checksum_mismatch is not None
    assert s.live and s.model.best_bid() == lv("100", "5")


def test_checksum_mismatch_off_policy_is_silent() -> None:
    s = live_sync("off")
    out = s.on_message(msg("update", 10, 11, [lv("100", "5")], checksum=12345))
    assert out.kind == "update" and out.checksum_mismatch is None


def test_snapshot_with_wrong_checksum_is_a_fault() -> None:
    s = BookSync(INST)
    out = s.on_message(msg("snapshot", -1, 10, SNAP_BIDS, SNAP_ASKS, checksum=7))
    assert out.kind == "fault" and not s.live
    good = _sum_after(SNAP_BIDS, SNAP_ASKS)
    assert s.on_message(msg("snapshot", -1, 11, SNAP_BIDS, SNAP_ASKS, checksum=good)).kind == (
        "snapshot"
    )


def test_invalidate_forgets_book_without_record() -> None:
    s = live_sync()
    s.invalidate()
    assert not s.live and s.record() is None
    assert s.on_message(msg("update", 10, 11, [lv("1", "1")])).kind == "waiting"


def test_record_key_order_and_values() -> None:
    s = live_sync()
    rec = s.record()
    assert rec is not None
    assert list(rec) == [
        "timestamp_utc",
        "exchange",
        "market",
        "channel",
        "instId",
        "bids_top400",
        "asks_top400",
        "best_bid",
        "best_ask",
        "mid_price",
        "checksum",
        "seqId",
        "prevSeqId",
        "gap_detected",
    ]
    assert (rec["exchange"], rec["market"], rec["channel"], rec["instId"]) == (
        "okx",
        "perp",
        "books",
        INST,
    )
    assert (rec["best_bid"], rec["best_ask"], rec["mid_price"]) == ("100", "101", "100.5")
    assert (rec["seqId"], rec["prevSeqId"], rec["gap_detected"]) == (10, -1, False)
    assert rec["checksum"] == book_checksum(SNAP_BIDS, SNAP_ASKS) and verify_record(rec)
    spot = BookSync("BTC-USDT")
    spot.on_message(msg("snapshot", -1, 1, SNAP_BIDS, SNAP_ASKS))
    assert spot.record()["market"] == "spot"  # type: ignore[index]


def test_record_with_small_depth_keeps_key_names() -> None:
    s = BookSync(INST, depth=1)
    s.on_message(msg("snapshot", -1, 1, SNAP_BIDS, SNAP_ASKS))
    rec = s.record()
    assert rec is not None and rec["bids_top400"] == [lv("100", "1")]
    assert rec["asks_top400"] == [lv("101", "3")] and verify_record(rec)


# -- parse_row -------------------------------------------------------------------------------


def _row(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "asks": [lv("101", "1")],
        "bids": [lv("100", "1")],
        "ts": "1765000000000",
        "checksum": 0,
        "prevSeqId": -1,
        "seqId": 5,
    }
    row.update(over)
    return {k: v for k, v in row.items() if v is not ...}


def test_parse_row_ok_and_checksum_optional() -> None:
    m = parse_row(_row(), "snapshot")
    assert (m.action, m.ts_ms, m.seq_id, m.prev_seq_id, m.checksum) == (
        "snapshot",
        1_765_000_000_000,
        5,
        -1,
        0,
    )
    assert parse_row(_row(checksum=...), "update").checksum == 0


@pytest.mark.parametrize(
    ("over", "action"),
    [
        ({}, "partial"),
        ({"ts": ...}, "update"),
        ({"ts": "12a"}, "update"),
        ({"seqId": "5"}, "update"),
        ({"seqId": True}, "update"),
        ({"prevSeqId": ...}, "update"),
        ({"prevSeqId": -2}, "update"),
        ({"seqId": -1}, "update"),
        ({"checksum": "0"}, "update"),
        ({"asks": ...}, "update"),
        ({"bids": [["1", "1"]]}, "update"),
        ({"bids": "x"}, "update"),
    ],
)
def test_parse_row_rejects(over: dict[str, Any], action: str) -> None:
    with pytest.raises(MalformedRow):
        parse_row(_row(**over), action)


def test_parse_row_rejects_non_object() -> None:
    with pytest.raises(MalformedRow):
        parse_row([1, 2], "update")


# -- ResubscribeScheduler --------------------------------------------------------------------


def sched() -> ResubscribeScheduler:
    return ResubscribeScheduler(min_interval_s=5, first_wait_s=10, max_wait_s=40)


def test_one_resubscribe_per_recovery_then_backoff() -> None:
    r = sched()
    r.request(0.0)
    assert r.poll(0.0)
    for t in range(1, 10):
        r.request(float(t))  # more faults during the same recovery: nothing new
        assert not r.poll(float(t))
    assert r.poll(10.0)  # no snapshot within 10 s: ask again
    assert not r.poll(29.9)
    assert r.poll(30.0)  # then after 20 s, 40 s, 40 s (cap)
    assert r.poll(70.0) and not r.poll(109.0) and r.poll(110.0)
    assert r.attempts == 5
    r.satisfied()
    assert r.deadline() is None and not r.poll(1000.0)


def test_min_interval_between_recoveries() -> None:
    r = sched()
    r.request(0.0)
    assert r.poll(0.0)
    r.satisfied()
    r.request(1.0)  # a new fault 1 s after the last resubscribe
    assert not r.poll(1.0) and r.deadline() == 5.0
    assert r.poll(5.0)


def test_watch_waits_but_a_fault_asks_at_once() -> None:
    r = sched()
    r.watch(0.0)
    assert not r.poll(9.9) and r.poll(10.0)
    r.satisfied()
    r.watch(20.0)
    r.request(21.0)
    assert r.poll(21.0)


def test_unsent_retries_after_min_interval() -> None:
    r = sched()
    r.request(0.0)
    assert r.poll(0.0)
    r.unsent(0.0)
    assert r.attempts == 0 and not r.poll(4.9) and r.poll(5.0)


def test_cancel_stops_asking() -> None:
    r = sched()
    r.request(0.0)
    r.cancel()
    assert not r.recovering and not r.poll(100.0)
