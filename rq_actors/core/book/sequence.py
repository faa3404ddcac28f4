"""The `seqId`/`prevSeqId` state machine of okx-protocol.md §3.3, as a pure class.

The documented rule is linkage only: a message applies when its `prevSeqId` equals the last
accepted `seqId`. Monotonicity is not an invariant (resets go backwards) and `seqId` is not
consecutive, so neither is checked.
"""

from __future__ import annotations

import enum


class Verdict(enum.Enum):
    SNAPSHOT = "snapshot"  # replace the book; now live with last = seqId
    APPLY = "apply"  # linked update
    RESET = "reset"  # linked update with seqId < prevSeqId (maintenance); applied like APPLY
    HEARTBEAT = "heartbeat"  # linked, empty, seqId == prevSeqId: nothing to apply
    STALE = "stale"  # an old duplicate (seqId <= last and prevSeqId < last): drop, not a gap
    WAITING = "waiting"  # an update while we have no book: drop until a snapshot
    GAP = "gap"  # broken linkage: the book is invalid until a new snapshot


APPLIED = frozenset({Verdict.SNAPSHOT, Verdict.APPLY, Verdict.RESET, Verdict.HEARTBEAT})


class SequenceTracker:
    """Per (channel, instId). `last` is the last accepted seqId, None while not live."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: int | None = None

    @property
    def live(self) -> bool:
        return self.last is not None

    def observe(self, is_snapshot: bool, prev_seq_id: int, seq_id: int, empty: bool) -> Verdict:
        """Classify a message and advance the state. GAP leaves the tracker not live."""
        if is_snapshot:
            # The action is authoritative: a full book replaces ours whatever its prevSeqId
            # (documented as -1), since absolute levels cannot be mis-applied.
            self.last = seq_id
            return Verdict.SNAPSHOT
        last = self.last
        if last is None:
            return Verdict.WAITING
        if prev_seq_id == last:
            self.last = seq_id
            if seq_id < prev_seq_id:
                return Verdict.RESET
            if empty and seq_id == prev_seq_id:
                return Verdict.HEARTBEAT
            return Verdict.APPLY
        if seq_id <= last and prev_seq_id < last:
            # A replayed message we already applied (gocryptotrader's guard). A message that
            # was never applied cannot look like this unless it was reordered behind a later
            # one, in which case the next message breaks the link and is caught as a gap.
            return Verdict.STALE
        self.last = None
        return Verdict.GAP

    def invalidate(self) -> None:
        """Corruption found after applying, or the connection went down: wait for a snapshot."""
        self.last = None
