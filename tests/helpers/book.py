"""BookActor test kit: `books` frames, a harness over memory channels (see the `harness` fixture
in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import orjson
import trio
import trio.testing

from rq_actors.actors.book import BookActor
from rq_actors.config import BookConfig, Config, SocketConfig
from rq_actors.io.health import HealthReporter, null_reporter
from rq_actors.io.vault.files import iter_jsonl
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.io.vault.quarantine import QuarantineLog
from rq_actors.messages import BookFrame, BookInbox, Resubscribe

INST = "BTC-USDT-SWAP"
T0 = 1_765_710_000_000  # 2025-12-14T11:00:00Z
BIDS = [["100", "1", "0", "1"], ["99", "2", "0", "1"]]
ASKS = [["101", "3", "0", "1"], ["102", "4", "0", "1"]]
TICK = 2.01  # just past one snapshot interval (ties with the tick are unordered)


def lv(px: str, sz: str) -> list[str]:
    return [px, sz, "0", "1"]


def frame(
    action: str,
    prev: int,
    seq: int,
    ts: int,
    bids: list[list[str]] | None = None,
    asks: list[list[str]] | None = None,
    *,
    epoch: int = 1,
    inst_id: str = INST,
    checksum: int = 0,
) -> BookFrame:
    row = {
        "asks": asks or [],
        "bids": bids or [],
        "ts": str(ts),
        "checksum": checksum,
        "prevSeqId": prev,
        "seqId": seq,
    }
    raw = orjson.dumps(
        {"arg": {"channel": "books", "instId": inst_id}, "action": action, "data": [row]}
    ).decode()
    return BookFrame(inst_id, "books", action, (row,), raw, 0, epoch)


def snapshot(seq: int, ts: int, *, epoch: int = 1) -> BookFrame:
    return frame("snapshot", -1, seq, ts, BIDS, ASKS, epoch=epoch)


@attrs.define
class Harness:
    inbox: trio.MemorySendChannel[BookInbox]
    resubs: trio.MemoryReceiveChannel[Resubscribe]
    actor: BookActor
    health: HealthReporter
    paths: VaultPaths
    done: trio.Event

    async def send(self, *items: BookInbox) -> None:
        for item in items:
            await self.inbox.send(item)
        await trio.testing.wait_all_tasks_blocked()

    def records(self, ts: int = T0) -> list[dict[str, Any]]:
        path = self.paths.l2_file(INST, ts)
        return list(iter_jsonl(path)) if path.exists() else []

    def resubscribes(self) -> list[Resubscribe]:
        out = []
        while True:
            try:
                out.append(self.resubs.receive_nowait())
            except trio.WouldBlock:
                return out

    def count(self, name: str) -> int:
        return self.health.counters.get(name, 0)


def make_config(**book: Any) -> Config:
    return Config(
        instruments=[INST],
        book=BookConfig(**book),
        socket=SocketConfig(resubscribe_min_interval_s=5.0, subscribe_timeout_s=10.0),
    )


@asynccontextmanager
async def open_book_harness(tmp_path: Path, **book_cfg: Any) -> AsyncIterator[Harness]:
    """A running `BookActor` over memory channels; `book_cfg` are `[book]` settings."""
    paths = VaultPaths(tmp_path)
    send, recv = trio.open_memory_channel[BookInbox](1000)
    rs_send, rs_recv = trio.open_memory_channel[Resubscribe](100)
    health = null_reporter("book", INST)
    quarantine = QuarantineLog(paths, INST)
    actor = BookActor(
        INST,
        make_config(**book_cfg),
        recv,
        rs_send,
        paths,
        quarantine,
        health,
        wall_ms=lambda: T0,
    )
    done = trio.Event()

    async def run() -> None:
        await actor.run()
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await trio.testing.wait_all_tasks_blocked()
        yield Harness(send, rs_recv, actor, health, paths, done)
        nursery.cancel_scope.cancel()
    quarantine.close()
