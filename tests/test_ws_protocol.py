"""The pure OKX WebSocket protocol core: requests, frame classification, subscription table."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rq_actors.core.okx.ws_protocol import (
    Ack,
    ErrorEvent,
    Invalid,
    Notice,
    OtherEvent,
    Pong,
    Push,
    SubArg,
    SubscriptionTable,
    SubState,
    build_request,
    classify,
    newest_ts_ms,
)

INST = "BTC-USDT-SWAP"


def _table(**silence: float) -> SubscriptionTable:
    return SubscriptionTable(
        INST,
        silence or {"books": 90.0},
        ack_timeout_s=10,
        retry_initial_s=1,
        retry_max_s=8,
    )


def _ack(table_request: str, op: str = "subscribe") -> Ack:
    req = orjson.loads(table_request)
    arg = req["args"][0]
    return Ack(op, SubArg(arg["channel"], arg["instId"]), req["id"])


def test_build_request_shape() -> None:
    text = build_request("subscribe", "s1", [SubArg("books", INST)])
    assert orjson.loads(text) == {
        "id": "s1",
        "op": "subscribe",
        "args": [{"channel": "books", "instId": INST}],
    }


def test_classify_control_frames() -> None:
    assert classify("pong") == Pong()
    ack = '{"id":"s1","event":"subscribe","arg":{"channel":"books","instId":"X-Y"},"connId":"a"}'
    assert classify(ack) == Ack("subscribe", SubArg("books", "X-Y"), "s1")
    err = '{"id":"s2","event":"error","code":"60018","msg":"bad","connId":"a"}'
    assert classify(err) == ErrorEvent("60018", "bad", "s2")
    no_id = '{"event":"error","code":60012,"msg":"Invalid request"}'
    assert classify(no_id) == ErrorEvent("60012", "Invalid request", None)
    notice = '{"event":"notice","code":"64008","msg":"upgrade","connId":"a"}'
    assert classify(notice) == Notice("64008", "upgrade")
    assert classify('{"event":"channel-conn-count","count":"1"}') == OtherEvent(
        "channel-conn-count"
    )


def test_classify_pushes() -> None:
    book = (
        '{"arg":{"channel":"books","instId":"BTC-USDT-SWAP"},"action":"snapshot",'
        '"data":[{"asks":[],"bids":[],"ts":"1700000000000","seqId":5,"prevSeqId":-1}]}'
    )
    push = classify(book)
    assert isinstance(push, Push)
    assert push.arg == SubArg("books", INST)
    assert push.action == "snapshot"
    assert push.rows[0]["seqId"] == 5
    trade = '{"arg":{"channel":"trades-all","instId":"BTC-USDT-SWAP"},"data":[{"tradeId":"1"}]}'
    push = classify(trade)
    assert isinstance(push, Push) and push.action is None and len(push.rows) == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "malformed JSON"),
        ("[1,2]", "not a JSON object"),
        ('{"arg":{"channel":"books"},"data":[]}', "without arg"),
        ('{"arg":{"channel":"books","instId":"A-B"},"data":{}}', "data is not a list"),
        ('{"hello":1}', "neither"),
        ('{"event":"subscribe","arg":"books"}', "ack without"),
        ("", "malformed JSON"),
    ],
)
def test_classify_invalid(text: str, reason: str) -> None:
    frame = classify(text)
    assert isinstance(frame, Invalid)
    assert reason in frame.reason


@given(st.text(max_size=200))
def test_classify_never_raises(text: str) -> None:
    classify(text)


def test_newest_ts() -> None:
    rows = ({"ts": "5"}, {"ts": "9"}, {"ts": "x"}, "junk", {"ts": 12})
    assert newest_ts_ms(rows) == 9
    assert newest_ts_ms(()) is None
    assert newest_ts_ms([{"ts": "²"}, {"ts": "9" * 5000}, {"ts": "١٢"}]) is None


def test_one_request_per_channel_and_acks_by_id() -> None:
    table = _table(books=90.0, trades=0.0)
    requests = table.start(now=0)
    ids = [orjson.loads(r)["id"] for r in requests]
    assert len(requests) == 2 and len(set(ids)) == 2
    assert not table.all_active()
    assert table.on_ack(_ack(requests[0]), now=1) == "books"
    assert table.state("books") is SubState.ACTIVE
    # a stale ack (other id) does not activate
    stale = Ack("subscribe", SubArg("trades", INST), "s99")
    assert table.on_ack(stale, now=1) is None
    assert table.on_ack(_ack(requests[1]), now=1) == "trades"
    assert table.all_active()
    # unsubscribe acks change nothing
    assert table.on_ack(Ack("unsubscribe", SubArg("books", INST), "u9"), now=2) is None


def test_ack_timeout_is_reported() -> None:
    table = _table()
    table.start(now=0)
    assert table.next_deadline() == 10
    assert table.poll(now=9.9).timed_out == ()
    assert table.poll(now=10).timed_out == ("books",)


def test_error_by_id_fails_one_subscription_and_retries_with_backoff() -> None:
    table = _table(books=90.0, trades=0.0)
    requests = table.start(now=0)
    table.on_ack(_ack(requests[1]), now=0.5)
    books_id = orjson.loads(requests[0])["id"]
    assert table.on_error(ErrorEvent("60018", "nope", books_id), now=1) == ["books"]
    assert table.state("books") is SubState.RETRY_WAIT
    assert table.state("trades") is SubState.ACTIVE
    assert table.next_deadline() == 2  # retry_initial_s after the error
    assert table.poll(now=1.5).requests == ()
    todo = table.poll(now=2)
    assert todo.retried == ("books",) and len(todo.requests) == 1
    # second failure: doubled delay, then capped at retry_max_s
    retry_id = orjson.loads(todo.requests[0])["id"]
    table.on_error(ErrorEvent("60018", "nope", retry_id), now=3)
    assert table.next_deadline() == 5
    for _ in range(6):
        rid = orjson.loads(table.poll(now=table.next_deadline()).requests[0])["id"]
        table.on_error(ErrorEvent("60018", "nope", rid), now=100)
    assert table.next_deadline() == 108
    # success resets the failure count
    req = table.poll(now=108).requests[0]
    assert table.on_ack(_ack(req), now=108.1) == "books"


def test_error_without_id_matches_channel_named_in_msg() -> None:
    table = _table(books=90.0, trades=0.0)
    table.start(now=0)
    msg = "Wrong URL or channel:trades,instId:BTC-USDT-SWAP doesn't exist."
    assert table.on_error(ErrorEvent("60018", msg, None), now=1) == ["trades"]
    assert table.on_error(ErrorEvent("60012", "Invalid request", None), now=1) == ["books"]


def test_error_for_unsubscribe_or_unknown_id_is_ignored() -> None:
    table = _table()
    [req] = table.start(now=0)
    table.on_ack(_ack(req), now=0)
    unsub, _sub = table.resubscribe("books", now=1)
    unsub_id = orjson.loads(unsub)["id"]
    assert table.on_error(ErrorEvent("60012", "x", unsub_id), now=1) == []
    assert table.on_error(ErrorEvent("60012", "x", "s999"), now=1) == []
    assert table.state("books") is SubState.PENDING


def test_resubscribe_sends_unsubscribe_then_subscribe_only_when_active() -> None:
    table = _table()
    [req] = table.start(now=0)
    assert table.resubscribe("books", now=0) == []  # already subscribing
    table.on_ack(_ack(req), now=0)
    unsub, sub = table.resubscribe("books", now=1)
    assert orjson.loads(unsub)["op"] == "unsubscribe"
    assert orjson.loads(sub)["op"] == "subscribe"
    assert table.state("books") is SubState.PENDING
    assert table.on_ack(_ack(sub), now=2) == "books"


def test_silence_watchdog_resubscribes_one_channel() -> None:
    table = _table(books=90.0, trades=0.0)
    requests = table.start(now=0)
    for r in requests:
        table.on_ack(_ack(r), now=0)
    assert table.next_deadline() == 90  # trades has no watchdog (0)
    table.on_data("books", now=50)
    assert table.next_deadline() == 140
    assert table.poll(now=139.9).silent == ()
    todo = table.poll(now=140)  # the deadline it announced: due now, or a waiter would spin
    assert todo.silent == ("books",)
    assert [orjson.loads(r)["op"] for r in todo.requests] == ["unsubscribe", "subscribe"]
    assert table.state("trades") is SubState.ACTIVE
