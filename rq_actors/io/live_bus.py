"""Process-wide fan-out of derived records to live viewers (the dashboard, alert rules).

Derived actors publish every record they have just written (a final candle, CVD or VWAP window, a
wick or setup event). A viewer subscribes with a bounded buffer. Publishing never blocks and
never fails: when a subscriber's buffer is full the record is dropped *for that subscriber* and
counted, because a viewer that falls behind must never slow capture or derivation (SPEC §3).
Viewers read history from the vault; the bus only carries what happens from now on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import trio

from rq_actors.io.metrics.sink import StreamSink
from rq_actors.messages import LiveRecord

DEFAULT_SUBSCRIBER_CAPACITY = 4096


class Subscription:
    def __init__(self, capacity: int) -> None:
        self._send, self.receive = trio.open_memory_channel[LiveRecord](capacity)
        self.delivered = 0
        self.dropped = 0

    def _offer(self, record: LiveRecord) -> None:
        try:
            self._send.send_nowait(record)
            self.delivered += 1
        except trio.WouldBlock:
            self.dropped += 1
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.dropped += 1

    def close(self) -> None:
        self._send.close()


class LiveBus:
    """Bound: `max_subscribers` × their capacity records, whatever the publish rate."""

    def __init__(self, max_subscribers: int = 64) -> None:
        self._subs: list[Subscription] = []
        self._max = max_subscribers
        self.published = 0

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, records: Sequence[LiveRecord]) -> None:
        self.published += len(records)
        for sub in self._subs:
            for record in records:
                sub._offer(record)

    @contextmanager
    def subscribe(self, capacity: int = DEFAULT_SUBSCRIBER_CAPACITY) -> Iterator[Subscription]:
        if len(self._subs) >= self._max:
            raise BusFull(f"live bus: already {self._max} subscribers; close one and retry")
        sub = Subscription(capacity)
        self._subs.append(sub)
        try:
            yield sub
        finally:
            self._subs.remove(sub)
            sub.close()


class BusFull(Exception):
    """Too many live subscribers (each costs a bounded buffer)."""


def publish_sinks(bus: LiveBus, kind: str, inst_id: str, sinks: Mapping[str, StreamSink]) -> None:
    """Make every record these sinks append also go to the bus (after it is on disk)."""
    for stream, sink in sinks.items():

        def _publish(items: list[tuple[int, dict[str, Any]]], stream: str = stream) -> None:
            bus.publish([LiveRecord(kind, inst_id, stream, ms, rec) for ms, rec in items])

        sink.on_written = _publish
