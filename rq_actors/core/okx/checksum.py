"""OKX order-book CRC32 (okx-protocol.md §3.5), over the price/size strings exactly as received."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

CHECKSUM_LEVELS = 25


def book_checksum(bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]) -> int:
    """Signed CRC32 of the top 25 levels, interleaved `bidPx:bidSz:askPx:askSz:…`.

    `bids` best-first (descending), `asks` best-first (ascending); each level starts with the
    original price and size strings. Where one side is shorter, its missing entries are skipped.
    """
    parts: list[str] = []
    for i in range(CHECKSUM_LEVELS):
        if i < len(bids):
            parts.append(bids[i][0])
            parts.append(bids[i][1])
        if i < len(asks):
            parts.append(asks[i][0])
            parts.append(asks[i][1])
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= (1 << 31) else crc
