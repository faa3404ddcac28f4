"""What every metric job is (`MetricJob`) and the one generic job over a pure calculator.

The live derived actors and `rq derive` both drive jobs through `MetricJob.process(trades)`, so
live and batch outputs are identical by construction. Order of durability: outputs are appended
and flushed first, the state file is replaced atomically after them (SPEC §4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from rq_actors.errors import RqError
from rq_actors.io.metrics.sink import StreamSink
from rq_actors.io.vault.files import atomic_write_json, read_json
from rq_actors.messages import Trade

T = TypeVar("T")


class MetricJob(Protocol):
    """One metric of one instrument: a pure core, its output streams and its state file."""

    @property
    def kind(self) -> str: ...

    @property
    def sinks(self) -> Mapping[str, StreamSink]: ...

    @property
    def cursor(self) -> tuple[int, int]:
        """The last `(ts_ms, trade_id)` processed; `(-1, -1)` before any (replay starts there)."""
        ...

    def process(self, trades: Sequence[Trade]) -> int:
        """Feed trades (replays at or before the cursor are skipped); return records written."""
        ...

    def save_state(self) -> None: ...

    def close(self) -> None: ...


class Calculator(Protocol):
    @property
    def cursor(self) -> tuple[int, int]: ...

    def feed(self, trades: Sequence[Trade]) -> Sequence[Any]: ...

    def state(self) -> dict[str, Any]: ...


class StateMismatch(RqError):
    """The saved state was made with other settings; `rq derive --rebuild` starts afresh."""


def mismatch(kind: str, path: Path, exc: Exception) -> StateMismatch:
    return StateMismatch(
        f"{path}: saved {kind} state does not fit the config ({exc}); "
        f"run `rq derive CONFIG --only {kind} --rebuild`"
    )


def restored(kind: str, path: Path, make: Callable[[dict[str, Any] | None], T], rebuild: bool) -> T:
    """`make(saved state)` (None when rebuilding or never saved), or `StateMismatch`."""
    state = None if rebuild else read_json(path)
    if state is None:  # nothing saved to blame: any error is the config's or a bug, said as such
        return make(None)
    try:
        return make(state)
    except (ValueError, KeyError) as exc:  # IncompatibleState, or a saved state that is garbled
        raise mismatch(kind, path, exc) from exc


Route = Callable[[Any], tuple[str, int, dict[str, Any]]]


class CalculatorJob:
    """A `MetricJob` around one calculator whose results each go to one stream."""

    def __init__(
        self,
        kind: str,
        calc: Calculator,
        route: Route,
        sinks: dict[str, StreamSink],
        state_path: Path,
    ) -> None:
        self.kind = kind
        self.calc = calc
        self._route = route
        self.sinks = sinks
        self.state_path = state_path
        self.last_results: Sequence[Any] = ()

    @property
    def cursor(self) -> tuple[int, int]:
        return self.calc.cursor

    def process(self, trades: Sequence[Trade]) -> int:
        """Feed trades; append the windows they made final. Returns records written."""
        results = self.calc.feed(trades)
        self.last_results = results
        if not results:
            return 0
        grouped: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for result in results:
            stream, window_ms, record = self._route(result)
            grouped.setdefault(stream, []).append((window_ms, record))
        return sum(self.sinks[s].write(items) for s, items in grouped.items())

    def save_state(self) -> None:
        for sink in self.sinks.values():
            sink.sync()
        atomic_write_json(self.state_path, self.calc.state())

    def close(self) -> None:
        for sink in self.sinks.values():
            sink.close()
