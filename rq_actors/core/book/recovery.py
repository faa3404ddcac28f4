"""When to ask the socket actor for a fresh book snapshot (a resubscribe), as a pure class.

Rules (okx-protocol.md §3.6, SPEC §6): one resubscribe per recovery, however many bad updates
follow the fault (they are dropped, not re-reported); at least `min_interval_s` between two
resubscribes; if no snapshot arrives within `first_wait_s`, ask again, doubling the wait up to
`max_wait_s`. Time is a float passed in (trio time in the actor, plain numbers in tests).
"""

from __future__ import annotations


class ResubscribeScheduler:
    def __init__(self, *, min_interval_s: float, first_wait_s: float, max_wait_s: float) -> None:
        self.min_interval_s = min_interval_s
        self.first_wait_s = first_wait_s
        self.max_wait_s = max(max_wait_s, first_wait_s)
        self.recovering = False
        self.attempts = 0  # resubscribes sent in the current recovery
        self._next_at: float | None = None
        self._last_sent: float | None = None

    def request(self, now: float) -> None:
        """The book is broken: ask for a snapshot as soon as the rate limit allows.

        Idempotent during a recovery that has already asked; the snapshot timeout re-asks.
        """
        if not self.recovering:
            self.recovering = True
            self.attempts = 0
            self._next_at = self._earliest(now)
        elif self.attempts == 0:
            # Only watching so far (see `watch`): a real fault means ask now, not later.
            earliest = self._earliest(now)
            self._next_at = earliest if self._next_at is None else min(self._next_at, earliest)

    def watch(self, now: float) -> None:
        """A snapshot is expected (a new subscription): ask only if none comes in time."""
        if not self.recovering:
            self.recovering = True
            self.attempts = 0
            self._next_at = max(now + self.first_wait_s, self._earliest(now))

    def poll(self, now: float) -> bool:
        """True if a resubscribe must be sent now; the caller sends it (or calls `unsent`)."""
        if not self.recovering or self._next_at is None or now < self._next_at:
            return False
        self.attempts += 1
        self._last_sent = now
        wait = min(self.first_wait_s * 2 ** (self.attempts - 1), self.max_wait_s)
        self._next_at = now + max(wait, self.min_interval_s)
        return True

    def unsent(self, now: float) -> None:
        """The request `poll` asked for could not be delivered: retry after the minimum interval."""
        self.attempts = max(0, self.attempts - 1)
        self._next_at = now + max(self.min_interval_s, 0.1)

    def deadline(self) -> float | None:
        """When `poll` should next be called, or None if nothing is pending."""
        return self._next_at if self.recovering else None

    def satisfied(self) -> None:
        """A snapshot arrived: recovery over (the rate limit still remembers the last send)."""
        self.recovering = False
        self.attempts = 0
        self._next_at = None

    def cancel(self) -> None:
        """The connection is gone; the socket actor resubscribes everything when it is back."""
        self.satisfied()

    def _earliest(self, now: float) -> float:
        if self._last_sent is None:
            return now
        return max(now, self._last_sent + self.min_interval_s)
