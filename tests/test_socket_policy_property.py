"""Property tests of the socket actor's pure policies (issue #14): any sequence of connections
announced and closed, any storm of resubscribe requests, any run of reconnect failures.

The example-based tests are in `test_socket_policy.py`; these check the invariants the socket
actor relies on against a plain model, without trio.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from rq_actors.core.okx.socket_policy import Backoff, Kind, ResubscribeGate, Switchboard

INST = "BTC-USDT-SWAP"
KINDS: tuple[Kind, ...] = ("trades", "books")

_announce = st.tuples(st.just("announce"), st.sampled_from(KINDS), st.integers(1, 4))
_close = st.tuples(st.just("close"), st.just("trades"), st.integers(1, 4))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_announce, _close), max_size=40))
def test_switchboard_events_and_passing_follow_the_model(ops: list[tuple[str, Kind, int]]) -> None:
    board = Switchboard(INST, "public")
    current: dict[Kind, int] = {}  # the model: epoch of the last `up` not followed by a `down`
    open_trades: set[int] = set()  # announced for trades and not closed since
    for op, kind, epoch in ops:
        if op == "announce":
            event = board.announce(kind, epoch)
            if current.get(kind) == epoch:
                assert event is None  # a repeated ack announces nothing new
            else:
                assert event is not None and (event.epoch, event.state) == (epoch, "up")
                current[kind] = epoch
            if kind == "trades":
                open_trades.add(epoch)
        else:
            downs = board.closed(epoch, "gone")
            # a `down` only for a kind whose current connection this was, once, with the reason
            expected = [k for k in KINDS if current.get(k) == epoch]
            assert sorted(k for k, _ in downs) == sorted(expected)
            for k, event in downs:
                assert (event.epoch, event.state, event.reason) == (epoch, "down", "gone")
                del current[k]
            open_trades.discard(epoch)
        for k in KINDS:
            assert board.current(k) == current.get(k)
        for e in range(1, 5):
            # books from exactly the current book connection; trades from every open announced one
            assert board.passes("books", e) == (current.get("books") == e)
            assert board.passes("trades", e) == (e in open_trades)
            assert board.announced_any(e) == (e in current.values() or e in open_trades)


@settings(max_examples=300, deadline=None)
@given(
    st.floats(0, 10),
    st.lists(
        st.tuples(st.sampled_from(["books", "trades"]), st.floats(0, 5)),
        max_size=60,
    ),
)
def test_resubscribe_gate_serves_every_request_and_never_faster_than_the_interval(
    interval: float, requests: list[tuple[str, float]]
) -> None:
    # The actor's use: request on a fault; resubscribe (`fired`) when the returned time comes.
    gate = ResubscribeGate(interval)
    scheduled: dict[str, float] = {}
    fired: dict[str, list[float]] = {"books": [], "trades": []}
    pending: list[tuple[str, float]] = []  # requests not yet covered by a resubscribe

    def fire_due(until: float) -> None:
        for channel, when in sorted(scheduled.items(), key=lambda kv: kv[1]):
            if when <= until:
                gate.fired(channel, when)
                fired[channel].append(when)
                del scheduled[channel]
                for i in reversed(range(len(pending))):
                    if pending[i][0] == channel and pending[i][1] <= when:
                        pending.pop(i)

    now = 0.0
    for channel, step in requests:
        now += step
        fire_due(now)
        when = gate.request(channel, now)
        pending.append((channel, now))
        if channel in scheduled:
            assert when is None  # coalesced into the scheduled one
        else:
            assert when is not None and now <= when <= now + interval
            scheduled[channel] = when
    fire_due(float("inf"))

    assert pending == []  # no request is lost
    for times in fired.values():
        # `last + interval` is float arithmetic: allow its rounding, nothing more
        assert all(b - a >= interval - 1e-9 for a, b in itertools.pairwise(times))


@settings(max_examples=300, deadline=None)
@given(
    st.floats(0.01, 5),
    st.floats(0.01, 120),
    st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=80),
)
def test_backoff_delays_are_jittered_halves_of_a_capped_doubling(
    initial: float, max_s: float, rands: list[float]
) -> None:
    draws = iter(rands * 2)
    backoff = Backoff(initial, max_s, rand=lambda: next(draws))
    cap_max = max(initial, max_s)
    first = [backoff.next_delay() for _ in rands]
    for n, (delay, r) in enumerate(zip(first, rands, strict=True)):
        cap = min(cap_max, initial * 2.0**n)
        assert cap / 2 <= delay <= cap
        assert delay == cap * (0.5 + 0.5 * r)
    backoff.reset()  # a connection that came up starts over
    assert [backoff.next_delay() for _ in rands] == first
