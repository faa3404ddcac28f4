"""Supervisor: one-for-one restarts with backoff, restart limit per group, orderly shutdown."""

from __future__ import annotations

from collections.abc import Callable

import trio
import trio.testing

from rq_actors.config import SupervisorConfig
from rq_actors.io.health import HealthLog, HealthReporter
from rq_actors.supervisor import ActorSpec, GroupSetupError, Supervisor


class Ticker:
    """Runs forever, counting ticks; counts how often it was (re)started."""

    starts = 0

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def run(self) -> None:
        type(self).starts += 1
        while True:
            self.log.append("tick")
            await trio.sleep(1)


class Crasher:
    """Fails `fail_times` times (each after `after_s`), then runs forever."""

    def __init__(self, state: dict[str, int], fail_times: int, after_s: float = 0.1) -> None:
        self.state = state
        self.fail_times = fail_times
        self.after_s = after_s

    async def run(self) -> None:
        self.state["starts"] = self.state.get("starts", 0) + 1
        self.state.setdefault("start_times", [])  # type: ignore[arg-type]
        self.state["start_times"].append(trio.current_time())  # type: ignore[attr-defined]
        await trio.sleep(self.after_s)
        if self.state["starts"] <= self.fail_times:
            raise RuntimeError(f"boom {self.state['starts']}")
        await trio.sleep_forever()


def _policy(**kw: float) -> SupervisorConfig:
    base = {
        "max_restarts": 5,
        "restart_window_s": 60.0,
        "backoff_initial_s": 0.5,
        "backoff_max_s": 30.0,
        "shutdown_grace_s": 4.0,
    }
    base.update(kw)
    return SupervisorConfig(**base)  # type: ignore[arg-type]


def _builder(groups: dict[str, Callable[[], list[ActorSpec]]]):
    async def build(inst_id: str, _log: HealthLog) -> list[ActorSpec]:
        return groups[inst_id]()

    return build


async def test_crashing_actor_is_restarted_and_the_others_never_stop(
    mock_clock: trio.testing.MockClock,
) -> None:
    mock_clock.autojump_threshold = 0
    Ticker.starts = 0
    ticks: list[str] = []
    crash_state: dict[str, int] = {}
    log = HealthLog(None, stderr=None)
    specs = lambda: [  # noqa: E731
        ActorSpec("ticker", lambda h: Ticker(ticks)),
        ActorSpec("crasher", lambda h: Crasher(crash_state, fail_times=3)),
    ]
    sup = Supervisor(["BTC-USDT-SWAP"], _builder({"BTC-USDT-SWAP": specs}), _policy(), log)
    async with trio.open_nursery() as n:
        await n.start(sup.run)
        await trio.sleep(30)
        assert crash_state["starts"] == 4  # three failures, three restarts
        assert Ticker.starts == 1  # one-for-one: the neighbour was never restarted
        assert len(ticks) >= 29
        crasher = next(r for r in log.reporters if r.actor == "crasher")
        assert crasher.restarts == 3
        assert crasher.last_error == "RuntimeError: boom 3"
        assert sup.group_states == {"BTC-USDT-SWAP": "running"}
        sup.request_shutdown()
    # exponential backoff between a failure and the next start: 0.5, 1, 2 s
    t = crash_state["start_times"]  # type: ignore[index]
    gaps = [round(t[i + 1] - t[i] - 0.1, 6) for i in range(3)]
    assert gaps == [0.5, 1.0, 2.0]


async def test_backoff_is_capped(mock_clock: trio.testing.MockClock) -> None:
    mock_clock.autojump_threshold = 0
    state: dict[str, int] = {}
    log = HealthLog(None, stderr=None)
    specs = lambda: [ActorSpec("c", lambda h: Crasher(state, fail_times=6))]  # noqa: E731
    policy = _policy(max_restarts=10, backoff_max_s=3.0, restart_window_s=1000)
    sup = Supervisor(["A-B"], _builder({"A-B": specs}), policy, log)
    async with trio.open_nursery() as n:
        await n.start(sup.run)
        await trio.sleep(100)
        sup.request_shutdown()
    t = state["start_times"]  # type: ignore[index]
    gaps = [round(t[i + 1] - t[i] - 0.1, 6) for i in range(6)]
    assert gaps == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


async def test_restart_limit_stops_only_that_instrument(
    mock_clock: trio.testing.MockClock,
) -> None:
    mock_clock.autojump_threshold = 0
    bad_state: dict[str, int] = {}
    good_ticks: list[str] = []
    bad_neighbour_ticks: list[str] = []
    log = HealthLog(None, stderr=None)
    groups = {
        "BAD-USDT-SWAP": lambda: [
            ActorSpec("crasher", lambda h: Crasher(bad_state, fail_times=10**9)),
            ActorSpec("ticker", lambda h: Ticker(bad_neighbour_ticks)),
        ],
        "GOOD-USDT-SWAP": lambda: [ActorSpec("ticker", lambda h: Ticker(good_ticks))],
    }
    sup = Supervisor(list(groups), _builder(groups), _policy(max_restarts=3), log)
    async with trio.open_nursery() as n:
        await n.start(sup.run)
        await trio.sleep(60)
        assert sup.group_states == {"BAD-USDT-SWAP": "failed", "GOOD-USDT-SWAP": "running"}
        assert bad_state["starts"] == 4  # the first run plus max_restarts restarts
        reason = sup.group_reason("BAD-USDT-SWAP")
        assert reason is not None and "max_restarts=3" in reason
        frozen = len(bad_neighbour_ticks)
        good_before = len(good_ticks)
        await trio.sleep(20)
        assert len(bad_neighbour_ticks) == frozen  # the whole failed group is stopped
        assert len(good_ticks) >= good_before + 19  # the other instrument runs on
        states = {(r.inst_id, r.actor): r.state for r in log.reporters}
        assert states[("BAD-USDT-SWAP", "crasher")] == "failed"
        assert states[("BAD-USDT-SWAP", "ticker")] == "failed"
        assert (
            states[("GOOD-USDT-SWAP", "ticker")] == "running"
            or states[("GOOD-USDT-SWAP", "ticker")] == "starting"
        )
        sup.request_shutdown()


async def test_failures_outside_the_window_do_not_count(mock_clock: trio.testing.MockClock) -> None:
    mock_clock.autojump_threshold = 0
    state: dict[str, int] = {}
    log = HealthLog(None, stderr=None)
    # fails 6 times but each run lasts 30 s, so never more than 2 failures within 60 s
    specs = lambda: [ActorSpec("slow", lambda h: Crasher(state, fail_times=6, after_s=30))]  # noqa: E731
    sup = Supervisor(["A-B"], _builder({"A-B": specs}), _policy(max_restarts=2), log)
    async with trio.open_nursery() as n:
        await n.start(sup.run)
        await trio.sleep(400)
        assert sup.group_states == {"A-B": "running"}
        assert state["starts"] == 7
        sup.request_shutdown()


async def test_setup_error_fails_the_group_and_others_run(
    mock_clock: trio.testing.MockClock,
) -> None:
    mock_clock.autojump_threshold = 0
    ticks: list[str] = []
    log = HealthLog(None, stderr=None)

    async def build(inst_id: str, _log: HealthLog) -> list[ActorSpec]:
        if inst_id == "NOMETA-USDT-SWAP":
            raise GroupSetupError("instrument metadata: ctMult is '10', must be '1'")
        return [ActorSpec("ticker", lambda h: Ticker(ticks))]

    sup = Supervisor(["NOMETA-USDT-SWAP", "OK-USDT-SWAP"], build, _policy(), log)
    async with trio.open_nursery() as n:
        await n.start(sup.run)
        await trio.sleep(5)
        assert sup.group_states == {"NOMETA-USDT-SWAP": "failed", "OK-USDT-SWAP": "running"}
        group_rep = next(r for r in log.reporters if r.inst_id == "NOMETA-USDT-SWAP")
        assert group_rep.state == "failed"
        assert "ctMult" in (group_rep.last_error or "")
        assert len(ticks) >= 4
        sup.request_shutdown()


class Producer:
    def __init__(self, out: trio.MemorySendChannel[int], items: range) -> None:
        self.out = out
        self.items = items

    async def run(self) -> None:
        for i in self.items:
            await self.out.send(i)
        await trio.sleep_forever()


class FlakyConsumer:
    """Records items; crashes after every 7th item it has taken from the channel."""

    def __init__(self, inbox: trio.MemoryReceiveChannel[int], seen: list[int], flushed: list[str]):
        self.inbox = inbox
        self.seen = seen
        self.flushed = flushed

    async def run(self) -> None:
        async for item in self.inbox:
            self.seen.append(item)
            if len(self.seen) % 7 == 0 and len(self.seen) < 90:
                raise RuntimeError("flaky")
        self.flushed.append("flushed")  # orderly end: the inbox was closed and drained


async def test_channels_outlive_restarts_and_shutdown_drains(
    mock_clock: trio.testing.MockClock,
) -> None:
    mock_clock.autojump_threshold = 0
    seen: list[int] = []
    flushed: list[str] = []
    log = HealthLog(None, stderr=None)
    send, recv = trio.open_memory_channel[int](1000)

    def specs() -> list[ActorSpec]:
        return [
            ActorSpec("producer", lambda h: Producer(send, range(100)), source=True, closes=[send]),
            ActorSpec("consumer", lambda h: FlakyConsumer(recv, seen, flushed)),
        ]

    policy = _policy(max_restarts=100, backoff_initial_s=0.01, backoff_max_s=0.01)
    sup = Supervisor(["A-B"], _builder({"A-B": specs}), policy, log)
    async with trio.open_nursery() as n:
        await n.start(sup.run)
        await trio.sleep(0.01)  # the producer has filled the channel; consumer crashing
        sup.request_shutdown()
    assert seen == list(range(100))  # every buffered item exactly once, across 12 restarts
    assert flushed == ["flushed"]
    consumer = next(r for r in log.reporters if r.actor == "consumer")
    assert consumer.restarts == 12
    assert consumer.state == "stopped"


class Stubborn:
    """Ignores its closed inbox: the grace period must still end the shutdown."""

    async def run(self) -> None:
        with trio.CancelScope(shield=False):
            await trio.sleep_forever()


async def test_shutdown_grace_bounds_a_stuck_actor(mock_clock: trio.testing.MockClock) -> None:
    mock_clock.autojump_threshold = 0
    log = HealthLog(None, stderr=None)
    specs = lambda: [ActorSpec("stuck", lambda h: Stubborn())]  # noqa: E731
    sup = Supervisor(["A-B"], _builder({"A-B": specs}), _policy(shutdown_grace_s=3), log)
    async with trio.open_nursery() as n:
        await n.start(sup.run)
        await trio.sleep(1)
        t0 = trio.current_time()
        sup.request_shutdown()
    assert trio.current_time() - t0 == 3


def test_health_reporter_lag_and_states() -> None:
    rep = HealthReporter("book", "BTC-USDT-SWAP", None, wall_ms=lambda: 10_000)
    assert rep.lag_ms() is None
    rep.observe_event_time(9_000)
    rep.observe_event_time(8_000)
    assert rep.lag_ms() == 1_000
    rep.set_state("running")
    rep.error("socket closed")
    line = rep.history[-1]
    assert (line.state, line.last_error, line.counters["errors"]) == (
        "running",
        "socket closed",
        1,
    )


def test_health_log_survives_a_full_disk(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A full disk must not take the process down through its own health stream."""
    import errno
    import io

    path = tmp_path / "logs" / "health.jsonl"
    err = io.StringIO()
    log = HealthLog(path, stderr=err)
    rep = log.reporter("book", "BTC-USDT-SWAP")
    rep.set_state("running")
    real_open = type(path).open

    class _Full(io.BufferedWriter):
        def write(self, data):  # type: ignore[no-untyped-def]
            raise OSError(errno.ENOSPC, "No space left on device")

    log._file.close()  # replaced by a full disk below; closed so the GC finds nothing open
    monkeypatch.setattr(log, "_file", _Full(io.BytesIO()))
    rep.error("disk full somewhere")  # must not raise
    assert log.dropped_lines == 1
    assert "disk full somewhere" in err.getvalue()  # stderr still has it
    monkeypatch.setattr(type(path), "open", real_open)
    rep.set_state("recovering")  # space is back: the file gets lines again
    lines = path.read_bytes().splitlines()
    assert lines[-1].startswith(b"{") and b'"recovering"' in lines[-1]
    assert all(line.endswith(b"}") for line in lines)
    log.close()
