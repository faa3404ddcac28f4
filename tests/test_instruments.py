"""Instrument metadata: fetch, validate, save atomically, fall back to the saved copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from rq_actors.core.meta import InstrumentMeta
from rq_actors.io.instruments import (
    InstrumentMetaError,
    load_instrument_meta,
    parse_instrument_row,
    read_saved_meta,
)
from rq_actors.io.rest import OkxRest
from rq_actors.io.vault.paths import VaultPaths

SWAP_ROW = {
    "instType": "SWAP", "instId": "BTC-USDT-SWAP", "instFamily": "BTC-USDT", "uly": "BTC-USDT",
    "settleCcy": "USDT", "ctVal": "0.01", "ctMult": "1", "ctValCcy": "BTC", "ctType": "linear",
    "tickSz": "0.1", "lotSz": "0.01", "minSz": "0.01", "lever": "100", "state": "live",
    "listTime": "1573557408000", "expTime": "", "instIdCode": 10459, "upcChg": [],
}  # fmt: skip
SPOT_ROW = {
    "instType": "SPOT", "instId": "BTC-USDT", "ctVal": "", "ctMult": "", "ctType": "",
    "tickSz": "0.1", "lotSz": "0.00000001", "minSz": "0.00001", "state": "live",
}  # fmt: skip


class Exchange:
    def __init__(self, rows: list[Any], *, code: str = "0", down: bool = False) -> None:
        self.rows, self.code, self.down = rows, code, down
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("unreachable", request=request)
        body = {"code": self.code, "msg": "" if self.code == "0" else "nope", "data": self.rows}
        return httpx.Response(200, content=orjson.dumps(body))

    def rest(self) -> OkxRest:
        return OkxRest(
            "https://okx.test", transport=httpx.MockTransport(self.handler), max_attempts=2
        )


async def _load(tmp_path: Path, exchange: Exchange, inst_id: str) -> InstrumentMeta:
    async with exchange.rest() as rest:
        return await load_instrument_meta(rest, VaultPaths(tmp_path), inst_id)


async def test_swap_fetched_validated_and_saved(tmp_path: Path) -> None:
    exchange = Exchange([SWAP_ROW])
    meta = await _load(tmp_path, exchange, "BTC-USDT-SWAP")
    assert meta == InstrumentMeta("BTC-USDT-SWAP", "SWAP", "0.01", "1", "linear", "0.1", "0.01")
    assert dict(exchange.requests[0].url.params) == {
        "instType": "SWAP",
        "instId": "BTC-USDT-SWAP",
    }
    saved_path = VaultPaths(tmp_path).instrument_meta("BTC-USDT-SWAP")
    saved = orjson.loads(saved_path.read_bytes())
    assert saved["ctVal"] == "0.01" and saved["okx"] == SWAP_ROW
    assert [p.name for p in saved_path.parent.iterdir()] == ["BTC-USDT-SWAP.json"]  # no temp
    assert read_saved_meta(VaultPaths(tmp_path), "BTC-USDT-SWAP") == meta


async def test_spot_gets_unit_contract(tmp_path: Path) -> None:
    exchange = Exchange([SPOT_ROW])
    meta = await _load(tmp_path, exchange, "BTC-USDT")
    assert meta == InstrumentMeta("BTC-USDT", "SPOT", "1", "1", "spot", "0.1", "0.00000001")
    assert dict(exchange.requests[0].url.params)["instType"] == "SPOT"
    assert meta.market == "spot"


def test_inverse_swap_is_accepted() -> None:
    row = {**SWAP_ROW, "instId": "BTC-USD-SWAP", "ctVal": "100", "ctType": "inverse"}
    assert parse_instrument_row("BTC-USD-SWAP", row).ct_type == "inverse"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ctMult": "10"}, "ctMult='10' (only 1 is supported)"),
        ({"ctMult": ""}, "ctMult=''"),
        ({"ctVal": ""}, "ctVal=''"),
        ({"ctVal": "1e-2"}, "ctVal='1e-2'"),
        ({"ctVal": "NaN"}, "ctVal='NaN'"),
        ({"tickSz": "0"}, "tickSz='0'"),
        ({"lotSz": None}, "lotSz=None"),
        ({"ctType": ""}, "ctType=''"),
        ({"ctType": "quanto"}, "ctType='quanto'"),
        ({"instType": "FUTURES"}, "instType is 'FUTURES'"),
    ],
)
def test_invalid_swap_metadata(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InstrumentMetaError) as info:
        parse_instrument_row("BTC-USDT-SWAP", {**SWAP_ROW, **change})
    assert "BTC-USDT-SWAP" in str(info.value) and message in str(info.value)


def test_missing_fields_are_all_reported() -> None:
    row = {k: v for k, v in SWAP_ROW.items() if k not in ("ctVal", "tickSz")}
    with pytest.raises(InstrumentMetaError, match=r"ctVal=None.*tickSz=None"):
        parse_instrument_row("BTC-USDT-SWAP", row)


async def test_unknown_instrument_stops_with_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InstrumentMetaError, match="51001"):
        await _load(tmp_path, Exchange([], code="51001"), "NOPE-USDT-SWAP")


async def test_empty_answer_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InstrumentMetaError, match="returned 0 rows"):
        await _load(tmp_path, Exchange([]), "BTC-USDT-SWAP")


async def test_invalid_answer_is_not_saved(tmp_path: Path) -> None:
    with pytest.raises(InstrumentMetaError, match="ctMult"):
        await _load(tmp_path, Exchange([{**SWAP_ROW, "ctMult": "100"}]), "BTC-USDT-SWAP")
    assert not VaultPaths(tmp_path).instrument_meta("BTC-USDT-SWAP").exists()


async def test_unreachable_exchange_uses_saved_copy(tmp_path: Path, autojump_clock: Any) -> None:
    fresh = await _load(tmp_path, Exchange([SWAP_ROW]), "BTC-USDT-SWAP")
    assert await _load(tmp_path, Exchange([], down=True), "BTC-USDT-SWAP") == fresh


async def test_unreachable_without_saved_copy(tmp_path: Path, autojump_clock: Any) -> None:
    with pytest.raises(InstrumentMetaError, match=r"unreachable.*no saved metadata"):
        await _load(tmp_path, Exchange([], down=True), "BTC-USDT-SWAP")


async def test_corrupt_saved_copy_is_an_error(tmp_path: Path, autojump_clock: Any) -> None:
    path = VaultPaths(tmp_path).instrument_meta("BTC-USDT-SWAP")
    path.parent.mkdir(parents=True)
    path.write_bytes(orjson.dumps({"instId": "BTC-USDT-SWAP", "instType": "SWAP", "ctVal": "x"}))
    with pytest.raises(InstrumentMetaError, match="invalid instrument metadata"):
        await _load(tmp_path, Exchange([], down=True), "BTC-USDT-SWAP")
    path.write_bytes(b"{torn")
    with pytest.raises(InstrumentMetaError, match="cannot read saved metadata"):
        await _load(tmp_path, Exchange([], down=True), "BTC-USDT-SWAP")
