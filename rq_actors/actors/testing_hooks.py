"""Knobs that only tests and benchmarks turn: they make faults that the market cannot.

They reach the wiring only through its neutral seam (`hooks.GroupHooks`), and they are not part
of the TOML config, so a user cannot set them by accident. A test that runs `rq-run` as a
process sets them through the environment (read by the `rq-run` command, not the wiring), e.g.
`RQ_TEST_CRASH="book=5,trade_writer=7"`: that actor raises an injected error every 5 (7)
seconds of its life, to exercise the supervisor's restarts under load.
"""

from __future__ import annotations

import os

import attrs
import trio

from rq_actors.actors.hooks import GroupHooks
from rq_actors.supervisor import Actor

CRASH_ENV = "RQ_TEST_CRASH"


class InjectedCrash(RuntimeError):
    """Raised by the crash hook; never by real code."""


@attrs.define
class TestHooks(GroupHooks):
    __test__ = False  # not a pytest test class

    derived_slowdown_s: dict[str, float] = attrs.field(factory=dict)  # actor name → sleep/batch
    crash_every_s: dict[str, float] = attrs.field(factory=dict)  # actor name → seconds

    @classmethod
    def from_env(cls) -> TestHooks:
        spec = os.environ.get(CRASH_ENV, "").strip()
        crashes: dict[str, float] = {}
        for item in filter(None, (p.strip() for p in spec.split(","))):
            name, _, seconds = item.partition("=")
            crashes[name.strip()] = float(seconds)
        return cls(crash_every_s=crashes)

    def slowdown_s(self, name: str) -> float:
        return self.derived_slowdown_s.get(name, 0.0)

    def wrap(self, name: str, actor: Actor) -> Actor:
        after = self.crash_every_s.get(name)
        return actor if after is None else _CrashAfter(actor, name, after)


class _CrashAfter:
    """Runs `inner` and fails after `after_s`: the inner actor is cancelled at whatever await it
    is in, exactly as a crash elsewhere in its task would leave it."""

    def __init__(self, inner: Actor, name: str, after_s: float) -> None:
        self._inner = inner
        self._name = name
        self._after_s = after_s

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._inner.run)
            await trio.sleep(self._after_s)
            raise InjectedCrash(f"injected crash of {self._name} after {self._after_s:g} s")
