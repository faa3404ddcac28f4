"""The threshold study: a grid of rule and exit settings, one replay, an out-of-sample pick. Pure.

`parse_sweep(["age_min=15,20", "target=1R,2R"])` gives the values per knob. Rule knobs
(`age_min`, `age_max`, `min_touched_surrounding`, `surround_minutes`, `close_ticks`,
`max_size_ticks`) make rule sets, exit knobs (`target`, `stop`, `time_stop_min`, `fill_rule`)
make exit sets; the engine runs every rule set × exit set in the same pass (the candles, the
tracker and VWAP/CVD are computed once; the finder is asked once per rule set per close, the
exits cost one heap entry per trigger), so a 27-point grid costs far less than 27 replays.
Rule set 0 / exit set 0 are always the base options (the baselines are built for them).

Out of sample: setups with `as_of` before the split instant (the first `1 − holdout` of the
replayed time) choose the combination with the best expectancy (at least `min_trades` trades);
only its result on the later part is evidence. With k combinations compared, the in-sample best
is biased upward; the report says so.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from .options import Distance, ExitRules, OptionError, RuleSet
from .outcome import Outcome
from .stats import edge, summarize

RULE_KEYS = (
    "age_min",
    "age_max",
    "min_touched_surrounding",
    "surround_minutes",
    "close_ticks",
    "max_size_ticks",
)
EXIT_KEYS = ("target", "stop", "time_stop_min", "fill_rule")
MAX_POINTS = 400


def parse_sweep(items: Sequence[str]) -> dict[str, list[str]]:
    grid: dict[str, list[str]] = {}
    for item in items:
        key, eq, values = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or not values.strip():
            raise OptionError(f"--sweep {item!r}: expected KEY=V1,V2,… (e.g. age_min=15,20,25)")
        if key not in RULE_KEYS + EXIT_KEYS:
            raise OptionError(
                f"--sweep {key!r}: unknown knob; choose from {', '.join(RULE_KEYS + EXIT_KEYS)}"
            )
        if key in grid:
            raise OptionError(f"--sweep {key!r} given twice")
        grid[key] = [v.strip() for v in values.split(",") if v.strip()]
    return grid


def _value(key: str, text: str) -> Any:
    if key in ("target", "stop"):
        return Distance.parse(text, key, allow_r=key == "target")
    if key == "fill_rule":
        return text
    try:
        value = int(text)
    except ValueError:
        raise OptionError(f"--sweep {key}={text!r}: expected a whole number") from None
    if key == "max_size_ticks" and value == 0:
        return None  # as in the config: 0 means the surrounding median
    return value


def expand(
    grid: Mapping[str, Sequence[str]], base_rules: RuleSet, base_exits: ExitRules
) -> tuple[list[RuleSet], list[ExitRules]]:
    """All rule sets and exit sets of the grid, the base ones first (deduplicated)."""
    rules = _product(grid, RULE_KEYS, base_rules)
    exits = _product(grid, EXIT_KEYS, base_exits)
    if len(rules) * len(exits) > MAX_POINTS:
        raise OptionError(
            f"--sweep has {len(rules) * len(exits)} points; at most {MAX_POINTS} in one run"
        )
    return rules, exits


def _product(grid: Mapping[str, Sequence[str]], keys: Sequence[str], base: Any) -> list[Any]:
    axes = [(k, [_value(k, v) for v in grid[k]]) for k in keys if k in grid]
    out = [base]
    for combo in itertools.product(*(vals for _, vals in axes)):
        try:
            item = attrs.evolve(base, **dict(zip([k for k, _ in axes], combo, strict=True)))
        except OptionError as exc:
            raise OptionError(f"--sweep: {exc}") from None
        if item not in out:
            out.append(item)
    return out


def study(
    outcomes: Sequence[Outcome],
    rules: Sequence[RuleSet],
    exits: Sequence[ExitRules],
    split_ms: int,
    *,
    min_trades: int = 10,
    seed: int = 1,
) -> dict[str, Any]:
    """In-sample table, the in-sample pick and its held-out result."""
    signal = [o for o in outcomes if o.setup.group == "signal"]
    points: list[dict[str, Any]] = []
    best: tuple[Decimal, int, int] | None = None
    for ri, ei in itertools.product(range(len(rules)), range(len(exits))):
        mine = [o for o in signal if o.setup.rules == ri and o.exits == ei]
        early = [o for o in mine if o.setup.as_of_ms < split_ms]
        late = [o for o in mine if o.setup.as_of_ms >= split_ms]
        s_in = summarize(early, seed, intervals=False)
        s_out = summarize(late, seed, intervals=False)
        points.append(
            {
                "rules": ri,
                "exits": ei,
                "label": f"{rules[ri].label()} | {exits[ei].label()}",
                "in_sample": _brief(s_in),
                "out_of_sample": _brief(s_out),
            }
        )
        if s_in["trades"] >= min_trades and s_in["expectancy_bps"] is not None:
            score = (Decimal(s_in["expectancy_bps"]), -ri, -ei)
            if best is None or score > best:
                best = score
    pick: dict[str, Any] | None = None
    if best is not None:
        ri, ei = -best[1], -best[2]
        late = [
            o
            for o in signal
            if o.setup.rules == ri and o.exits == ei and o.setup.as_of_ms >= split_ms
        ]
        pick = {
            "rules": ri,
            "exits": ei,
            "label": f"{rules[ri].label()} | {exits[ei].label()}",
            "out_of_sample": summarize(late, seed),
            "out_of_sample_vs_zero": edge(late, None, seed),
        }
    k = len(points)
    return {
        "points": points,
        "pick": pick,
        "min_trades": min_trades,
        "warning": (
            f"{k} combinations were compared on the same data: the best in-sample result is "
            "biased upward (multiple comparisons). Only the pick's out-of-sample result, on "
            "data it was not chosen on, is evidence; and it is one more draw, not a proof."
        ),
    }


def _brief(s: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("trades", "win_rate", "win_rate_ci95", "expectancy_bps", "expectancy_r", "pnl_quote")
    return {k: s[k] for k in keys}
