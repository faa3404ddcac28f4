"""What the generated market publishes: fills, aggregated trade groups and book messages."""

from __future__ import annotations

import attrs

Level = list[str]  # [px, sz, "0", numOrders], the OKX wire shape


@attrs.frozen(slots=True)
class Fill:
    """One maker match: the unit of `trades-all` and of REST trade history."""

    inst_id: str
    trade_id: int
    ts_ms: int
    px: str
    sz: str
    side: str  # taker side, "buy" | "sell"


@attrs.frozen(slots=True)
class TradeGroup:
    """One taker order at one price: the unit of the aggregated `trades` channel."""

    inst_id: str
    ts_ms: int
    px: str
    sz: str  # sum of the fills' sizes
    side: str
    seq_id: int  # shared by every group of the same taker order
    fills: tuple[Fill, ...]

    @property
    def trade_id(self) -> int:
        return self.fills[-1].trade_id

    @property
    def count(self) -> int:
        return len(self.fills)


@attrs.frozen(slots=True)
class BookMessage:
    """One message of the canonical `books` stream (the truth, before any wire fault)."""

    inst_id: str
    action: str  # "snapshot" | "update"
    seq_id: int
    prev_seq_id: int
    ts_ms: int
    bids: list[Level]  # best first
    asks: list[Level]
    checksum: int = 0  # 0 unless the market computes real CRCs

    @property
    def is_heartbeat(self) -> bool:
        return (
            self.action == "update"
            and self.seq_id == self.prev_seq_id
            and not (self.bids or self.asks)
        )

    @property
    def is_reset(self) -> bool:
        return self.action == "update" and self.seq_id < self.prev_seq_id


MarketEvent = TradeGroup | BookMessage
