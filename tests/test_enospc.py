"""Disk full (ENOSPC) while capturing (issue: reliability suite, part 3).

The fault is injected at the OS call: `os.write` as seen by `rq_actors.io.vault.files` writes half
of what it was given, then raises `OSError(ENOSPC)`, exactly what a filling disk does to a
large append. What must hold: no torn line is ever left in a file, the trade writer reports the
disk problem and keeps every trade (in memory, or re-fetched from REST after a restart), and
when space returns the vault holds every trade exactly once; the book writer skips snapshots
while the disk is full and resumes.
"""

from __future__ import annotations

import errno
import os
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
import trio.testing

from rq_actors.actors.trade_writer import TradeWriterActor
from rq_actors.core.book.record import verify_record
from rq_actors.core.trades.record import decode_trade
from rq_actors.io.vault import files
from rq_actors.io.vault.files import JsonlAppender, VaultWriteError
from tests.helpers.book import T0, TICK, frame, lv, snapshot
from tests.helpers.book import Harness as BookHarness
from tests.helpers.trades import INST, FakeHistory, Harness, fill_row
from tests.helpers.trades import frame as trade_frame


class FullDisk:
    """`os.write` for `rq_actors.io.vault.files` only: while `is_full()`, writes to a path holding
    `match` store half their bytes and raise ENOSPC."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, match: str) -> None:
        self.match = match
        self.is_full: Callable[[], bool] = lambda: False
        self.failures = 0
        self.truncate_fails = False
        real = os

        def write(fd: int, data: Any) -> int:
            if self.is_full() and self.match in real.readlink(f"/proc/self/fd/{fd}"):
                self.failures += 1
                real.write(fd, bytes(data[: max(1, len(data) // 2)]))
                raise OSError(errno.ENOSPC, "No space left on device")
            return real.write(fd, data)

        def ftruncate(fd: int, length: int) -> None:
            if self.truncate_fails and self.is_full():
                raise OSError(errno.EIO, "Input/output error")
            real.ftruncate(fd, length)

        proxy = types.SimpleNamespace(
            **{k: getattr(os, k) for k in dir(os) if not k.startswith("__")}
        )
        proxy.write = write
        proxy.ftruncate = ftruncate
        monkeypatch.setattr(files, "os", proxy)

    def between(self, start: float, end: float) -> None:
        """Full from trio time `start` to `end` (the tests run on a MockClock)."""
        self.is_full = lambda: start <= trio.current_time() < end


def _whole_lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), f"torn tail in {path}: {data[-60:]!r}"
    return data.splitlines()


# ---- the appender ----------------------------------------------------------------------------


@pytest.mark.parametrize("truncate_fails", [False, True])
def test_failed_append_leaves_no_torn_line_and_next_append_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, truncate_fails: bool
) -> None:
    disk = FullDisk(monkeypatch, "t.jsonl")
    disk.truncate_fails = truncate_fails
    path = tmp_path / "t.jsonl"
    out = JsonlAppender()
    out.append(path, [b'{"a":1}'])
    full = True
    disk.is_full = lambda: full
    with pytest.raises(VaultWriteError) as info:
        out.append(path, [b'{"a":2}', b'{"a":3}'])
    err = info.value
    assert err.errno == errno.ENOSPC and err.path == path
    assert "disk full" in str(err) and str(path) in str(err)
    if not truncate_fails:
        assert path.read_bytes() == b'{"a":1}\n'  # the half-written batch was cut back
    full = False  # space is back: the retry appends whole lines after the last good one
    out.append(path, [b'{"a":2}', b'{"a":3}'])
    out.close()
    assert path.read_bytes() == b'{"a":1}\n{"a":2}\n{"a":3}\n'


def test_a_new_file_or_folder_that_cannot_be_made_is_a_vault_write_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args: Any, **kw: Any) -> None:
        if self.name == "2025-12-15":  # the next day's folder, on a full disk
            raise OSError(errno.ENOSPC, "No space left on device")
        real_mkdir(self, *args, **kw)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    out = JsonlAppender()
    out.append(tmp_path / "2025-12-14" / "23.jsonl", [b"{}"])
    with pytest.raises(VaultWriteError, match=r"disk full.*nothing was written") as info:
        out.append(tmp_path / "2025-12-15" / "00.jsonl", [b"{}"])
    assert info.value.errno == errno.ENOSPC
    assert out.current_path is None  # the next append opens afresh


# ---- the trade writer ------------------------------------------------------------------------


def _frames(ids: range) -> list[Any]:
    return [trade_frame([fill_row(i)]) for i in ids]


async def test_trade_writer_keeps_trades_while_the_disk_is_full(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk(monkeypatch, "/raw/okx/trades_perps/")
    h = Harness(tmp_path, FakeHistory([fill_row(i) for i in range(1, 41)]))
    start = trio.current_time()
    disk.between(start + 10, start + 25)  # 15 s of full disk
    await h.run([*_frames(range(1, 6)), 10.0, *_frames(range(6, 21)), 5.0, *_frames(range(21, 31)),
                 20.0, *_frames(range(31, 41)), 2.0])  # fmt: skip

    assert disk.failures >= 3  # retried with backoff while full
    assert h.health.counters["write_errors"] == disk.failures
    assert h.health.last_error is not None and "disk full" in h.health.last_error
    assert "trades_perps" in h.health.last_error
    assert any(r.state == "recovering" for r in h.health.history)
    # nothing torn, nothing lost, nothing twice, and the derived feed saw it once, in order
    for path in (tmp_path / "raw").rglob("*.jsonl"):
        [decode_trade(line) for line in _whole_lines(path)]
    assert h.vault_ids() == list(range(1, 41))
    assert h.fed_ids() == list(range(1, 41))
    assert h.health.state == "stopped"


async def test_trade_writer_restarted_during_a_full_disk_backfills_what_was_lost(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supervisor's path: the writer stops (or fails) while trades are only in memory; the
    restarted writer finds its position in the vault and the REST history fills the hole."""
    disk = FullDisk(monkeypatch, "/raw/okx/trades_perps/")
    h = Harness(tmp_path, FakeHistory([fill_row(i) for i in range(1, 31)]))
    start = trio.current_time()
    disk.between(start + 5, start + 1e9)
    await h.run([*_frames(range(1, 6)), 5.0, *_frames(range(6, 16)), 3.0])
    assert (
        h.health.counters["unwritten_dropped_at_stop"]
        + h.health.counters.get("held_dropped_at_stop", 0)
        == 10
    )
    assert h.vault_ids() == [1, 2, 3, 4, 5]
    disk.is_full = lambda: False
    await h.run([*_frames(range(16, 31)), 3.0])  # restart: live resumes at 16, hole 6..15
    assert h.vault_ids() == list(range(1, 31))
    assert h.health.counters["backfilled"] == 10


async def test_held_trades_are_bounded_while_the_disk_is_full(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk(monkeypatch, "/raw/okx/trades_perps/")
    h = Harness(tmp_path, FakeHistory([fill_row(i) for i in range(1, 61)]))
    start = trio.current_time()
    disk.between(start + 5, start + 20)
    # a small cap, so the live trades of a long outage are dropped and recovered from REST
    defaults = TradeWriterActor.__init__.__kwdefaults__
    monkeypatch.setitem(defaults, "max_held_while_blocked", 5)
    await h.run([*_frames(range(1, 4)), 5.0, *_frames(range(4, 41)), 20.0,
                 *_frames(range(41, 61)), 3.0])  # fmt: skip
    assert h.health.counters["held_dropped_disk_full"] > 0
    assert h.vault_ids() == list(range(1, 61))


async def test_quarantine_on_a_full_disk_does_not_stop_capture(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk(monkeypatch, "/quarantine/")
    disk.is_full = lambda: True
    h = Harness(tmp_path, FakeHistory())
    bad = trade_frame([{**fill_row(2), "px": "1e9"}])
    await h.run([*_frames(range(1, 2)), bad, *_frames(range(2, 4))])
    assert h.vault_ids() == [1, 2, 3]
    assert h.health.counters["quarantine_write_errors"] == 1
    assert not list((tmp_path / "quarantine").rglob("*.jsonl")) or all(
        _whole_lines(p) == [] for p in (tmp_path / "quarantine").rglob("*.jsonl")
    )


# ---- the book snapshot writer ----------------------------------------------------------------


async def test_book_writer_skips_snapshots_while_full_and_resumes(
    harness: BookHarness,  # the fixture in conftest.py
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    disk = FullDisk(monkeypatch, "/raw/okx/l2_perps/")
    full = True
    disk.is_full = lambda: full
    await harness.send(snapshot(10, T0))
    for seq in range(11, 14):  # three intervals, each with a change: three failed writes
        await trio.sleep(TICK)
        await harness.send(frame("update", seq - 1, seq, T0 + seq, [lv("100", str(seq))]))
    await trio.sleep(TICK)
    assert harness.records() == []
    assert harness.count("write_errors") == disk.failures >= 3
    errors = [r for r in harness.health.history if r.last_error and "disk full" in r.last_error]
    assert len({r.counters.get("errors") for r in errors}) == 1  # one error per streak
    assert harness.actor.sync.live  # the book itself is kept
    full = False
    await trio.sleep(TICK)
    await harness.send(frame("update", 13, 14, T0 + 14, [lv("100", "9")]))
    await trio.sleep(TICK)
    records = harness.records()
    path = harness.paths.l2_file(INST, T0)
    assert len(_whole_lines(path)) == len(records) >= 1
    assert all(verify_record(r) for r in records)
    assert orjson.loads(_whole_lines(path)[-1])["seqId"] == 14
