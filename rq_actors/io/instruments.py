"""Instrument metadata at start (SPEC §5, okx-protocol §4.1, §5).

`load_instrument_meta` asks `/api/v5/public/instruments` (instType SWAP for `*-SWAP`, SPOT
otherwise), validates the answer and saves it atomically to `meta/okx/instruments/{instId}.json`.
When the exchange cannot be reached, the saved copy is used. Anything else (unknown instrument,
missing or invalid `ctVal`/`ctMult`/`ctType`/`tickSz`/`lotSz`, `ctMult != "1"`, no reachable
exchange and no saved copy) raises `InstrumentMetaError`, which stops that instrument's group:
every derived quantity depends on these numbers, so guessing them would corrupt the outputs.

The saved document holds the normalized fields at top level (spot gets `ctVal`/`ctMult` `"1"`
and `ctType` `"spot"`) and the exchange's row unchanged under `"okx"`, for readers that want
more (`minSz`, `settleCcy`, `state`, …).
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import orjson

from rq_actors.core.meta import InstrumentMeta, is_swap
from rq_actors.core.okx.trades import is_positive_decimal
from rq_actors.core.timefmt import iso_ms
from rq_actors.errors import InstrumentMetaError as InstrumentMetaError  # re-exported
from rq_actors.io.rest import OkxRest, RestError, TransientRestError
from rq_actors.io.vault.files import atomic_write_json, read_json
from rq_actors.io.vault.paths import VaultPaths

SWAP_CT_TYPES = ("linear", "inverse")


def inst_type_for(inst_id: str) -> str:
    return "SWAP" if is_swap(inst_id) else "SPOT"


def parse_instrument_row(inst_id: str, row: Any) -> InstrumentMeta:
    """Validate one row of the instruments endpoint for `inst_id` (pure)."""
    inst_type = inst_type_for(inst_id)
    if not isinstance(row, dict):
        raise InstrumentMetaError(f"{inst_id}: instrument row is not an object: {row!r}")
    if row.get("instId") != inst_id:
        raise InstrumentMetaError(f"{inst_id}: exchange answered for instId {row.get('instId')!r}")
    if row.get("instType") != inst_type:
        raise InstrumentMetaError(
            f"{inst_id}: instType is {row.get('instType')!r}, expected {inst_type!r}"
        )
    if inst_type == "SWAP":
        fields = {k: row.get(k) for k in ("ctVal", "ctMult", "ctType", "tickSz", "lotSz")}
    else:  # OKX returns "" for contract fields of spot: one unit is one unit of base currency
        fields = {"ctVal": "1", "ctMult": "1", "ctType": "spot"}
        fields |= {k: row.get(k) for k in ("tickSz", "lotSz")}
    return _validated(inst_id, inst_type, fields)


def meta_to_doc(meta: InstrumentMeta, okx_row: Any, fetched_at_ms: int) -> dict[str, Any]:
    return {
        "instId": meta.inst_id,
        "instType": meta.inst_type,
        "ctVal": meta.ct_val,
        "ctMult": meta.ct_mult,
        "ctType": meta.ct_type,
        "tickSz": meta.tick_sz,
        "lotSz": meta.lot_sz,
        "fetched_at_utc": iso_ms(fetched_at_ms),
        "okx": okx_row,
    }


def meta_from_doc(inst_id: str, doc: Any) -> InstrumentMeta:
    """Validate a saved metadata document (pure); the same rules as a fresh answer."""
    if not isinstance(doc, dict):
        raise InstrumentMetaError(f"{inst_id}: saved metadata is not a JSON object")
    if doc.get("instId") != inst_id:
        raise InstrumentMetaError(f"{inst_id}: saved metadata is for {doc.get('instId')!r}")
    inst_type = inst_type_for(inst_id)
    if doc.get("instType") != inst_type:
        raise InstrumentMetaError(
            f"{inst_id}: saved instType is {doc.get('instType')!r}, expected {inst_type!r}"
        )
    fields = {k: doc.get(k) for k in ("ctVal", "ctMult", "ctType", "tickSz", "lotSz")}
    return _validated(inst_id, inst_type, fields)


def read_saved_meta(paths: VaultPaths, inst_id: str) -> InstrumentMeta | None:
    """The saved copy, validated; None if there is none (batch tools use this too)."""
    path = paths.instrument_meta(inst_id)
    try:
        doc = read_json(path)
    except (OSError, orjson.JSONDecodeError) as exc:
        raise InstrumentMetaError(f"{inst_id}: cannot read saved metadata {path}: {exc}") from exc
    return None if doc is None else meta_from_doc(inst_id, doc)


async def load_instrument_meta(rest: OkxRest, paths: VaultPaths, inst_id: str) -> InstrumentMeta:
    """Fetch, validate and save the metadata; fall back to the saved copy if OKX is unreachable."""
    try:
        rows = await rest.instruments(inst_type_for(inst_id), inst_id)
    except TransientRestError as exc:
        saved = read_saved_meta(paths, inst_id)
        if saved is None:
            raise InstrumentMetaError(
                f"{inst_id}: exchange unreachable ({exc}) and no saved metadata at "
                f"{paths.instrument_meta(inst_id)}"
            ) from exc
        return saved
    except RestError as exc:  # the exchange answered: e.g. 51001 "instrument doesn't exist"
        raise InstrumentMetaError(f"{inst_id}: instruments request refused: {exc}") from exc
    matching = [r for r in rows if isinstance(r, dict) and r.get("instId") == inst_id]
    if len(matching) != 1:
        raise InstrumentMetaError(
            f"{inst_id}: instruments endpoint returned {len(matching)} rows for it "
            f"({len(rows)} rows in all)"
        )
    meta = parse_instrument_row(inst_id, matching[0])
    doc = meta_to_doc(meta, matching[0], int(time.time() * 1000))
    atomic_write_json(paths.instrument_meta(inst_id), doc)
    return meta


def _validated(inst_id: str, inst_type: str, fields: dict[str, Any]) -> InstrumentMeta:
    problems = [
        f"{k}={v!r} (not a positive plain decimal)"
        for k in ("ctVal", "ctMult", "tickSz", "lotSz")
        if not is_positive_decimal(v := fields.get(k))
    ]
    # Every formula uses ctVal × ctMult; OKX lists only 1, so anything else is unexplored ground.
    if not problems and Decimal(fields["ctMult"]) != 1:
        problems.append(f"ctMult={fields['ctMult']!r} (only 1 is supported)")
    allowed = SWAP_CT_TYPES if inst_type == "SWAP" else ("spot",)
    if fields.get("ctType") not in allowed:
        problems.append(f"ctType={fields.get('ctType')!r} (expected one of {list(allowed)})")
    if problems:
        raise InstrumentMetaError(f"{inst_id}: invalid instrument metadata: {'; '.join(problems)}")
    return InstrumentMeta(
        inst_id=inst_id,
        inst_type=inst_type,
        ct_val=fields["ctVal"],
        ct_mult=fields["ctMult"],
        ct_type=fields["ctType"],
        tick_sz=fields["tickSz"],
        lot_sz=fields["lotSz"],
    )
