"""Save and load the simulator's truth, so a test can compare a vault written by another process
with what a simulator process published (`rq sim --record-dir DIR`, written when it stops)."""

from __future__ import annotations

from pathlib import Path

import orjson

from rq_actors.sim.events import BookMessage, Fill, TradeGroup
from rq_actors.sim.recorder import Recorder


def save_recording(recorder: Recorder, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for inst_id, fills in recorder.fills.items():
        rows = (orjson.dumps([f.trade_id, f.ts_ms, f.px, f.sz, f.side]) + b"\n" for f in fills)
        (folder / f"{inst_id}.fills.jsonl").write_bytes(b"".join(rows))
    for inst_id, log in recorder.book_log.items():
        rows = (
            orjson.dumps([m.action, m.seq_id, m.prev_seq_id, m.ts_ms, m.bids, m.asks, m.checksum])
            + b"\n"
            for m in log
        )
        (folder / f"{inst_id}.book.jsonl").write_bytes(b"".join(rows))


def load_recording(folder: Path) -> Recorder:
    """A `Recorder` holding what `save_recording` wrote (whole logs: nothing was trimmed)."""
    rec = Recorder()
    for path in sorted(folder.glob("*.fills.jsonl")):
        inst_id = path.name.removesuffix(".fills.jsonl")
        for line in path.read_bytes().splitlines():
            trade_id, ts_ms, px, sz, side = orjson.loads(line)
            fill = Fill(inst_id, trade_id, ts_ms, px, sz, side)
            rec.record(TradeGroup(inst_id, ts_ms, px, sz, side, 0, (fill,)))
    for path in sorted(folder.glob("*.book.jsonl")):
        inst_id = path.name.removesuffix(".book.jsonl")
        for line in path.read_bytes().splitlines():
            action, seq, prev, ts_ms, bids, asks, checksum = orjson.loads(line)
            rec.record(BookMessage(inst_id, action, seq, prev, ts_ms, bids, asks, checksum))
    return rec
