"""A book kept in sync with the exchange: model + sequence tracker + integrity checks. Pure.

`BookSync.on_message` applies one validated message and says what happened. On a fault (broken
linkage, a crossed book after an update, or a checksum mismatch under the `resubscribe` policy)
it builds the one `gap_detected: true` record, clears the book and stops applying anything until
the next snapshot. Talking to the socket actor and writing files is the actor's job.

What the gap record holds (SPEC §6 leaves it open):
- the book exactly as held when the fault was seen, before clearing: for a sequence gap that is
  the last good book (the offending update is not applied); for corruption it includes the
  update that revealed it (crossed levels / mismatching checksum), which is what one needs to
  diagnose it. `gap_detected: true` tells readers not to trust it as a normal snapshot;
- `timestamp_utc`, `seqId`, `prevSeqId` of the offending message, so the break is visible in
  the file (when and which link failed).

A crossed book is checked after updates only (SPEC §6): a snapshot is the exchange's own state.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from rq_actors.core.book.model import BookModel
from rq_actors.core.book.parse import BookRow
from rq_actors.core.book.record import snapshot_record
from rq_actors.core.book.sequence import SequenceTracker, Verdict

Kind = Literal["snapshot", "update", "heartbeat", "stale", "waiting", "dropped", "fault"]
CHECKSUM_POLICIES = ("resubscribe", "warn", "off")


@attrs.frozen(slots=True)
class Outcome:
    kind: Kind
    changed: bool = False  # the book content changed
    reset: bool = False  # a legal sequence reset (seqId < prevSeqId)
    fault: str | None = None  # why the book was dropped (kind == "fault")
    gap_record: dict[str, Any] | None = None  # the one record to write for the fault
    checksum_mismatch: str | None = None  # a non-zero checksum that did not match (any policy)


class BookSync:
    def __init__(
        self,
        inst_id: str,
        *,
        depth: int = 400,
        checksum_policy: str = "resubscribe",
        channel: str = "books",
        channel_depth: int = 400,
    ) -> None:
        """`depth`: levels per side written in records. The model keeps the channel's full
        `channel_depth` (400 for `books`): a shallower model would lose the deep levels that
        move up when the top is consumed, and the written top would silently diverge."""
        if checksum_policy not in CHECKSUM_POLICIES:
            raise ValueError(f"unknown checksum_policy {checksum_policy!r}")
        self.inst_id = inst_id
        self.channel = channel
        self.checksum_policy = checksum_policy
        self.depth = min(depth, channel_depth)
        self.model = BookModel(channel_depth)
        self.tracker = SequenceTracker()
        self.recovering = False  # a fault happened; waiting for a snapshot
        self.version = 0  # bumps whenever the book's content changes (record dedup)
        self.ts_ms: int | None = None  # event time of the last applied message
        self.seq_id = -1
        self.prev_seq_id = -1

    @property
    def live(self) -> bool:
        """The book can be published: a snapshot was applied and nothing broke since."""
        return self.tracker.live

    def on_message(self, msg: BookRow) -> Outcome:
        if self.recovering and msg.action != "snapshot":
            return Outcome("dropped")  # no re-reporting while recovering: no resubscribe storm
        verdict = self.tracker.observe(
            msg.action == "snapshot", msg.prev_seq_id, msg.seq_id, msg.is_empty
        )
        if verdict is Verdict.STALE:
            return Outcome("stale")
        if verdict is Verdict.WAITING:
            return Outcome("waiting")
        if verdict is Verdict.GAP:
            return self._fault(
                msg, f"sequence gap: prevSeqId {msg.prev_seq_id} != last seqId {self.seq_id}"
            )
        if verdict is Verdict.SNAPSHOT:
            self.model.load_snapshot(msg.bids, msg.asks)
            self.recovering = False
            changed = True
        elif verdict is Verdict.HEARTBEAT:
            changed = False
        else:
            changed = self.model.apply_update(msg.bids, msg.asks)
            if self.model.is_crossed():
                return self._fault(msg, self._crossed_reason())
        mismatch = self._check_checksum(msg)
        if mismatch is not None and self.checksum_policy == "resubscribe":
            return self._fault(msg, mismatch, checksum_mismatch=mismatch)
        self._accept(msg, changed)
        kind: Kind = "update"
        if verdict is Verdict.SNAPSHOT:
            kind = "snapshot"
        elif verdict is Verdict.HEARTBEAT:
            kind = "heartbeat"
        return Outcome(
            kind,
            changed=changed,
            reset=verdict is Verdict.RESET,
            checksum_mismatch=mismatch,
        )

    def invalidate(self) -> None:
        """Forget the book without a record (the connection carrying it went down)."""
        self.model.clear()
        self.tracker.invalidate()
        self.recovering = False
        self.version += 1

    def record(self, *, gap_detected: bool = False) -> dict[str, Any] | None:
        """The snapshot record of the current book, or None while it is not live."""
        if not self.live or self.ts_ms is None:
            return None
        return self._record(self.ts_ms, self.seq_id, self.prev_seq_id, gap_detected)

    def _record(
        self, ts_ms: int, seq_id: int, prev_seq_id: int, gap_detected: bool
    ) -> dict[str, Any]:
        return snapshot_record(
            self.model,
            depth=self.depth,
            inst_id=self.inst_id,
            channel=self.channel,
            ts_ms=ts_ms,
            seq_id=seq_id,
            prev_seq_id=prev_seq_id,
            gap_detected=gap_detected,
        )

    def _accept(self, msg: BookRow, changed: bool) -> None:
        self.ts_ms = msg.ts_ms
        self.seq_id = msg.seq_id
        self.prev_seq_id = msg.prev_seq_id
        if changed:
            self.version += 1

    def _fault(self, msg: BookRow, reason: str, *, checksum_mismatch: str | None = None) -> Outcome:
        # Faults only happen while live or on a snapshot, so there is a book to record.
        gap_record = self._record(msg.ts_ms, msg.seq_id, msg.prev_seq_id, True)
        self.model.clear()
        self.tracker.invalidate()
        self.recovering = True
        self.version += 1
        return Outcome(
            "fault", fault=reason, gap_record=gap_record, checksum_mismatch=checksum_mismatch
        )

    def _check_checksum(self, msg: BookRow) -> str | None:
        # 0 means "not provided" (OKX pins it to 0 since 2026-06-23): never a mismatch.
        if msg.checksum == 0 or self.checksum_policy == "off":
            return None
        ours = self.model.checksum()
        if ours == msg.checksum:
            return None
        return f"checksum mismatch at seqId {msg.seq_id}: exchange {msg.checksum}, ours {ours}"

    def _crossed_reason(self) -> str:
        bid, ask = self.model.best_bid(), self.model.best_ask()
        assert bid is not None and ask is not None
        return f"crossed book: best bid {bid[0]} >= best ask {ask[0]}"
