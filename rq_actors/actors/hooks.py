"""The wiring's one seam for choices that are not user configuration.

Production uses `GroupHooks()` as is. Tests and benchmarks pass a subclass
(`rq_actors.actors.testing_hooks.TestHooks`) to make faults the market cannot: the wiring never
knows which faults exist. Not part of the TOML config, so a user cannot set them by accident.
"""

from __future__ import annotations

import attrs

from rq_actors.supervisor import Actor

# measured by bench.derived_wakeups: at 100 instruments, 50 ms wake-ups cost 13-27 % more CPU;
# derived outputs depend on event time only, so the window changes when, never what. A feed
# half full ends the window early (`LiveFeed.gather`): a busy market never overflows it.
DEFAULT_COALESCE_S = 0.25


@attrs.define
class GroupHooks:
    feed_capacity: int = 256  # batches buffered per derived actor before it is marked lagging

    def coalesce_s(self, name: str) -> float:
        """How long derived actor `name` lets live batches gather before the next step."""
        return DEFAULT_COALESCE_S

    def slowdown_s(self, name: str) -> float:
        """Seconds derived actor `name` pauses after each step (0: none; tests make it slow)."""
        return 0.0

    def wrap(self, name: str, actor: Actor) -> Actor:
        """The actor the supervisor runs as `name` (`actor` itself unless a test intervenes)."""
        return actor
