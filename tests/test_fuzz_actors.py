"""Fuzzing the two capture actors with random frames (issue: reliability suite, part 1).

Property: the actor never fails; every rejected input is quarantined (one line per bad trade
row, one per book frame with bad rows), counted in health, and everything written to the vault
is well-formed (trade files strictly increasing and exactly once; book records verify).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import orjson
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rq_actors.actors.book import BookActor
from rq_actors.config import Config, SocketConfig
from rq_actors.core.book.model import MAX_FIELD_CHARS
from rq_actors.core.book.parse import MalformedRow, parse_row
from rq_actors.core.book.record import verify_record
from rq_actors.core.okx.trades import Reject, is_positive_decimal, parse_trade_row
from rq_actors.io.health import null_reporter
from rq_actors.io.vault.files import iter_jsonl
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.io.vault.quarantine import QuarantineLog
from rq_actors.io.vault.trade_files import day_files
from rq_actors.messages import BookFrame, BookInbox, Resubscribe, TradeFrame
from tests.helpers.strategies import numberish, plain_decimals, wire_values
from tests.helpers.trades import BASE_TS, INST, FakeHistory, Harness, fill_row

ACTORS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
N = 40  # the fake exchange history holds fills 1..N
# Rows come out of `orjson.loads`: only values JSON text can carry.
json_values = wire_values
field_values = wire_values | numberish | plain_decimals


@st.composite
def trade_row(draw: st.DrawFn) -> Any:
    row: Any = fill_row(draw(st.integers(1, N)))
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(json_values)
    if kind == 1:
        key = draw(st.sampled_from(sorted(row)))
        row[key] = draw(field_values)
    elif kind == 2:
        del row[draw(st.sampled_from(sorted(row)))]
    elif kind == 3 and draw(st.booleans()):
        row["instId"] = draw(st.sampled_from(["../../etc", "ETH-USDT-SWAP", "btc-usdt-swap"]))
    return row


def _frame(rows: list[Any]) -> TradeFrame:
    raw = orjson.dumps({"arg": {"channel": "trades-all", "instId": INST}, "data": rows},
                       default=repr, option=orjson.OPT_NON_STR_KEYS).decode()  # fmt: skip
    return TradeFrame(INST, "trades-all", tuple(rows), raw, 0, 1)


@ACTORS
@given(st.lists(st.lists(trade_row(), max_size=4), min_size=1, max_size=12))
def test_trade_writer_survives_any_rows_and_quarantines_each_reject(
    frames: list[list[Any]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        h = Harness(Path(tmp), FakeHistory([fill_row(i) for i in range(1, N + 1)]))
        messages: list[Any] = [_frame(rows) for rows in frames]
        trio.run(h.run, [*messages, 5.0], clock=trio.testing.MockClock(autojump_threshold=0))

        parsed = [parse_trade_row(r, INST) for rows in frames for r in rows]
        rejected = sum(isinstance(p, Reject) for p in parsed) + sum(not f for f in frames)
        accepted = {p.trade_id for p in parsed if not isinstance(p, Reject)}
        assert h.health.counters.get("quarantined", 0) == rejected
        quarantined = [q for q in h.quarantine_records() if q["kind"] == "rejected"]
        assert len(quarantined) == rejected
        # quarantine files live under the configured instrument only, whatever the rows said
        assert {p.parent.name for p in (h.root / "quarantine").rglob("*.jsonl")} <= {INST}

        # Each file strictly increasing (a garbled but valid `ts` may file a trade under
        # another date: trade-id order still wins), and no id twice anywhere.
        for path in day_files(h.paths, INST):
            file_ids = [int(r["trade_id"]) for r in iter_jsonl(path)]
            assert file_ids == sorted(set(file_ids))
        ids = sorted(h.vault_ids())
        assert len(ids) == len(set(ids))
        if accepted:
            gaps = {
                i
                for q in h.quarantine_records()
                if q["kind"] == "gap"
                for i in range(int(q["from_trade_id"]), int(q["to_trade_id"]) + 1)
            }
            # every id from the first written to the newest accepted is in the vault, or in a
            # recorded gap, or does not exist (the complete REST history lacked it)
            exists = set(range(1, N + 1)) | accepted
            wanted = {i for i in exists if ids[0] <= i <= max(accepted)}
            assert wanted <= set(ids) | gaps
            assert {i for i in accepted if i >= ids[0]} <= set(ids)
        for record in h.vault_records():
            assert record["instId"] == INST
            assert is_positive_decimal(record["price"]) and is_positive_decimal(
                record["qty_contracts"]
            )


# ---- book actor ------------------------------------------------------------------------------

GOOD_BIDS = [["100", "1", "0", "1"], ["99", "2", "0", "1"]]
GOOD_ASKS = [["101", "3", "0", "1"], ["102", "4", "0", "1"]]


@st.composite
def book_frames(draw: st.DrawFn) -> tuple[str, list[Any], str]:
    """(action, rows, instId): a snapshot, a linked or unlinked update, or junk."""
    seq = draw(st.integers(1, 30))
    action = draw(st.sampled_from(["snapshot", "update", "update", "update"]))
    row: Any = {
        "asks": GOOD_ASKS if action == "snapshot" else [[str(101 + draw(st.integers(0, 3))),
                                                         str(draw(st.integers(0, 5))), "0", "1"]],
        "bids": GOOD_BIDS if action == "snapshot" else [],
        "ts": str(BASE_TS + seq),
        "checksum": 0,
        "prevSeqId": -1 if action == "snapshot" else seq - 1,
        "seqId": seq,
    }  # fmt: skip
    kind = draw(st.integers(0, 4))
    if kind == 0:
        row = draw(json_values)
    elif kind == 1:
        key = draw(st.sampled_from(sorted(row)))
        row[key] = draw(field_values | st.lists(st.lists(field_values, max_size=5), max_size=3))
    inst = INST if draw(st.integers(0, 9)) else "../ETH-USDT-SWAP"
    return action, [row], inst


@ACTORS
@given(st.lists(book_frames(), min_size=1, max_size=15))
def test_book_actor_survives_any_frames_and_writes_only_valid_records(
    frames: list[tuple[str, list[Any], str]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = VaultPaths(Path(tmp))
        health = null_reporter("book", INST)

        async def main() -> None:
            send, recv = trio.open_memory_channel[BookInbox](100)
            rs_send, _rs_recv = trio.open_memory_channel[Resubscribe](100)
            config = Config(instruments=[INST], socket=SocketConfig(resubscribe_min_interval_s=0))
            actor = BookActor(INST, config, recv, rs_send, paths, QuarantineLog(paths, INST),
                              health, wall_ms=lambda: BASE_TS)  # fmt: skip
            async with trio.open_nursery() as nursery:
                nursery.start_soon(actor.run)
                async with send:
                    for action, rows, inst in frames:
                        raw = orjson.dumps({"data": rows}, default=repr).decode()
                        await send.send(BookFrame(inst, "books", action, tuple(rows), raw, 0, 1))
                        await trio.sleep(1.0)

        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

        def bad(action: str, rows: list[Any]) -> bool:
            try:
                for row in rows:
                    parse_row(row, action)
            except MalformedRow:
                return True
            return False

        expected = sum(1 for a, rows, inst in frames if inst != INST or bad(a, rows))
        assert health.counters.get("quarantined", 0) == expected
        records = [r for p in sorted(Path(tmp).rglob("l2_perps/**/*.jsonl")) for r in iter_jsonl(p)]
        for record in records:
            assert verify_record(record)
            for level in [*record["bids_top400"], *record["asks_top400"]]:
                assert all(len(x) <= MAX_FIELD_CHARS for x in level)
            if not record["gap_detected"]:
                assert (
                    record["best_bid"] is None
                    or record["best_ask"] is None
                    or (float(record["best_bid"]) < float(record["best_ask"]))
                )
        assert not list(Path(tmp).rglob("ETH-USDT-SWAP"))  # a foreign instId names no path
