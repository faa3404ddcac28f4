"""A setup: what was known about one wick at the instant it first qualified (no look-ahead).

`group` says why it is traded: `signal` (the finder's rules passed), `baseline` (an untouched
wick of the same ages that failed the filter) or `random` (a random fade near the price, no
wick reason). Prices are ticks; the record turns them into decimal strings.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from rq_actors.core.timefmt import iso_ms
from rq_actors.core.wicks.model import ticks_to_price

Group = Literal["signal", "baseline", "random"]
GROUPS: tuple[Group, ...] = ("signal", "baseline", "random")


@attrs.frozen(slots=True)
class Setup:
    seq: int  # order of detection: unique, deterministic
    group: Group
    rules: int  # index of the rule set that produced it
    id: str  # the wick id (random entries: "random:{as_of}")
    inst_id: str
    tf: str
    side: Literal["upper", "lower"]
    fade: Literal["short", "long"]
    as_of_ms: int  # the 1m close at which it qualified (decisions use only trades before it)
    created_ms: int
    tip: int  # the limit price, ticks
    base: int
    size_ticks: int
    age_min: int
    tier: str
    strength: str
    touched_surrounding: int
    surrounding: int
    median_size_ticks: str | None
    price: int  # last trade before as_of, ticks
    distance_ticks: int
    order_until_ms: int  # the finder lists the wick until then: the default order life
    context: dict[str, Any] = attrs.field(factory=dict, eq=False)  # confluence features

    def record(self, tick: Any) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "group": self.group,
            "rules": self.rules,
            "id": self.id,
            "instId": self.inst_id,
            "tf": self.tf,
            "side": self.side,
            "fade": self.fade,
            "as_of_utc": iso_ms(self.as_of_ms),
            "created_at": iso_ms(self.created_ms),
            "tip": ticks_to_price(self.tip, tick),
            "base": ticks_to_price(self.base, tick),
            "size_ticks": self.size_ticks,
            "age_min": self.age_min,
            "tier": self.tier,
            "strength": self.strength,
            "touched_surrounding": self.touched_surrounding,
            "surrounding": self.surrounding,
            "median_size_ticks": self.median_size_ticks,
            "price": ticks_to_price(self.price, tick),
            "distance_ticks": self.distance_ticks,
            "listed_until_utc": iso_ms(self.order_until_ms),
            **self.context,
        }
