"""Instrument metadata (SPEC §5, okx-protocol.md §4.1, §5): contract facts every metric needs."""

from __future__ import annotations

from decimal import Decimal

import attrs

EXCHANGE = "okx"


def is_swap(inst_id: str) -> bool:
    """Perpetual swaps end in `-SWAP`; everything else captured here is spot."""
    return inst_id.endswith("-SWAP")


@attrs.frozen
class InstrumentMeta:
    inst_id: str
    inst_type: str  # "SWAP" | "SPOT"
    ct_val: str  # exact strings as OKX sent them ("1" for spot)
    ct_mult: str
    ct_type: str  # "linear" | "inverse" | "spot"
    tick_sz: str
    lot_sz: str

    @property
    def market(self) -> str:
        return "spot" if self.inst_type == "SPOT" else "perp"

    @property
    def symbol_canon(self) -> str:
        """`BTC-USDT-SWAP` → `BTC/USDT`."""
        parts = self.inst_id.split("-")
        return f"{parts[0]}/{parts[1]}" if len(parts) >= 2 else self.inst_id

    @property
    def tick(self) -> Decimal:
        return Decimal(self.tick_sz)

    @property
    def contract_base(self) -> Decimal:
        """Base quantity of one contract for a linear swap (`ctVal × ctMult`); 1 for spot."""
        return Decimal(self.ct_val) * Decimal(self.ct_mult)
