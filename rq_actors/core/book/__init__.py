"""The order-book core (SPEC §6): pure, synchronous, I/O-free; the actor is in `actors/book.py`.

- `model`: the depth-limited L2 book (exact price keys, original level strings).
- `parse`: one `books` data row → a validated `BookRow`.
- `sequence`: the seqId/prevSeqId state machine (okx-protocol.md §3.3).
- `sync`: model + sequence + crossed/checksum checks → what happened, and the gap record.
- `recovery`: when to ask for a resubscribe (one per recovery, rate-limited, backoff).
- `record`: the snapshot record with its exact key order.
"""

from rq_actors.core.book.model import BookModel, LevelError, mid_price, prepare_levels
from rq_actors.core.book.parse import BookRow, MalformedRow, parse_row
from rq_actors.core.book.record import encode_record, snapshot_record, verify_record
from rq_actors.core.book.recovery import ResubscribeScheduler
from rq_actors.core.book.sequence import SequenceTracker, Verdict
from rq_actors.core.book.sync import BookSync, Outcome

__all__ = [
    "BookModel",
    "BookRow",
    "BookSync",
    "LevelError",
    "MalformedRow",
    "Outcome",
    "ResubscribeScheduler",
    "SequenceTracker",
    "Verdict",
    "encode_record",
    "mid_price",
    "parse_row",
    "prepare_levels",
    "snapshot_record",
    "verify_record",
]
