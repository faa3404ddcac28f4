"""The book actor (SPEC §6): keeps one instrument's L2 book and writes it every 2 s.

Thin shell around `rq_actors.core.book`: receive a frame, validate and apply its rows with
`BookSync`, write records, ask the socket actor for a resubscribe when the book breaks.

- Records go to `l2_perps/{instId}/{date}/{HH}.jsonl` by the record's event time, every
  `snapshot_interval_s` of trio time while the book is live, unless nothing changed since the
  last record (or its `timestamp_utc` equals the last one written, also across restarts).
- A fault writes one `gap_detected: true` record at once, clears the book and asks for one
  resubscribe (see `ResubscribeScheduler` for the rate limit and the retry backoff).
- `ConnectionEvent(down)` of the connection that carried the book: the book is forgotten without
  a gap record (the socket actor knows about the outage; a reconnect brings a new snapshot).
- Frames carry the connection `epoch`. A snapshot makes its epoch current; updates from another
  epoch are old-connection leftovers (make-before-break overlap) and are dropped.
- Updates while we have no book at all (e.g. this actor was restarted mid-stream) ask for a
  resubscribe, since the exchange will never resend the snapshot on its own.
- Disk full (`VaultWriteError`): the appender cut the file back to its last complete line; the
  record is skipped (`write_errors`, one health error per streak of failures) and the book
  stays live, so the next interval writes the current book as soon as the disk takes it.
  Snapshots are periodic samples: the ones a full disk prevented are not re-created.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import trio

from rq_actors.config import Config
from rq_actors.core.book.parse import BookRow, MalformedRow, parse_row, row_ts_ms
from rq_actors.core.book.record import encode_record
from rq_actors.core.book.recovery import ResubscribeScheduler
from rq_actors.core.book.sync import BookSync, Outcome
from rq_actors.core.recent_keys import RecentKeys
from rq_actors.core.timefmt import MS_PER_HOUR, iso_ms
from rq_actors.io.health import HealthReporter
from rq_actors.io.vault.files import JsonlAppender, VaultWriteError, last_line, repair_torn_tail
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.io.vault.quarantine import QuarantineLog
from rq_actors.messages import BookFrame, BookInbox, ConnectionEvent, Resubscribe

# After a resubscribe, wait this long at most (doubling from `socket.subscribe_timeout_s`) for
# the snapshot before asking again.
SNAPSHOT_WAIT_MAX_S = 60.0
# Frames handled per wake-up at most, so the snapshot timer is checked at least that often.
_MAX_BATCH = 512
# Hourly snapshot files whose last timestamp is remembered; only the recent hours are written to.
_CHECKED_PATHS_LIMIT = 8


class BookActor:
    def __init__(
        self,
        inst_id: str,
        config: Config,
        inbox: trio.MemoryReceiveChannel[BookInbox],
        resubscribe_out: trio.MemorySendChannel[Resubscribe],
        paths: VaultPaths,
        quarantine: QuarantineLog,
        health: HealthReporter,
        *,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.inst_id = inst_id
        self._config = config
        self._inbox = inbox
        self._resub_out = resubscribe_out
        self._paths = paths
        self._quarantine = quarantine
        self._health = health
        self._wall_ms = wall_ms
        self._channel = config.exchange.book_channel
        self.sync = BookSync(
            inst_id,
            depth=config.book.depth,
            checksum_policy=config.book.checksum_policy,
            channel=self._channel,
        )
        sock = config.socket
        self._scheduler = ResubscribeScheduler(
            min_interval_s=sock.resubscribe_min_interval_s,
            first_wait_s=sock.subscribe_timeout_s,
            max_wait_s=SNAPSHOT_WAIT_MAX_S,
        )
        self._reason = ""  # why the current recovery started (sent with the resubscribe)
        self._epoch: int | None = None  # connection epoch the book follows
        self._snapshots = JsonlAppender()
        self._updates = JsonlAppender()
        self._written_version = -1
        self._last_written_ts: str | None = None
        self._checked_paths: RecentKeys[Path] = RecentKeys(_CHECKED_PATHS_LIMIT)
        self._disk_failing = False  # in a streak of failed writes (report its start only)

    async def run(self) -> None:
        self._health.set_state("running")
        self._repair_recent_files()
        interval = self._config.book.snapshot_interval_s
        next_tick = trio.current_time() + interval
        try:
            while True:
                deadline = next_tick
                pending = self._scheduler.deadline()
                if pending is not None:
                    deadline = min(deadline, pending)
                with trio.move_on_at(deadline):
                    try:
                        item = await self._inbox.receive()
                    except trio.EndOfChannel:
                        break
                    self._handle(item)
                    # the rest of what is waiting, in the same step (one wake-up per batch)
                    for _ in range(_MAX_BATCH):
                        try:
                            item = self._inbox.receive_nowait()
                        except (trio.WouldBlock, trio.EndOfChannel):
                            break
                        self._handle(item)
                now = trio.current_time()
                if now >= next_tick:
                    self._write_if_changed()
                    next_tick += interval
                    if next_tick <= now:  # we were busy for several intervals: do not burst
                        next_tick = now + interval
                self._poll_resubscribe(now)
            self._write_if_changed()  # orderly shutdown: the latest book is not lost
            self._health.set_state("stopped")
        finally:
            self._close()

    # -- input ------------------------------------------------------------------------------

    def _handle(self, item: BookInbox) -> None:
        if isinstance(item, ConnectionEvent):
            self._on_connection(item)
        else:
            self._on_frame(item)

    def _on_connection(self, event: ConnectionEvent) -> None:
        if event.inst_id != self.inst_id or event.endpoint != "public":
            return
        if event.state == "up":
            self._epoch = event.epoch
            # A new subscription starts with a snapshot; ask again only if none comes in time.
            self._reason = f"no snapshot after connection {event.epoch} came up"
            self._scheduler.watch(trio.current_time())
        elif self._epoch is None or event.epoch == self._epoch:
            if self.sync.live or self.sync.recovering:
                self.sync.invalidate()
                self._health.set_state("recovering")
            self._scheduler.cancel()  # the socket actor resubscribes on reconnect

    def _on_frame(self, frame: BookFrame) -> None:
        health = self._health
        health.incr("messages_in")
        if frame.inst_id != self.inst_id:
            self._quarantine.write(
                frame.raw, f"book frame for {frame.inst_id} on {self.inst_id}", health=health
            )
            return
        if self._config.book.record_updates:
            self._record_raw(frame)
        if frame.action == "snapshot":
            self._epoch = frame.epoch
        elif self._epoch is not None and frame.epoch != self._epoch:
            health.incr("stale_connection_frames")
            return
        problems: list[str] = []
        first_ts: int | None = None
        for row in frame.rows:
            try:
                msg = parse_row(row, frame.action)
            except MalformedRow as exc:
                problems.append(str(exc))
                first_ts = first_ts if first_ts is not None else row_ts_ms(row)
                continue
            self._apply(msg)
        if problems:
            # One quarantine line per frame, whatever the number of bad rows in it.
            self._quarantine.write(frame.raw, "; ".join(problems), ts_ms=first_ts, health=health)

    def _apply(self, msg: BookRow) -> None:
        outcome = self.sync.on_message(msg)
        health = self._health
        kind = outcome.kind
        if outcome.checksum_mismatch is not None:
            health.incr("checksum_mismatches")
            if self.sync.checksum_policy == "warn":
                health.error(outcome.checksum_mismatch)
        if kind in ("snapshot", "update", "heartbeat"):
            health.observe_event_time(msg.ts_ms)
            if outcome.reset:
                health.incr("seq_resets")
            if kind == "snapshot":
                health.incr("snapshots_in")
                self._scheduler.satisfied()
                health.set_state("running")
        elif kind == "fault":
            self._on_fault(msg, outcome)
        elif kind == "waiting":
            health.incr("updates_dropped")
            if not self._scheduler.recovering or self._scheduler.attempts == 0:
                self._reason = "book update without a snapshot"
                self._scheduler.request(trio.current_time())
                health.set_state("recovering")
        elif kind == "dropped":
            health.incr("updates_dropped")
        elif kind == "stale":
            health.incr("stale_dropped")

    def _on_fault(self, msg: BookRow, outcome: Outcome) -> None:
        health = self._health
        health.incr("gaps")
        self._reason = outcome.fault or "book fault"
        if outcome.gap_record is not None:
            self._write(msg.ts_ms, outcome.gap_record)
        self._written_version = self.sync.version
        self._scheduler.request(trio.current_time())
        health.error(self._reason)
        health.set_state("recovering")

    # -- resubscribe ---------------------------------------------------------------------

    def _poll_resubscribe(self, now: float) -> None:
        if not self._scheduler.poll(now):
            return
        reason = self._reason
        if self._scheduler.attempts > 1:
            reason = f"{reason} (no snapshot yet, attempt {self._scheduler.attempts})"
        try:
            self._resub_out.send_nowait(Resubscribe(self.inst_id, self._channel, reason))
        except trio.WouldBlock:
            # Never block here: the socket actor may be blocked sending us frames.
            self._scheduler.unsent(now)
            return
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._scheduler.unsent(now)
            self._health.error("resubscribe channel closed")
            return
        self._health.incr("resubscribes")

    # -- output ------------------------------------------------------------------------------

    def _write_if_changed(self) -> None:
        sync = self.sync
        if not sync.live or sync.version == self._written_version or sync.ts_ms is None:
            return
        if iso_ms(sync.ts_ms) == self._last_written_ts:
            return  # same timestamp_utc as the last record: wait for a newer message
        record = sync.record()
        if record is None:
            return
        if self._write(sync.ts_ms, record, dedup=True):
            self._written_version = sync.version

    def _write(self, ts_ms: int, record: dict[str, Any], *, dedup: bool = False) -> bool:
        path = self._paths.l2_file(self.inst_id, ts_ms)
        if path not in self._checked_paths:
            self._checked_paths.add(path)
            previous = _last_timestamp(path)
            if previous is not None:
                self._last_written_ts = previous
        stamp = record["timestamp_utc"]
        if dedup and stamp == self._last_written_ts:
            return False
        if not self._append(self._snapshots, path, encode_record(record)):
            return False
        self._last_written_ts = stamp
        self._health.incr("snapshots_written")
        return True

    def _record_raw(self, frame: BookFrame) -> None:
        stamps = [ts for ts in map(row_ts_ms, frame.rows) if ts is not None]
        ts_ms = max(stamps) if stamps else (self.sync.ts_ms or self._wall_ms())
        # JSON text never needs a raw newline; removing them keeps one frame on one line.
        raw = frame.raw.replace("\r", "").replace("\n", "")
        self._append(self._updates, self._paths.l2_updates_file(self.inst_id, ts_ms), raw.encode())

    def _append(self, out: JsonlAppender, path: Path, line: bytes) -> bool:
        try:
            out.append(path, [line])
        except VaultWriteError as exc:
            self._health.incr("write_errors")
            if not self._disk_failing:
                self._disk_failing = True
                self._health.error(f"{exc}; book records are skipped until it works again")
            return False
        self._disk_failing = False
        return True

    def _repair_recent_files(self) -> None:
        # The hour being written when a previous run died is around now (event time tracks the
        # wall clock closely); the appender also repairs any file before its first append.
        now = self._wall_ms()
        for ts in (now - MS_PER_HOUR, now):
            repair_torn_tail(self._paths.l2_file(self.inst_id, ts))
            if self._config.book.record_updates:
                repair_torn_tail(self._paths.l2_updates_file(self.inst_id, ts))

    def _close(self) -> None:
        for out in (self._snapshots, self._updates):
            try:
                out.sync()
            finally:
                out.close()


def _last_timestamp(path: Path) -> str | None:
    line = last_line(path)
    if not line:
        return None
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    stamp = doc.get("timestamp_utc") if isinstance(doc, dict) else None
    return stamp if isinstance(stamp, str) else None
