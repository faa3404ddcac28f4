"""The socket actor's policies as pure objects (no I/O, no trio; time is passed in).

- `Backoff`: jittered, capped exponential reconnect delays;
- `ResubscribeGate`: at most one resubscribe per channel per interval, requests coalesced;
- `Switchboard`: which connection's frames of one endpoint reach the consumers during a
  make-before-break switch, and the up/down events that go with it.

`rq_actors.actors.socket` and `rq_actors.actors._connection` carry out what they decide.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Literal

from rq_actors.messages import ConnectionEvent, Endpoint

Kind = Literal["trades", "books"]


class Backoff:
    """Jittered, capped exponential reconnect delays: the n-th consecutive failure waits a random
    time in [½, 1] × min(max, initial × 2ⁿ), so many clients do not reconnect in lockstep."""

    def __init__(
        self, initial_s: float, max_s: float, rand: Callable[[], float] = random.random
    ) -> None:
        self._initial = initial_s
        self._max = max(max_s, initial_s)
        self._rand = rand
        self.failures = 0

    def next_delay(self) -> float:
        cap = min(self._max, self._initial * 2.0 ** min(self.failures, 30))
        self.failures += 1
        return cap * (0.5 + 0.5 * self._rand())

    def reset(self) -> None:
        self.failures = 0


class ResubscribeGate:
    """At most one resubscribe per channel per `min_interval_s`; requests that arrive while one
    is already scheduled are coalesced into it (a storm of gap reports costs one resubscribe)."""

    def __init__(self, min_interval_s: float) -> None:
        self._interval = min_interval_s
        self._last: dict[str, float] = {}
        self._scheduled: set[str] = set()

    def request(self, channel: str, now: float) -> float | None:
        """When to resubscribe `channel`, or None if a scheduled one already covers it."""
        if channel in self._scheduled:
            return None
        self._scheduled.add(channel)
        last = self._last.get(channel)
        return now if last is None else max(now, last + self._interval)

    def fired(self, channel: str, now: float) -> None:
        self._scheduled.discard(channel)
        self._last[channel] = now


class Switchboard:
    """Which connection's frames of one endpoint reach the consumers, and the up/down events.

    Per kind, `current` is the epoch last announced up. Book frames pass only from the current
    book connection. Trade frames pass from every announced connection still open, so the old
    connection of a make-before-break switch keeps delivering until it is closed.
    """

    def __init__(self, inst_id: str, endpoint: Endpoint) -> None:
        self._inst_id = inst_id
        self._endpoint: Endpoint = endpoint
        self._current: dict[Kind, int] = {}
        self._trade_epochs: set[int] = set()

    def current(self, kind: Kind) -> int | None:
        return self._current.get(kind)

    def announce(self, kind: Kind, epoch: int) -> ConnectionEvent | None:
        """Make `epoch` the current connection for `kind`; the `up` event, unless it already was."""
        if self._current.get(kind) == epoch:
            return None
        self._current[kind] = epoch
        if kind == "trades":
            self._trade_epochs.add(epoch)
        return ConnectionEvent(self._inst_id, self._endpoint, epoch, "up")

    def passes(self, kind: Kind, epoch: int) -> bool:
        if kind == "books":
            return self._current.get("books") == epoch
        return epoch in self._trade_epochs

    def announced_any(self, epoch: int) -> bool:
        return epoch in self._current.values() or epoch in self._trade_epochs

    def closed(self, epoch: int, reason: str) -> list[tuple[Kind, ConnectionEvent]]:
        """The connection `epoch` is gone: `down` for every kind it was current for."""
        self._trade_epochs.discard(epoch)
        events: list[tuple[Kind, ConnectionEvent]] = []
        for kind, current in list(self._current.items()):
            if current == epoch:
                del self._current[kind]
                events.append(
                    (kind, ConnectionEvent(self._inst_id, self._endpoint, epoch, "down", reason))
                )
        return events
