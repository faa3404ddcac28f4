"""The live bus: derived records fan out to bounded subscriptions, and publishing never blocks."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from rq_actors.io.live_bus import BusFull, LiveBus, publish_sinks
from rq_actors.io.metrics.sink import StreamSink
from rq_actors.messages import LiveRecord

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _rec(n: int) -> LiveRecord:
    return LiveRecord("cvd", "BTC-USDT-SWAP", "1m", T0 + n, {"n": n})


async def test_every_subscriber_gets_every_record_in_order() -> None:
    bus = LiveBus()
    with bus.subscribe(16) as a, bus.subscribe(16) as b:
        bus.publish([_rec(1), _rec(2)])
        bus.publish([_rec(3)])
        for sub in (a, b):
            got = [sub.receive.receive_nowait().time_ms - T0 for _ in range(3)]
            assert got == [1, 2, 3]
            assert (sub.delivered, sub.dropped) == (3, 0)
    assert bus.published == 3
    assert bus.subscribers == 0


async def test_a_full_subscriber_loses_records_alone_and_publish_never_blocks() -> None:
    bus = LiveBus()
    with bus.subscribe(2) as slow, bus.subscribe(100) as fast:
        with trio.fail_after(1):  # publish is synchronous: no await, so it cannot block
            bus.publish([_rec(n) for n in range(10)])
        assert (slow.delivered, slow.dropped) == (2, 8)
        assert (fast.delivered, fast.dropped) == (10, 0)
        assert [slow.receive.receive_nowait().time_ms - T0 for _ in range(2)] == [0, 1]


async def test_subscriber_count_is_capped_and_a_closed_subscription_frees_its_place() -> None:
    bus = LiveBus(max_subscribers=1)
    with bus.subscribe(1) as first:
        with pytest.raises(BusFull, match="close one"), bus.subscribe(1):
            pass
    with pytest.raises(trio.EndOfChannel):
        await first.receive.receive()  # its channel is closed on exit: a reader stops cleanly
    with bus.subscribe(1):
        assert bus.subscribers == 1


async def test_a_sink_publishes_what_it_appends_and_not_what_was_already_on_disk(
    tmp_path: Path,
) -> None:
    bus = LiveBus()
    first = StreamSink(tmp_path / "cvd" / "1m", "window_start_utc")
    publish_sinks(bus, "cvd", "BTC-USDT-SWAP", {"1m": first})
    rows = [(T0 + i * 60_000, {"window_start_utc": f"2026-01-01T00:0{i}:00Z"}) for i in range(3)]
    with bus.subscribe(16) as sub:
        first.write(rows[:2])
        # a restarted job re-emits from its older state: the sink drops what is on disk
        again = StreamSink(tmp_path / "cvd" / "1m", "window_start_utc")
        publish_sinks(bus, "cvd", "BTC-USDT-SWAP", {"1m": again})
        again.write(rows)
        first.close()
        again.close()
        seen = []
        while True:
            try:
                seen.append(sub.receive.receive_nowait())
            except trio.WouldBlock:
                break
    assert [r.record["window_start_utc"][-6:-1] for r in seen] == ["00:00", "01:00", "02:00"]
    assert {(r.kind, r.inst_id, r.stream) for r in seen} == {("cvd", "BTC-USDT-SWAP", "1m")}
