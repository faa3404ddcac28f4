"""The socket actor's pure policy pieces: reconnect backoff, switchboard, resubscribe gate."""

from __future__ import annotations

import random

from rq_actors.actors._connection import Switchboard
from rq_actors.actors.socket import Backoff, ResubscribeGate
from rq_actors.messages import ConnectionEvent

INST = "BTC-USDT-SWAP"


def test_backoff_is_jittered_exponential_capped_and_resettable() -> None:
    rng = random.Random(3)
    b = Backoff(0.5, 30, rand=rng.random)
    caps = [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    delays = [b.next_delay() for _ in caps]
    for delay, cap in zip(delays, caps, strict=True):
        assert cap / 2 <= delay <= cap
    assert len(set(delays)) == len(delays)  # jittered
    b.reset()
    assert b.next_delay() <= 0.5


def test_backoff_extremes() -> None:
    assert Backoff(1, 10, rand=lambda: 0.0).next_delay() == 0.5
    assert Backoff(1, 10, rand=lambda: 1.0).next_delay() == 1.0
    b = Backoff(1, 10, rand=lambda: 1.0)
    for _ in range(200):  # never overflows, never exceeds the cap
        assert b.next_delay() <= 10


def _ev(epoch: int, state: str, reason: str = "") -> ConnectionEvent:
    return ConnectionEvent(INST, "public", epoch, state, reason)  # type: ignore[arg-type]


def test_switchboard_plain_connection_lifecycle() -> None:
    board = Switchboard(INST, "public")
    assert not board.passes("books", 1) and not board.passes("trades", 1)
    assert board.announce("books", 1) == _ev(1, "up")
    assert board.announce("books", 1) is None  # a resubscribe ack announces nothing new
    assert board.announce("trades", 1) == _ev(1, "up")
    assert board.passes("books", 1) and board.passes("trades", 1)
    assert board.closed(1, "gone") == [
        ("books", _ev(1, "down", "gone")),
        ("trades", _ev(1, "down", "gone")),
    ]
    assert not board.passes("books", 1) and not board.passes("trades", 1)
    assert board.closed(1, "again") == []


def test_switchboard_make_before_break() -> None:
    board = Switchboard(INST, "public")
    board.announce("books", 1)
    board.announce("trades", 1)
    # the replacement's trades are announced at its ack: both connections deliver trades
    assert board.announce("trades", 2) == _ev(2, "up")
    assert board.passes("trades", 1) and board.passes("trades", 2)
    assert board.passes("books", 1) and not board.passes("books", 2)
    # its first snapshot moves the book stream: the old one's books stop at once
    assert board.announce("books", 2) == _ev(2, "up")
    assert board.passes("books", 2) and not board.passes("books", 1)
    assert board.announced_any(2) and board.announced_any(1)
    # closing the replaced connection sends no `down`
    assert board.closed(1, "replaced") == []
    assert not board.passes("trades", 1) and board.passes("trades", 2)
    assert not board.announced_any(1)


def test_switchboard_old_dies_before_the_books_switch() -> None:
    board = Switchboard(INST, "public")
    board.announce("books", 1)
    board.announce("trades", 1)
    board.announce("trades", 2)
    assert board.closed(1, "peer closed") == [("books", _ev(1, "down", "peer closed"))]
    assert board.current("books") is None and board.current("trades") == 2
    assert board.announce("books", 2) == _ev(2, "up")


def test_resubscribe_gate_rate_limits_and_coalesces() -> None:
    gate = ResubscribeGate(5)
    assert gate.request("books", now=0) == 0
    assert gate.request("books", now=0.1) is None  # covered by the scheduled one
    gate.fired("books", now=0)
    assert gate.request("books", now=1) == 5  # not before min interval
    assert gate.request("books", now=2) is None
    assert gate.request("trades", now=2) == 2  # per channel
    gate.fired("books", now=5)
    assert gate.request("books", now=20) == 20  # long after: at once


def test_resubscribe_gate_without_interval() -> None:
    gate = ResubscribeGate(0)
    assert gate.request("books", now=1) == 1
    gate.fired("books", now=1)
    assert gate.request("books", now=1) == 1
