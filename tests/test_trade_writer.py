"""The trade writer actor over a real temporary vault and a fake OKX trade history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import trio

from rq_actors.actors.feed import LiveFeed
from rq_actors.core.trades.record import encode_trade
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.io.vault.trade_files import TradeVaultError, restore_last_trade_id
from tests.helpers.trades import (
    BASE_TS,
    INST,
    META,
    FakeHistory,
    Harness,
    SlowHistory,
    fill_row,
    frame,
    trade,
    up,
)

MIDNIGHT = 1_765_756_800_000  # 2025-12-15T00:00:00.000Z


def _frames(ids: Any, **kw: Any) -> list[Any]:
    return [frame([fill_row(i, **kw)]) for i in ids]


async def test_writes_canonical_lines_and_feeds_durable_batches(
    tmp_path: Path, autojump_clock: Any
) -> None:
    h = Harness(tmp_path, FakeHistory())
    await h.run([frame([fill_row(1), fill_row(2)]), frame([fill_row(3, side="sell")])])
    path = h.paths.trades_file(INST, BASE_TS)
    expected = b"".join(
        encode_trade(trade(i, px="101250.5", side=s), META) + b"\n"
        for i, s in ((1, "buy"), (2, "buy"), (3, "sell"))
    )
    assert path.read_bytes() == expected
    assert h.fed_ids() == [1, 2, 3]
    counters = h.health.counters
    assert counters["trades_written"] == 3 and counters["messages_in"] == 2
    assert h.health.state == "stopped"
    assert h.health.newest_event_ms == BASE_TS + 3


async def test_bad_rows_are_quarantined_and_capture_continues(
    tmp_path: Path, autojump_clock: Any
) -> None:
    h = Harness(tmp_path, FakeHistory([fill_row(i) for i in range(1, 9)]))
    bad = frame([fill_row(2), {**fill_row(3), "px": "1e9"}, fill_row(4)])
    other = frame([fill_row(5, inst="ETH-USDT-SWAP")])
    broken = frame([["not", "an", "object"]])
    wrong_channel = frame([fill_row(6)], channel="trades")
    empty = frame([])
    no_side = frame([{k: v for k, v in fill_row(7).items() if k != "side"}])
    await h.run([*_frames([1]), bad, other, broken, wrong_channel, empty, no_side])
    await h.run([*_frames([8]), 2.0])
    # The rejected ids left a hole that the REST history filled with its (valid) copies.
    assert h.vault_ids() == list(range(1, 9))
    # Rows without a readable ts are filed under the wall-clock date: compare as a set.
    reasons = sorted((q["kind"], q["reason"], q["raw"]) for q in h.quarantine_records())
    assert reasons == sorted(
        [
            ("rejected", "bad px '1e9': not a positive plain decimal (row 1)", bad.raw),
            ("rejected", f"instId 'ETH-USDT-SWAP' is not the configured '{INST}'", other.raw),
            ("rejected", "row is not a JSON object: list", broken.raw),
            ("rejected", "channel 'trades' is not the configured 'trades-all'", wrong_channel.raw),
            ("rejected", "no trade rows", empty.raw),
            ("rejected", "missing field(s): side", no_side.raw),
        ]
    )
    assert h.health.counters["quarantined"] == 6
    (bad_px,) = [q for q in h.quarantine_records() if q["reason"].startswith("bad px")]
    assert bad_px["event_time_utc"] == "2025-12-14T21:34:56.126Z"  # the bad row's own ts


async def test_no_duplicates_across_restart(tmp_path: Path, autojump_clock: Any) -> None:
    h = Harness(tmp_path, FakeHistory())
    await h.run(_frames(range(1, 11)))
    actor = await h.run(_frames(range(5, 16)) + _frames([3, 15]))
    assert h.vault_ids() == list(range(1, 16))
    assert h.health.counters["duplicates_skipped"] == 6 + 2
    assert actor.last_trade_id == 15


async def test_torn_last_line_is_cut_and_recaptured(tmp_path: Path, autojump_clock: Any) -> None:
    h = Harness(tmp_path, FakeHistory())
    await h.run(_frames(range(1, 6)))
    path = h.paths.trades_file(INST, BASE_TS)
    with path.open("ab") as f:
        f.write(encode_trade(trade(6, px="101250.5"), META)[:40])  # killed mid-write
    await h.run(_frames(range(6, 9)))
    assert h.vault_ids() == list(range(1, 9))
    assert path.read_bytes().endswith(b"}\n")


def test_restore_rejects_a_foreign_complete_last_line(tmp_path: Path) -> None:
    paths = VaultPaths(tmp_path)
    path = paths.trades_file(INST, BASE_TS)
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"hello":"world"}\n')
    with pytest.raises(TradeVaultError, match="not a trade record"):
        restore_last_trade_id(paths, INST)


async def test_files_follow_event_time_and_trade_id_wins_at_midnight(
    tmp_path: Path, autojump_clock: Any
) -> None:
    h = Harness(tmp_path, FakeHistory())
    stamps = {1: MIDNIGHT - 5, 2: MIDNIGHT + 1, 3: MIDNIGHT - 1, 4: MIDNIGHT + 2}
    await h.run([frame([fill_row(i, ts=ts)]) for i, ts in stamps.items()])
    day1 = h.paths.trades_file(INST, MIDNIGHT - 1)
    day2 = h.paths.trades_file(INST, MIDNIGHT)
    assert (day1.name, day2.name) == ("2025-12-14.jsonl", "2025-12-15.jsonl")
    ids = {
        p.name: [orjson.loads(x)["trade_id"] for x in p.read_bytes().splitlines()]
        for p in (day1, day2)
    }
    assert ids == {"2025-12-14.jsonl": ["1", "3"], "2025-12-15.jsonl": ["2", "4"]}
    # The highest id may sit in the older file; a restart still knows it.
    with day2.open("rb+") as f:
        f.truncate(len(f.readline()))  # keep only trade 2 in the newer file
    assert restore_last_trade_id(h.paths, INST) == 3
    await h.run(_frames([3, 4, 5], ts=MIDNIGHT + 9))
    assert h.health.counters["duplicates_skipped"] == 1
    assert sorted(h.vault_ids()) == [1, 2, 3, 4, 5]


async def test_reorder_window_puts_late_trades_in_order(
    tmp_path: Path, autojump_clock: Any
) -> None:
    history = FakeHistory()
    h = Harness(tmp_path, history, reorder_window_s=1.0)
    await h.run([*_frames([1, 2, 5, 4]), 0.5, *_frames([3, 6, 5])])
    assert h.vault_ids() == [1, 2, 3, 4, 5, 6]
    assert h.fed_ids() == [1, 2, 3, 4, 5, 6]
    assert history.calls == []  # nothing was missing for long: no REST
    assert h.health.counters["duplicates_skipped"] == 1


async def test_make_before_break_overlap_is_written_once(
    tmp_path: Path, autojump_clock: Any
) -> None:
    h = Harness(tmp_path, FakeHistory([fill_row(i) for i in range(1, 13)]))
    old = [frame([fill_row(i)], epoch=1) for i in range(1, 9)]
    new = [frame([fill_row(i)], epoch=2) for i in range(6, 13)]
    interleaved = [old[0], old[1], up(2), new[0], old[2], new[1], old[3], old[4], new[2]]
    interleaved += old[5:] + new[3:] + [2.0]
    await h.run(interleaved)
    assert h.vault_ids() == list(range(1, 13))


async def test_jump_is_backfilled_from_rest_before_later_trades(
    tmp_path: Path, autojump_clock: Any
) -> None:
    history = FakeHistory([fill_row(i) for i in range(1, 31)])
    h = Harness(tmp_path, history)
    await h.run(_frames(range(1, 11)) + _frames(range(15, 21)) + [3.0] + _frames([21]))
    assert h.vault_ids() == list(range(1, 22))
    assert h.fed_ids() == list(range(1, 22))
    assert h.health.counters["backfilled"] == 4 and "gaps" not in h.health.counters
    assert [c.get("after") for c in history.calls] == ["15"]
    assert h.quarantine_records() == []


async def test_unrecoverable_gap_is_recorded_and_capture_continues(
    tmp_path: Path, autojump_clock: Any
) -> None:
    history = FakeHistory([fill_row(i) for i in range(1, 31)])
    history.fail = "error"
    h = Harness(tmp_path, history, rest_kwargs={"max_attempts": 2})
    await h.run(_frames(range(1, 11)) + _frames(range(15, 21)) + [5.0] + _frames([21]))
    assert h.vault_ids() == [*range(1, 11), *range(15, 22)]
    (gap,) = h.quarantine_records()
    assert (gap["kind"], gap["from_trade_id"], gap["to_trade_id"]) == ("gap", "11", "14")
    assert "50001" in gap["reason"] and gap["event_time_utc"] == "2025-12-14T21:34:56.138Z"
    assert h.health.counters["gaps"] == 1 and h.health.last_error is not None


async def test_history_that_does_not_reach_back_gives_a_partial_gap(
    tmp_path: Path, autojump_clock: Any
) -> None:
    history = FakeHistory([fill_row(i) for i in range(13, 31)])
    h = Harness(tmp_path, history)
    await h.run(_frames(range(1, 11)) + _frames(range(15, 18)) + [3.0])
    assert h.vault_ids() == [*range(1, 11), *range(13, 18)]
    (gap,) = h.quarantine_records()
    assert (gap["from_trade_id"], gap["to_trade_id"]) == ("11", "12")


async def test_ids_absent_from_a_complete_history_do_not_exist(
    tmp_path: Path, autojump_clock: Any
) -> None:
    rows = [fill_row(i) for i in range(1, 31) if i not in (12, 13)]
    history = FakeHistory(rows)
    h = Harness(tmp_path, history)
    await h.run(_frames(range(1, 11)) + _frames(range(15, 18)) + [3.0])
    assert h.vault_ids() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15, 16, 17]
    assert h.quarantine_records() == [] and len(history.calls) == 1


async def test_reconnect_backfills_the_outage_without_waiting_for_live(
    tmp_path: Path, autojump_clock: Any
) -> None:
    history = FakeHistory([fill_row(i) for i in range(1, 251)])
    h = Harness(tmp_path, history)
    await h.run(_frames(range(1, 11)))
    await h.run([up(1), 3.0])  # restart, connect; the market is quiet
    assert h.vault_ids() == list(range(1, 251))
    assert [c.get("after") for c in history.calls] == [None, "151", "51"]
    assert h.health.counters["backfilled"] == 240


async def test_reconnect_with_rest_down_records_the_gap_once(
    tmp_path: Path, autojump_clock: Any
) -> None:
    history = FakeHistory()
    history.fail = "down"
    h = Harness(tmp_path, history, rest_kwargs={"max_attempts": 2})
    await h.run(_frames(range(1, 11)))
    await h.run([up(1), 2.0, *_frames([40, 41]), 5.0, *_frames([42])])
    assert h.vault_ids() == [*range(1, 11), 40, 41, 42]
    gaps = h.quarantine_records()
    assert [(g["from_trade_id"], g["to_trade_id"]) for g in gaps] == [("11", "39")]


async def test_trades_held_at_shutdown_are_recovered_after_restart(
    tmp_path: Path, autojump_clock: Any
) -> None:
    history = FakeHistory([fill_row(i) for i in range(1, 21)])
    h = Harness(tmp_path, history)
    await h.run(_frames(range(1, 6)) + _frames([8, 9]))  # stops inside the reorder window
    assert h.vault_ids() == [1, 2, 3, 4, 5]
    assert h.health.counters["held_dropped_at_stop"] == 2
    await h.run([up(1), 2.0])
    assert h.vault_ids() == list(range(1, 21))


async def test_live_trades_arriving_during_a_backfill_fill_the_gap(
    tmp_path: Path, autojump_clock: Any
) -> None:
    history = FakeHistory([fill_row(i) for i in range(1, 12)])  # REST lags: knows up to 11
    h = Harness(tmp_path, history)
    h.rest_kwargs = {"transport": SlowHistory(history, 2.0), "max_attempts": 1}
    messages = _frames(range(1, 6)) + _frames([20]) + [1.5]  # hole 6..19: backfill starts
    messages += [*_frames([14, 15]), 5.0]  # the other connection delivers 14, 15 meanwhile
    await h.run(messages)
    assert h.vault_ids() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15, 20]
    # REST (after=20) answered up to 11 and reached back: nothing is recorded missing, because
    # a complete answer means 12, 13, 16..19 do not exist.
    assert h.quarantine_records() == []


async def test_backfill_time_is_bounded(tmp_path: Path, autojump_clock: Any) -> None:
    history = FakeHistory([fill_row(i) for i in range(1, 40)])
    h = Harness(tmp_path, history, backfill_timeout_s=3.0)
    h.rest_kwargs = {"transport": SlowHistory(history, 60.0)}
    start = trio.current_time()
    await h.run(_frames(range(1, 6)) + _frames(range(9, 12)) + [6.0] + _frames([12]))
    assert h.vault_ids() == [1, 2, 3, 4, 5, 9, 10, 11, 12]
    (gap,) = h.quarantine_records()
    assert (gap["from_trade_id"], gap["to_trade_id"]) == ("6", "8")
    assert gap["reason"].endswith("time limit reached")
    assert trio.current_time() - start < 10


async def test_a_lagging_feed_never_blocks_capture(tmp_path: Path, autojump_clock: Any) -> None:
    h = Harness(tmp_path, FakeHistory(), feed=LiveFeed("slow", capacity=1))
    await h.run([frame([fill_row(i)]) for i in range(1, 50)] + [0.1])
    assert h.vault_ids() == list(range(1, 50))
    assert h.feed.lagging


async def test_aggregated_channel_rows_and_reaggregated_backfill(
    tmp_path: Path, autojump_clock: Any
) -> None:
    fills = [fill_row(i, ts=BASE_TS + (i + 1) // 2, sz="0.5") for i in range(1, 41)]
    history = FakeHistory(fills)  # REST: single fills, two per taker order (same ts, px, side)

    def agg(last: int, count: int) -> dict[str, Any]:
        return {**fill_row(last, ts=BASE_TS + last // 2, sz=str(count * 0.5)), "count": str(count)}

    h = Harness(tmp_path, history, channel="trades")
    live = [frame([agg(2, 2), agg(4, 2)], "trades"), frame([agg(12, 2)], "trades")]
    # A reconnect on the aggregated channel does not fetch by itself (see the actor's doc).
    await h.run([*live, up(2, "public"), 2.0, frame([agg(14, 2)], "trades")])
    records = h.vault_records()
    assert [(r["trade_id"], r["count"], r["qty_contracts"]) for r in records] == [
        ("2", 2, "1.0"),
        ("4", 2, "1.0"),
        ("6", 2, "1.0"),  # 5..10 back-filled from REST and re-aggregated
        ("8", 2, "1.0"),
        ("10", 2, "1.0"),
        ("12", 2, "1.0"),
        ("14", 2, "1.0"),
    ]
    assert [c.get("after") for c in history.calls] == ["11"]
    assert h.health.counters["backfilled"] == 3


async def test_live_trades_inside_an_unrecoverable_range_are_not_gaps(
    tmp_path: Path, autojump_clock: Any
) -> None:
    history = FakeHistory([fill_row(i) for i in range(1, 30)])
    history.fail = "error"
    h = Harness(tmp_path, history)
    h.rest_kwargs = {"transport": SlowHistory(history, 2.0), "max_attempts": 1}
    messages = _frames(range(1, 6)) + _frames([20]) + [1.5] + _frames([14, 15]) + [5.0]
    await h.run(messages)
    assert h.vault_ids() == [1, 2, 3, 4, 5, 14, 15, 20]
    gaps = [(g["from_trade_id"], g["to_trade_id"]) for g in h.quarantine_records()]
    assert gaps == [("6", "13"), ("16", "19")]
    assert h.health.counters["gaps"] == 2


async def test_aggregated_live_row_arriving_during_backfill_wins(
    tmp_path: Path, autojump_clock: Any
) -> None:
    # Fills 11..14 share (ts, px, side): REST alone would make one row of them. The live row
    # 14 (count 2, fills 13..14) arrives while the hole 11..14 is being fetched, so REST keeps
    # only 11..12, as their own row, and nothing is stood for twice.
    same = {"ts": BASE_TS, "sz": "1", "side": "buy"}
    history = FakeHistory([fill_row(i, **same) for i in range(1, 21)])
    h = Harness(tmp_path, history, channel="trades")
    h.rest_kwargs = {"transport": SlowHistory(history, 2.0)}

    def agg(last: int, count: int) -> Any:
        row = {**fill_row(last, **same), "sz": str(count), "count": str(count)}
        return frame([row], "trades")

    await h.run([agg(10, 10), agg(16, 2), 1.5, agg(14, 2), 5.0])
    records = [(r["trade_id"], r["count"], r["qty_contracts"]) for r in h.vault_records()]
    assert records == [("10", 10, "10"), ("12", 2, "2"), ("14", 2, "2"), ("16", 2, "2")]
