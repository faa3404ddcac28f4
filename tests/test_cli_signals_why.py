"""`rq signals` explains an empty answer with the first finder rule no wick gets past."""

from __future__ import annotations

from rq_actors.core.timefmt import MS_PER_MINUTE
from rq_actors.core.wicks.model import WickSnapshot
from rq_actors.io.signals import why_no_signals

AS_OF = 1_767_323_045_000


def _wick(age_min: float, touched: bool = False) -> WickSnapshot:
    created = AS_OF - int(age_min * MS_PER_MINUTE)
    return WickSnapshot(
        id=f"X:1m:{created}:upper",
        tf="1m",
        side="upper",
        open_ms=created - MS_PER_MINUTE,
        created_ms=created,
        tip=1000,
        size_ticks=3,
        touched_ms=created + 1000 if touched else None,
        touch_price=1000 if touched else None,
    )


def _why(wicks: list[WickSnapshot]) -> str:
    return why_no_signals(
        wicks,
        AS_OF,
        timeframe="1m",
        age_min=20,
        age_max=40,
        min_touched_surrounding=10,
        window_minutes=70,
    )


def test_each_reason() -> None:
    assert _why([]).startswith("no 1m wick was created in the 70 minutes before as_of")
    assert (
        _why([_wick(1), _wick(3.5)])
        == "no 1m wick is 20–40 minutes old yet; the oldest is 3 minute(s)"
    )
    assert _why([_wick(3), _wick(55)]).startswith("no 1m wick is 20–40 minutes old (none")
    assert _why([_wick(25, touched=True), _wick(30, touched=True)]) == (
        "all 2 1m wick(s) 20–40 minutes old are touched already"
    )
    assert _why([_wick(25), _wick(30, touched=True)]).startswith(
        "1 untouched 1m wick(s) are 20–40 minutes old, but none is smaller than the median"
    )
