"""Fuzzing every parser of exchange input with hypothesis (issue: reliability suite, part 1).

Property for each: no unhandled exception. An input is either accepted, and then every value
that reaches the vault has the documented exact form, or rejected with a short, readable reason
(`Reject`, `MalformedRow`, `RestError`, `InstrumentMetaError`, `TradeRecordError`).
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rq_actors.core.book.model import MAX_FIELD_CHARS
from rq_actors.core.book.parse import BookRow, MalformedRow, parse_row, row_ts_ms
from rq_actors.core.book.sync import BookSync
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.okx.trades import (
    MAX_DECIMAL_CHARS,
    MAX_TS_MS,
    REQUIRED_FIELDS,
    Reject,
    is_positive_decimal,
    parse_trade_row,
)
from rq_actors.core.okx.ws_protocol import (
    Ack,
    ErrorEvent,
    Invalid,
    Notice,
    OtherEvent,
    Pong,
    Push,
    classify,
    newest_ts_ms,
)
from rq_actors.core.trades.record import TradeRecordError, decode_trade, encode_trade
from rq_actors.io.instruments import InstrumentMetaError, meta_from_doc, parse_instrument_row
from rq_actors.io.rest import RateLimited, RestError, TransientRestError, parse_envelope
from tests.helpers.strategies import json_values, numberish, plain_decimals, wire_values
from tests.helpers.trades import BASE_TS, INST, META

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REASON_MAX = 400  # a reason quotes the bad value cut short; the raw text keeps all of it

# ---- strategies --------------------------------------------------------------------------------

field_values = json_values | numberish | plain_decimals


@st.composite
def trade_rows(draw: st.DrawFn) -> Any:
    """Mostly almost-valid rows: each field valid, junk, or missing."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    valid: dict[str, Any] = {
        "instId": INST,
        "tradeId": str(draw(st.integers(1, 10**12))),
        "px": draw(plain_decimals),
        "sz": draw(plain_decimals),
        "side": draw(st.sampled_from(["buy", "sell"])),
        "ts": str(BASE_TS + draw(st.integers(0, 10**6))),
        "count": str(draw(st.integers(1, 5))),
    }
    row: dict[str, Any] = {}
    for key, value in valid.items():
        choice = draw(st.integers(0, 5))
        if choice == 0:
            continue  # missing
        row[key] = draw(field_values) if choice == 1 else value
    row.update(draw(st.dictionaries(st.text(max_size=6), json_values, max_size=2)))
    return row


# ---- trade rows ------------------------------------------------------------------------------


@FUZZ
@given(row=trade_rows(), aggregated=st.booleans())
@example(row={**dict.fromkeys(REQUIRED_FIELDS, "1"), "tradeId": "9" * 5000}, aggregated=False)
@example(row={"instId": INST, "tradeId": "1", "px": "1" * 1_000_000, "sz": "1", "side": "buy",
              "ts": str(BASE_TS)}, aggregated=False)  # fmt: skip
def test_trade_row_parser_accepts_only_exact_rows(row: Any, aggregated: bool) -> None:
    result = parse_trade_row(row, INST, aggregated=aggregated)
    if isinstance(result, Reject):
        assert result.reason and len(result.reason) <= REASON_MAX
        assert result.ts_ms is None or 0 < result.ts_ms <= MAX_TS_MS
        return
    assert row["instId"] == INST and result.inst_id == INST
    assert result.side in ("buy", "sell")
    assert 0 < result.ts_ms <= MAX_TS_MS and result.trade_id > 0
    for text in (result.px, result.sz):
        assert is_positive_decimal(text) and len(text) <= MAX_DECIMAL_CHARS
        assert "e" not in text.lower() and not text.startswith(("-", "+"))
    assert (result.count is not None) == aggregated
    # what reaches the vault reads back as the same trade
    assert decode_trade(encode_trade(result, META)) == result


# ---- book rows -------------------------------------------------------------------------------

level_fields = st.sampled_from(["100.5", "0", "1", "3"]) | numberish | st.text(max_size=5)
levels = (
    st.lists(st.lists(level_fields, min_size=3, max_size=5) | json_values, max_size=5) | json_values
)


@st.composite
def book_rows(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    valid: dict[str, Any] = {
        "bids": [["100.5", "1", "0", "2"]],
        "asks": [["101", "2", "0", "1"]],
        "ts": str(BASE_TS),
        "checksum": 0,
        "seqId": 10,
        "prevSeqId": 9,
    }
    row: dict[str, Any] = {}
    for key, value in valid.items():
        choice = draw(st.integers(0, 4))
        if choice == 0:
            continue
        if choice == 1:
            row[key] = draw(levels if key in ("bids", "asks") else field_values)
        else:
            row[key] = value
    return row


@FUZZ
@given(row=book_rows(), action=st.sampled_from(["snapshot", "update", "partial", ""]))
@example(row={"ts": "9" * 5000, "seqId": 1, "prevSeqId": 0, "bids": [], "asks": []},
         action="update")  # fmt: skip
@example(row={"ts": "1", "seqId": 1, "prevSeqId": 0, "bids": [["1" * 10**6, "1", "0", "1"]],
              "asks": []}, action="snapshot")  # fmt: skip
def test_book_row_parser_accepts_only_exact_rows(row: Any, action: str) -> None:
    ts = row_ts_ms(row)  # used for filing raw frames: must never raise either
    assert ts is None or 0 <= ts <= MAX_TS_MS
    try:
        msg = parse_row(row, action)
    except MalformedRow as exc:
        assert str(exc) and len(str(exc)) <= REASON_MAX
        return
    assert isinstance(msg, BookRow) and msg.ts_ms == ts
    for _key, level, _delete in [*msg.bids, *msg.asks]:
        assert all(isinstance(x, str) and 0 < len(x) <= MAX_FIELD_CHARS for x in level)
        assert all(x.replace(".", "", 1).isascii() for x in level)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(book_rows(), st.sampled_from(["snapshot", "update"])), max_size=12))
def test_book_sync_never_raises_on_any_accepted_sequence(steps: list[tuple[Any, str]]) -> None:
    sync = BookSync(INST, depth=5, checksum_policy="resubscribe")
    for row, action in steps:
        try:
            msg = parse_row(row, action)
        except MalformedRow:
            continue
        outcome = sync.on_message(msg)
        if sync.live:
            record = sync.record()
            assert record is None or orjson.loads(orjson.dumps(record)) == record
        assert outcome.kind in ("snapshot", "update", "heartbeat", "stale", "waiting", "dropped",
                                "fault")  # fmt: skip


# ---- WebSocket frames (rq_actors/core/okx/ws_protocol.py) ----------------------------------------


@FUZZ
@given(
    st.one_of(
        st.text(max_size=300),
        wire_values.map(lambda v: orjson.dumps(v).decode()),
        st.builds(
            lambda arg, data, action: orjson.dumps(
                {"arg": arg, "data": data, "action": action}
            ).decode(),
            wire_values | st.just({"channel": "books", "instId": INST}),
            wire_values,
            wire_values,
        ),
    )
)
def test_classify_never_raises_on_json_shaped_frames(text: str) -> None:
    frame = classify(text)
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        doc = None
    if text == "pong":
        assert isinstance(frame, Pong)
    elif not isinstance(doc, dict):  # not JSON, or JSON but not an object
        assert isinstance(frame, Invalid) and frame.reason
    elif isinstance(frame, Push):
        # a push is exactly a `data` list under a usable `arg`, its rows kept as sent
        assert doc.get("event") is None and frame.rows == tuple(doc["data"])
        assert (frame.arg.channel, frame.arg.inst_id) == (
            doc["arg"]["channel"],
            doc["arg"]["instId"],
        )
    elif "event" not in doc and "data" not in doc:
        assert isinstance(frame, Invalid) and frame.reason
    else:
        assert isinstance(frame, Ack | ErrorEvent | Notice | OtherEvent | Invalid)


@FUZZ
@given(st.lists(st.fixed_dictionaries({"ts": st.text(alphabet="0123456789", max_size=15)})))
def test_newest_ts_of_ascii_digit_rows(rows: list[dict[str, str]]) -> None:
    stamps = [int(r["ts"]) for r in rows if r["ts"]]
    assert newest_ts_ms(rows) == (max(stamps) if stamps else None)


# `newest_ts_ms` feeds the health lag of every push in `_connection._handle_push`: an exception
# there would end the parse loop and fail the socket actor. `str.isdigit()` is true for "²" and
# for 5000 digits, but `int()` refuses both (found by this suite, fixed in ws_protocol.py).
@pytest.mark.parametrize("ts", ["²", "9" * 5000], ids=["superscript-two", "5000-digits"])
def test_newest_ts_never_raises(ts: str) -> None:
    assert newest_ts_ms([{"ts": ts}]) is None


# ---- REST ------------------------------------------------------------------------------------

envelopes = st.builds(
    lambda code, msg, data, extra: orjson.dumps({"code": code, "msg": msg, "data": data, **extra}),
    st.sampled_from(["0", "50011", "50001", "51001", "", 0]) | wire_values,
    wire_values,
    wire_values,
    st.dictionaries(st.text(max_size=5), wire_values, max_size=2),
)


@FUZZ
@given(
    status=st.sampled_from([200, 400, 404, 429, 500, 503]) | st.integers(100, 599),
    body=st.binary(max_size=200) | envelopes | wire_values.map(orjson.dumps),
)
def test_rest_envelope_returns_a_list_or_a_rest_error(status: int, body: bytes) -> None:
    try:
        data = parse_envelope("/api/v5/x", status, body)
    except RateLimited as exc:
        assert status == 429 or exc.code == "50011"
    except TransientRestError as exc:
        assert status >= 500 or status == 200 or exc.code in ("50001", "50013", "50026")
        assert str(exc).startswith("/api/v5/x: ")
    except RestError as exc:
        assert exc.code and str(exc).startswith("/api/v5/x: code ")
    else:
        assert isinstance(data, list) and status < 500 and status != 429
        assert str(orjson.loads(body)["code"]) == "0"


instrument_fields = ("instId", "instType", "ctVal", "ctMult", "ctType", "tickSz", "lotSz")


@st.composite
def instrument_rows(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    valid = {"instId": INST, "instType": "SWAP", "ctVal": "0.01", "ctMult": "1",
             "ctType": "linear", "tickSz": "0.1", "lotSz": "0.01"}  # fmt: skip
    row: dict[str, Any] = {}
    for key, value in valid.items():
        choice = draw(st.integers(0, 4))
        if choice == 1:
            row[key] = draw(field_values)
        elif choice:
            row[key] = value
    return row


@FUZZ
@given(row=instrument_rows())
def test_instrument_rows_and_saved_docs_validate_or_explain(row: Any) -> None:
    for parse in (parse_instrument_row, meta_from_doc):
        try:
            meta = parse(INST, row)
        except InstrumentMetaError as exc:
            assert str(exc).startswith(f"{INST}: ")
            continue
        assert isinstance(meta, InstrumentMeta) and meta.ct_mult == row["ctMult"]
        for text in (meta.ct_val, meta.tick_sz, meta.lot_sz):
            assert is_positive_decimal(text)
        assert meta.ct_type in ("linear", "inverse")


# ---- vault lines read back -------------------------------------------------------------------


@FUZZ
@given(line=st.binary(max_size=300) | wire_values.map(orjson.dumps))
@example(line=b'{"side":"buy","instId":"X","trade_id":1.5,"timestamp_utc":"2025-12-14T00:00:00Z",'
              b'"price":"1","qty_contracts":"1"}')  # fmt: skip
@example(line=b'{"side":"buy","instId":"X","trade_id":"1","timestamp_utc":7,'
              b'"price":"1","qty_contracts":"1"}')  # fmt: skip
def test_vault_trade_line_decodes_or_raises_trade_record_error(line: bytes) -> None:
    try:
        trade = decode_trade(line)
    except TradeRecordError as exc:
        assert "not" in str(exc)
        return
    record = orjson.loads(line)
    assert record["trade_id"] == str(trade.trade_id)  # exactly the form the writer writes
    assert isinstance(trade.px, str) and isinstance(trade.ts_ms, int)


def test_nan_and_infinity_floats_never_pass_as_prices() -> None:
    for value in (math.nan, math.inf, -math.inf, 1e5, 0.5):
        row = {"instId": INST, "tradeId": "1", "px": value, "sz": "1", "side": "buy",
               "ts": str(BASE_TS)}  # fmt: skip
        assert isinstance(parse_trade_row(row, INST), Reject)
