"""The summary document: statistics per group, the edge verdicts, breakdowns, the sweep. Pure.

Everything is computed for the base options (rule set 0, exit set 0); the sweep table covers
the others. Breakdown keys: tier, strength, tf, side, age bucket (5-minute steps),
touched_surrounding bucket, size bucket, confluence score and UTC hour of the setup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rq_actors.core.timefmt import MS_PER_DAY, MS_PER_HOUR

from .features import confluence_score
from .options import ExitRules, RuleSet
from .outcome import Outcome
from .setup import GROUPS
from .stats import breakdown, bucket, edge, summarize
from .sweep import study

AGE_EDGES = (0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 60)
TOUCHED_EDGES = (0, 5, 10, 15, 20, 25, 30)
SIZE_EDGES = (1, 2, 3, 5, 9, 17)


def scored(outcomes: Sequence[Outcome], cvd_key: str) -> dict[int, int]:
    """Confluence score per setup seq (features are in the setup's context)."""
    return {
        o.setup.seq: confluence_score({"fade": o.setup.fade, **o.setup.context}, cvd_key)
        for o in outcomes
    }


def summary(
    outcomes: Sequence[Outcome],
    rules: Sequence[RuleSet],
    exits: Sequence[ExitRules],
    *,
    cvd_key: str,
    first_ms: int,
    last_ms: int,
    holdout: float = 0.3,
    seed: int = 1,
) -> dict[str, Any]:
    base = [o for o in outcomes if o.setup.rules == 0 and o.exits == 0]
    by_group = {g: [o for o in base if o.setup.group == g] for g in GROUPS}
    signal = by_group["signal"]
    scores = scored(base, cvd_key)
    keys: dict[str, Callable[[Outcome], str]] = {
        "tier": lambda o: o.setup.tier,
        "strength": lambda o: o.setup.strength,
        "tf": lambda o: o.setup.tf,
        "side": lambda o: o.setup.side,
        "age_min": lambda o: bucket(o.setup.age_min, AGE_EDGES),
        "touched_surrounding": lambda o: bucket(o.setup.touched_surrounding, TOUCHED_EDGES),
        "size_ticks": lambda o: bucket(o.setup.size_ticks, SIZE_EDGES),
        "confluence_score": lambda o: str(scores[o.setup.seq]),
        "hour_utc": lambda o: f"{o.setup.as_of_ms % MS_PER_DAY // MS_PER_HOUR:02d}",
    }
    doc: dict[str, Any] = {
        "groups": {g: summarize(v, seed) for g, v in by_group.items()},
        "edge": {
            "signal_vs_zero": edge(signal, None, seed),
            "signal_vs_baseline": edge(signal, by_group["baseline"], seed),
            "signal_vs_random": edge(signal, by_group["random"], seed),
        },
        "breakdown": {name: breakdown(signal, key, seed) for name, key in keys.items()},
    }
    if len(rules) > 1 or len(exits) > 1:
        split = first_ms + int((last_ms - first_ms) * (1 - holdout))
        doc["sweep"] = study(outcomes, rules, exits, split, seed=seed)
        doc["sweep"]["split_ms"] = split
    return doc


def verdict_lines(doc: dict[str, Any]) -> list[str]:
    """The plain-words conclusions, for the terminal and the report."""
    e = doc["edge"]
    lines = [
        f"vs 0 (net of fees):  {e['signal_vs_zero']['verdict']}",
        f"vs baseline wicks:   {e['signal_vs_baseline']['verdict']}",
        f"vs random entries:   {e['signal_vs_random']['verdict']}",
    ]
    if e["signal_vs_zero"]["edge"] and e["signal_vs_baseline"]["edge"]:
        lines.append("The finder's setups pay, and better than wicks that fail its filter.")
    elif not e["signal_vs_baseline"]["edge"]:
        lines.append("No evidence that the finder's filter adds anything on this data.")
    return lines
