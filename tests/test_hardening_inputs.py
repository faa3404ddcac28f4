"""Input hardening (issue: reliability suite, part 2): hostile instIds, numbers and sizes.

Each case is rejected where it enters (config, WebSocket frame, trade row, book level, REST
row), with a short reason, and never reaches a file path or the vault.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import trio

from rq_actors.config import ConfigError, load_config
from rq_actors.core.book.parse import MalformedRow, parse_row
from rq_actors.core.okx.trades import Reject, parse_trade_row
from rq_actors.io.backfill import fetch_history
from rq_actors.io.instruments import InstrumentMetaError, parse_instrument_row
from rq_actors.io.vault.paths import VaultPaths
from tests.helpers.fake_okx import running, wait_until
from tests.helpers.trades import BASE_TS, INST, FakeHistory, Harness, fill_row, frame

HUGE = "1" * 1_000_000  # a 1 MB "price"
BAD_NUMBERS = ["1e5", "1E5", "NaN", "nan", "Infinity", "-inf", "-1", "-0.5", "0", "0.000",
               "+1", " 1", "1_0", "0x1f", "١٢", HUGE, "0." + "0" * 50 + "1", "", "1.",
               ".1"]  # fmt: skip
EVIL_INST_IDS = ["../../etc/passwd", "BTC-USDT-SWAP/../../x", "BTC-USDT\x00-SWAP",
                 "btc-usdt-swap", "/abs/path", "ETH-USDT-SWAP"]  # fmt: skip


# ---- config ----------------------------------------------------------------------------------


@pytest.mark.parametrize("inst", [*EVIL_INST_IDS[:5], ".", "..", "A", "BTC-USDT-SWAP "])
def test_config_refuses_inst_ids_unsafe_in_paths(tmp_path: Path, inst: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"instruments = [{json.dumps(inst)}]\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "instruments[0]"


# An overlong instId would fail the first write with ENAMETOOLONG: refused in the config.
def test_config_refuses_overlong_inst_ids(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'instruments = ["{"A" * 5000}-USDT"]\n')
    with pytest.raises(ConfigError):
        load_config(path)


# ---- WebSocket frames and trade rows ---------------------------------------------------------


@pytest.mark.parametrize("inst", EVIL_INST_IDS)
async def test_trade_row_for_another_inst_id_is_quarantined_under_ours(
    tmp_path: Path, autojump_clock: Any, inst: str
) -> None:
    h = Harness(tmp_path, FakeHistory())
    evil = frame([fill_row(2, inst=inst)])
    await h.run([frame([fill_row(1)]), evil, frame([fill_row(3)]), 3.0])
    (q,) = [q for q in h.quarantine_records() if q["kind"] == "rejected"]
    assert q["raw"] == evil.raw and "is not the configured" in q["reason"]
    assert q["instId"] == INST
    # no file or folder anywhere but under our own instrument (and the day's quarantine)
    touched = {p.relative_to(tmp_path).parts for p in tmp_path.rglob("*") if p.is_file()}
    assert all(INST in parts for parts in touched), touched
    assert h.vault_ids() == [1, 3]


@pytest.mark.parametrize("inst", EVIL_INST_IDS)
async def test_push_for_another_inst_id_is_quarantined_by_the_socket(
    tmp_path: Path, inst: str
) -> None:
    async with running(tmp_path) as h:
        await wait_until(lambda: h.health.state == "running")
        [bus] = h.fake.on("business")
        await bus.send({"arg": {"channel": "trades-all", "instId": inst},
                        "data": [fill_row(1, inst=inst)]})  # fmt: skip
        await wait_until(lambda: h.health.counters.get("quarantined", 0) == 1)
        assert not h.trades or all(getattr(m, "rows", ()) == () for m in h.trades)
    files = [p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()]
    assert files and all(INST in p.parts for p in files), files


@pytest.mark.parametrize("field", ["px", "sz"])
@pytest.mark.parametrize("value", BAD_NUMBERS, ids=lambda v: repr(v)[:12])
def test_trade_numbers_must_be_positive_plain_decimals(field: str, value: str) -> None:
    result = parse_trade_row({**fill_row(1), field: value}, INST)
    assert isinstance(result, Reject) and len(result.reason) < 200
    assert result.reason.startswith((f"bad {field} ", f"missing field(s): {field}"))


@pytest.mark.parametrize("field", ["tradeId", "ts"])
@pytest.mark.parametrize("value", ["9" * 5000, "1e3", "-5", "0", "١٢٣", 12, 1.5, None, "²"])
def test_trade_ids_and_times_must_be_bounded_integer_strings(field: str, value: Any) -> None:
    result = parse_trade_row({**fill_row(1), field: value}, INST)
    assert isinstance(result, Reject) and len(result.reason) < 200


async def test_a_huge_price_is_quarantined_whole_but_reported_short(
    tmp_path: Path, autojump_clock: Any
) -> None:
    h = Harness(tmp_path, FakeHistory())
    bad = frame([{**fill_row(2), "px": HUGE}])
    await h.run([frame([fill_row(1)]), bad, frame([fill_row(2)])])
    (q,) = h.quarantine_records()
    assert q["raw"] == bad.raw  # the evidence is kept
    assert len(q["reason"]) < 200 and "… (1000002 chars)" in q["reason"]
    assert h.vault_ids() == [1, 2]
    assert max(len(line) for p in (tmp_path / "raw").rglob("*.jsonl")
               for line in p.read_bytes().splitlines()) < 400  # fmt: skip


async def test_max_websocket_message_size_is_enforced(tmp_path: Path) -> None:
    """`socket.max_message_bytes` reaches trio-websocket (`_connection.py` passes it as
    `max_message_size`): a bigger frame closes the connection (1009), which reconnects."""
    async with running(tmp_path, max_message_bytes=4096) as h:
        await wait_until(lambda: h.health.state == "running")
        [bus] = h.fake.on("business")
        rows = [fill_row(i) for i in range(1, 60)]  # ~8 KB
        await bus.send({"arg": {"channel": "trades-all", "instId": INST}, "data": rows})
        await wait_until(lambda: len(h.fake.on("business")) >= 2)  # reconnected
        assert not [m for m in h.trades if getattr(m, "rows", None)]  # nothing was delivered
        assert "1009" in (h.health.last_error or "") or "MESSAGE_TOO_BIG" in str(
            [r.last_error for r in h.health.history]
        )


# ---- book levels -----------------------------------------------------------------------------

GOOD = ["100.5", "1", "0", "3"]


@pytest.mark.parametrize(
    "level",
    [
        ["1e2", "1", "0", "3"],
        ["NaN", "1", "0", "3"],
        ["100", "-1", "0", "3"],
        ["100", "1e3", "0", "3"],
        [HUGE, "1", "0", "3"],
        ["100", HUGE, "0", "3"],
        ["100", "1", "0", "1" * 1000],
        ["100", "1", "-1", "3"],
        ["100", "1", "0", "x"],
        ["100", "1", "0", "٣"],
        ["0", "1", "0", "3"],
        ["100", "1", "0"],
        ["100", "1", "0", "3", "9"],
        [100.5, "1", "0", "3"],
        ["100", ["1"], "0", "3"],
        "100,1,0,3",
        None,
        {"px": "100"},
    ],
    ids=lambda v: repr(v)[:16],
)
@pytest.mark.parametrize("action", ["snapshot", "update"])
def test_book_levels_with_garbage_are_malformed(level: Any, action: str) -> None:
    row = {"asks": [GOOD], "bids": [level], "ts": str(BASE_TS), "checksum": 0,
           "prevSeqId": 1, "seqId": 2}  # fmt: skip
    with pytest.raises(MalformedRow) as info:
        parse_row(row, action)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize(
    ("key", "value"),
    [("ts", "9" * 5000), ("ts", "²"), ("ts", -1), ("seqId", "1"), ("seqId", True),
     ("prevSeqId", -2), ("checksum", "0"), ("bids", "[]"), ("asks", None)],
)  # fmt: skip
def test_book_row_fields_with_garbage_are_malformed(key: str, value: Any) -> None:
    row = {"asks": [], "bids": [], "ts": str(BASE_TS), "checksum": 0, "prevSeqId": 1, "seqId": 2}
    with pytest.raises(MalformedRow):
        parse_row({**row, key: value}, "update")


# ---- REST rows -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1e5", "NaN", "-1", HUGE])
async def test_rest_history_rows_with_bad_numbers_are_rejected(
    value: str, autojump_clock: Any
) -> None:
    history = FakeHistory([fill_row(i) for i in range(1, 6)])
    history.rows[2] = {**history.rows[2], "px": value}  # trade 3
    async with history.rest() as rest:
        fetched = await fetch_history(
            rest, INST, floor=0, upper=5, deadline=trio.current_time() + 5
        )
    assert [t.trade_id for t in fetched.fills] == [1, 2, 4, 5]
    ((row, reason),) = fetched.rejects
    assert row["tradeId"] == "3" and reason.startswith("REST history row: bad px")
    assert len(reason) < 200


@pytest.mark.parametrize(
    ("key", "value"),
    [("ctVal", "1e-2"), ("ctVal", "NaN"), ("ctVal", "-0.01"), ("ctVal", HUGE), ("tickSz", "0"),
     ("lotSz", 0.01), ("ctMult", "10"), ("ctType", "../x"), ("instId", "../BTC-USDT-SWAP")],
)  # fmt: skip
def test_instrument_rows_with_bad_fields_are_refused(key: str, value: Any) -> None:
    row = {"instId": INST, "instType": "SWAP", "ctVal": "0.01", "ctMult": "1",
           "ctType": "linear", "tickSz": "0.1", "lotSz": "0.01", key: value}  # fmt: skip
    with pytest.raises(InstrumentMetaError) as info:
        parse_instrument_row(INST, row)
    assert str(info.value).startswith(f"{INST}: ")


async def test_rest_envelope_garbage_is_a_clear_error(autojump_clock: Any) -> None:
    bodies = [b"", b"<html>502</html>", b'{"code":"","data":[]}', b'{"code":{"x":1}}',
              b'{"code":"0","data":{"not":"a list"}}',
              orjson.dumps({"code": "0", "data": None})]  # fmt: skip
    answers = iter(bodies)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=next(answers))

    from rq_actors.io.rest import OkxRest, RestError

    async with OkxRest("http://okx.test", transport=httpx.MockTransport(handler),
                       max_attempts=1) as rest:  # fmt: skip
        for _ in bodies:
            with pytest.raises(RestError) as info:
                await rest.get("/api/v5/market/history-trades", {})
            assert info.value.code in ("bad-body",) and str(info.value)


def test_vault_paths_never_escape_for_a_configured_inst_id(tmp_path: Path) -> None:
    paths = VaultPaths(tmp_path)
    for path in (paths.trades_file(INST, BASE_TS), paths.l2_file(INST, BASE_TS),
                 paths.quarantine_file(INST, "2025-12-14"),
                 paths.instrument_meta(INST)):  # fmt: skip
        assert path.resolve().is_relative_to(tmp_path.resolve())
        assert INST in str(path.relative_to(tmp_path))
