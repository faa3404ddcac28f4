"""Wire-level faults: what reaches every connection differs from the truth the recorder keeps.

One-shot controls (`inject_gap`, `corrupt_next_checksum`, `duplicate_next`) and the seeded
random faults of `FaultOptions` share one mechanism, applied once per published message so
every connection sees the same fault.
"""

from __future__ import annotations

import random

from rq_actors.sim.events import BookMessage, Fill, TradeGroup
from rq_actors.sim.frames import encode_book, encode_trades, encode_trades_all, malformed
from rq_actors.sim.options import FaultOptions


class WireFaults:
    def __init__(self, options: FaultOptions, rng: random.Random) -> None:
        self.options = options
        self._rng = rng
        self._gap: set[str] = set()
        self._corrupt: set[str] = set()
        self._dup: set[tuple[str, str]] = set()  # (instId, channel)

    # ---- one-shot controls ------------------------------------------------------------------

    def inject_gap(self, inst_id: str) -> None:
        self._gap.add(inst_id)

    def corrupt_next_checksum(self, inst_id: str) -> None:
        self._corrupt.add(inst_id)

    def duplicate_next(self, inst_id: str) -> None:
        self._dup.update({(inst_id, "books"), (inst_id, "trades"), (inst_id, "trades-all")})

    # ---- per message ------------------------------------------------------------------------

    def book_frames(self, msg: BookMessage) -> list[str]:
        """Frames for a canonical books message: none (skipped), one, or more."""
        inst = msg.inst_id
        opts = self.options
        # Only a message that moves the sequence can open a gap or carry a checksum worth
        # breaking; a skipped heartbeat would leave the chain intact.
        linkable = msg.action == "update" and not msg.is_heartbeat
        if linkable and (inst in self._gap or self._chance(opts.gap_prob)):
            self._gap.discard(inst)
            return []
        checksum = None
        if linkable and (inst in self._corrupt or self._chance(opts.bad_checksum_prob)):
            self._corrupt.discard(inst)
            checksum = _corrupted(msg.checksum)
        return self._decorate(encode_book(msg, checksum=checksum), inst, "books")

    def trades_frames(self, group: TradeGroup) -> list[str]:
        return self._decorate(encode_trades(group), group.inst_id, "trades")

    def trades_all_frames(self, fill: Fill) -> list[str]:
        return self._decorate(encode_trades_all(fill), fill.inst_id, "trades-all")

    def unknown_inst_due(self) -> bool:
        return self._chance(self.options.unknown_inst_prob)

    def _decorate(self, frame: str, inst: str, channel: str) -> list[str]:
        out = []
        if self._chance(self.options.malformed_prob):
            out.append(malformed(frame))
        out.append(frame)
        key = (inst, channel)
        if key in self._dup or self._chance(self.options.duplicate_prob):
            self._dup.discard(key)
            out.append(frame)
        return out

    def _chance(self, prob: float) -> bool:
        return prob > 0.0 and self._rng.random() < prob


def _corrupted(checksum: int) -> int:
    """A different, non-zero signed 32-bit value (0 would read as "no checksum")."""
    bad = checksum ^ 0x5A5A5A5A
    if bad >= 1 << 31:
        bad -= 1 << 32
    return bad or 1
