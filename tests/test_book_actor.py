"""BookActor over memory channels with a MockClock: cadence, dedup, gaps, recovery, files."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import trio
import trio.testing

from rq_actors.actors.book import BookActor
from rq_actors.core.book.record import verify_record
from rq_actors.io.health import null_reporter
from rq_actors.io.vault.files import iter_jsonl
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.io.vault.quarantine import QuarantineLog
from rq_actors.messages import BookInbox, ConnectionEvent, Resubscribe
from tests.helpers.book import (
    ASKS,
    BIDS,
    INST,
    T0,
    TICK,
    Harness,
    frame,
    lv,
    make_config,
    snapshot,
)


async def test_snapshots_every_interval_and_dedup_when_unchanged(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    start = trio.current_time()
    await harness.send(snapshot(10, T0 + 100))
    assert harness.records() == []  # nothing before the first tick
    await trio.sleep_until(start + 2.01)
    recs = harness.records()
    assert len(recs) == 1 and recs[0]["seqId"] == 10 and recs[0]["gap_detected"] is False
    assert recs[0]["timestamp_utc"] == "2025-12-14T11:00:00.100Z" and verify_record(recs[0])
    await trio.sleep(10)  # unchanged: no new records
    assert len(harness.records()) == 1
    await harness.send(frame("update", 10, 10, T0 + 5000))  # heartbeat: no change either
    await trio.sleep(4)
    assert len(harness.records()) == 1
    await harness.send(frame("update", 10, 12, T0 + 6000, [lv("100", "7")]))
    await harness.send(frame("update", 12, 15, T0 + 6100, [lv("99", "0")]))
    await trio.sleep(TICK)
    recs = harness.records()
    assert len(recs) == 2
    assert recs[1]["bids_top400"] == [lv("100", "7")] and recs[1]["seqId"] == 15
    assert harness.count("snapshots_written") == 2 and harness.count("messages_in") == 4
    assert harness.health.state == "running" and harness.health.newest_event_ms == T0 + 6100


async def test_gap_writes_one_record_and_one_resubscribe(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    await harness.send(snapshot(10, T0), frame("update", 10, 11, T0 + 100, [lv("100", "5")]))
    await trio.sleep(TICK)
    assert len(harness.records()) == 1
    await harness.send(frame("update", 13, 14, T0 + 200, [lv("100", "6")]))  # gap
    recs = harness.records()
    assert len(recs) == 2 and recs[1]["gap_detected"] is True
    assert recs[1]["bids_top400"][0] == lv("100", "5")  # book before clearing (last good)
    assert (recs[1]["seqId"], recs[1]["prevSeqId"]) == (14, 13)
    resubs = harness.resubscribes()
    assert len(resubs) == 1 and resubs[0].inst_id == INST and resubs[0].channel == "books"
    assert "gap" in resubs[0].reason
    assert harness.count("gaps") == 1 and harness.count("resubscribes") == 1
    assert harness.health.state == "recovering"
    await trio.sleep(6)  # invalid book: no records while waiting
    assert len(harness.records()) == 2
    await harness.send(snapshot(500, T0 + 3000))
    await trio.sleep(TICK)
    recs = harness.records()
    assert len(recs) == 3 and recs[2]["gap_detected"] is False and recs[2]["seqId"] == 500
    assert harness.health.state == "running" and harness.resubscribes() == []


async def test_storm_of_bad_updates_gives_one_resubscribe(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    await harness.send(snapshot(10, T0))
    bad = [frame("update", 1000 + i, 1001 + i, T0 + i, [lv("100", "1")]) for i in range(100)]
    await harness.send(*bad)
    assert len(harness.resubscribes()) == 1
    gap_records = [r for r in harness.records() if r["gap_detected"]]
    assert len(gap_records) == 1
    assert harness.count("gaps") == 1 and harness.count("updates_dropped") == 99
    # Still no snapshot after subscribe_timeout_s: ask again, then back off.
    await trio.sleep(9)
    assert harness.resubscribes() == []
    await trio.sleep(1.5)
    again = harness.resubscribes()
    assert len(again) == 1 and "attempt 2" in again[0].reason
    await trio.sleep(19)
    assert harness.resubscribes() == []
    await trio.sleep(1.5)
    assert len(harness.resubscribes()) == 1
    await harness.send(snapshot(2000, T0 + 60_000))
    await trio.sleep(200)
    assert harness.resubscribes() == []  # recovered: no more asking
    assert harness.records()[-1]["seqId"] == 2000


async def test_resubscribes_are_rate_limited_across_faults(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    await harness.send(snapshot(10, T0), frame("update", 99, 100, T0 + 1))
    assert len(harness.resubscribes()) == 1
    await harness.send(snapshot(20, T0 + 2), frame("update", 99, 100, T0 + 3))
    assert harness.resubscribes() == []  # second fault 0 s after the first resubscribe
    await trio.sleep(5.1)
    assert len(harness.resubscribes()) == 1
    assert harness.count("gaps") == 2 and harness.count("resubscribes") == 2


async def test_crossed_update_is_a_gap(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    await harness.send(snapshot(10, T0), frame("update", 10, 11, T0 + 1, [lv("101", "1")]))
    recs = harness.records()
    assert len(recs) == 1 and recs[0]["gap_detected"] and recs[0]["best_bid"] == "101"
    assert len(harness.resubscribes()) == 1 and "crossed" in harness.health.last_error  # type: ignore[operator]


async def test_hourly_file_by_event_time(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    late = T0 - 1000  # 10:59:59.000
    await harness.send(snapshot(10, late))
    await trio.sleep(TICK)
    await harness.send(frame("update", 10, 11, T0 + 500, [lv("100", "2")]))  # 11:00:00.500
    await trio.sleep(TICK)
    before = harness.paths.l2_file(INST, late)
    after = harness.paths.l2_file(INST, T0)
    assert before.name == "10.jsonl" and after.name == "11.jsonl"
    assert [r["seqId"] for r in iter_jsonl(before)] == [10]
    assert [r["seqId"] for r in iter_jsonl(after)] == [11]


async def test_malformed_rows_are_quarantined_and_capture_continues(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    await harness.send(snapshot(10, T0))
    bad = frame("update", 10, 11, T0 + 1, [["1e5", "1", "0", "1"]])
    await harness.send(bad, frame("update", 10, 11, T0 + 2, [lv("100", "3")]))
    q = list(iter_jsonl(harness.paths.quarantine_file(INST, "2025-12-14")))
    assert len(q) == 1 and q[0]["raw"] == bad.raw and "plain decimal" in q[0]["reason"]
    assert harness.count("quarantined") == 1 and harness.count("gaps") == 0
    await trio.sleep(TICK)
    assert harness.records()[-1]["bids_top400"][0] == lv("100", "3")


async def test_foreign_instrument_frame_is_quarantined(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    await harness.send(frame("snapshot", -1, 1, T0, BIDS, ASKS, inst_id="ETH-USDT-SWAP"))
    assert harness.count("quarantined") == 1
    await trio.sleep(TICK)
    assert harness.records() == []


async def test_connection_down_invalidates_without_gap_record(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    await harness.send(ConnectionEvent(INST, "public", 1, "up"), snapshot(10, T0))
    await trio.sleep(TICK)
    await harness.send(frame("update", 10, 11, T0 + 1, [lv("100", "2")]))
    await harness.send(ConnectionEvent(INST, "business", 1, "down"))  # not ours: ignored
    assert harness.actor.sync.live
    await harness.send(ConnectionEvent(INST, "public", 1, "down"))
    assert not harness.actor.sync.live
    await trio.sleep(30)
    assert len(harness.records()) == 1  # the pending change is lost with the book; no gap record
    assert harness.resubscribes() == [] and harness.count("gaps") == 0
    await harness.send(ConnectionEvent(INST, "public", 2, "up"), snapshot(50, T0 + 40_000, epoch=2))
    await trio.sleep(TICK)
    assert harness.records()[-1]["seqId"] == 50
    assert harness.resubscribes() == []


async def test_no_snapshot_after_up_asks_after_timeout(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    await harness.send(ConnectionEvent(INST, "public", 1, "up"))
    await trio.sleep(9.9)
    assert harness.resubscribes() == []
    await trio.sleep(0.2)
    (r,) = harness.resubscribes()
    assert "no snapshot" in r.reason


async def test_updates_without_snapshot_ask_for_one(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    # e.g. this actor was restarted while the socket kept streaming updates
    await harness.send(frame("update", 10, 11, T0, [lv("100", "1")]))
    await harness.send(frame("update", 11, 12, T0 + 1, [lv("100", "2")]))
    (r,) = harness.resubscribes()
    assert "without a snapshot" in r.reason and harness.count("gaps") == 0


async def test_old_connection_updates_are_dropped(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    # make-before-break: connection 2 is up and has sent its snapshot; 1 still streams.
    await harness.send(snapshot(10, T0, epoch=1))
    await harness.send(ConnectionEvent(INST, "public", 2, "up"), snapshot(20, T0 + 1, epoch=2))
    await harness.send(frame("update", 10, 11, T0 + 2, [lv("100", "9")], epoch=1))
    await harness.send(ConnectionEvent(INST, "public", 1, "down"))
    assert harness.actor.sync.live and harness.count("gaps") == 0
    assert harness.count("stale_connection_frames") == 1
    await harness.send(frame("update", 20, 21, T0 + 3, [lv("100", "4")], epoch=2))
    await trio.sleep(TICK)
    assert harness.records()[-1]["bids_top400"][0] == lv("100", "4")


async def test_end_of_channel_flushes_and_returns(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    await harness.send(snapshot(10, T0), frame("update", 10, 11, T0 + 1, [lv("100", "2")]))
    await harness.inbox.aclose()
    await harness.done.wait()
    recs = harness.records()
    assert len(recs) == 1 and recs[0]["seqId"] == 11  # written without waiting for the tick
    assert harness.health.state == "stopped"


@pytest.mark.parametrize("harness", [{"checksum_policy": "warn"}], indirect=True)
async def test_checksum_warn_policy_reports_without_resubscribe(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    await harness.send(snapshot(10, T0), frame("update", 10, 11, T0 + 1, checksum=42))
    assert harness.count("checksum_mismatches") == 1 and harness.resubscribes() == []
    assert "checksum mismatch" in (harness.health.last_error or "")
    assert harness.actor.sync.live


@pytest.mark.parametrize("harness", [{"checksum_policy": "resubscribe"}], indirect=True)
async def test_checksum_resubscribe_policy(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    await harness.send(snapshot(10, T0), frame("update", 10, 11, T0 + 1, checksum=42))
    assert harness.count("checksum_mismatches") == 1 and len(harness.resubscribes()) == 1
    assert harness.count("gaps") == 1


@pytest.mark.parametrize("harness", [{"record_updates": True}], indirect=True)
async def test_record_updates_appends_raw_frames_by_event_time(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    frames = [snapshot(10, T0 - 1), frame("update", 10, 11, T0 + 1, [lv("100", "2")])]
    await harness.send(*frames)
    first = harness.paths.l2_updates_file(INST, T0 - 1)
    second = harness.paths.l2_updates_file(INST, T0 + 1)
    assert first.read_text() == frames[0].raw + "\n"
    assert second.read_text() == frames[1].raw + "\n"


async def test_torn_tail_repaired_on_start_and_restart_dedup(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    paths = VaultPaths(tmp_path)
    path = paths.l2_file(INST, T0)
    path.parent.mkdir(parents=True)
    good = b'{"timestamp_utc":"2025-12-14T11:00:00.000Z","seqId":10}\n'
    path.write_bytes(good + b'{"timestamp_utc":"2025-12-14T11:00:0')
    send, recv = trio.open_memory_channel[BookInbox](10)
    rs_send, _rs_recv = trio.open_memory_channel[Resubscribe](10)
    actor = BookActor(
        INST,
        make_config(),
        recv,
        rs_send,
        paths,
        QuarantineLog(paths, INST),
        null_reporter(),
        wall_ms=lambda: T0 + 5,
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor.run)
        await trio.testing.wait_all_tasks_blocked()
        assert path.read_bytes() == good  # repaired before any data arrived
        await send.send(snapshot(10, T0))  # same timestamp as the last line: not written again
        await trio.sleep(TICK)
        assert path.read_bytes() == good
        await send.send(frame("update", 10, 11, T0 + 7, [lv("100", "2")]))
        await send.aclose()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 2 and orjson.loads(lines[1])["seqId"] == 11
