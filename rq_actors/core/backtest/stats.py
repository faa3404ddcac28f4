"""Statistics over outcomes: win rate with a Wilson interval, expectancy with a bootstrap
interval, profit factor, drawdown, breakdowns, and the edge verdict against baselines. Pure.

Only `filled` outcomes (exited by target, stop or time) count as trades; a win is a trade
with net PnL (after fees) > 0, `gross_win_rate` counts trades that gained ticks before fees;
positions still open at the end of the data are reported apart. Sums are exact (PnL in bps
and R are scaled ints, quote is Decimal). Intervals are 95 %: Wilson's score interval for a
proportion (computed in Decimal at 40 digits, then rounded to 4 places), and percentile
bootstrap intervals (`BOOTSTRAP` resamples from a seeded generator, so the same outcomes always
give the same interval) for means and for the difference of two means. An edge is claimed
only when the whole interval is above 0.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Sequence
from decimal import Context, Decimal
from typing import Any

from rq_actors.core.derive.exact import div_half_even, fmt_scaled

from .outcome import RATIO_DP, Outcome, fmt_quote

Z95 = Decimal("1.959963984540054")
BOOTSTRAP = 1000
_CTX = Context(prec=40)
_Q4 = Decimal("0.0001")


def wilson(wins: int, n: int) -> tuple[str, str] | None:
    """Wilson score 95 % interval of `wins / n`, as 4-place decimal strings."""
    if n == 0:
        return None
    c = _CTX
    p = c.divide(Decimal(wins), Decimal(n))
    z2 = c.multiply(Z95, Z95)
    denom = c.add(Decimal(1), c.divide(z2, Decimal(n)))
    centre = c.divide(c.add(p, c.divide(z2, Decimal(2 * n))), denom)
    spread = c.add(
        c.divide(c.multiply(p, c.subtract(Decimal(1), p)), Decimal(n)),
        c.divide(z2, Decimal(4 * n * n)),
    )
    half = c.divide(c.multiply(Z95, c.sqrt(spread)), denom)
    lo = max(Decimal(0), c.subtract(centre, half))
    hi = min(Decimal(1), c.add(centre, half))
    return str(lo.quantize(_Q4)), str(hi.quantize(_Q4))


def _mean_scaled(values: Sequence[int]) -> int:
    """Mean of scaled ints, rounded half-even to the same scale."""
    return div_half_even(sum(values), len(values))


def bootstrap_mean(values: Sequence[int], seed: int) -> tuple[int, int] | None:
    """95 % percentile interval of the mean of `values` (scaled ints)."""
    if len(values) < 2:
        return None
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) for _ in range(BOOTSTRAP))
    return _percentiles(means, n)


def bootstrap_diff(a: Sequence[int], b: Sequence[int], seed: int) -> tuple[int, int] | None:
    """95 % percentile interval of mean(a) − mean(b), resampling each group on its own."""
    if len(a) < 2 or len(b) < 2:
        return None
    rng = random.Random(seed)
    na, nb = len(a), len(b)
    diffs = sorted(
        sum(rng.choices(a, k=na)) * nb - sum(rng.choices(b, k=nb)) * na for _ in range(BOOTSTRAP)
    )
    return _percentiles(diffs, na * nb)


def _percentiles(sorted_sums: list[int], scale: int) -> tuple[int, int]:
    lo = sorted_sums[int(0.025 * (len(sorted_sums) - 1))]
    hi = sorted_sums[int(0.975 * (len(sorted_sums) - 1) + 0.5)]
    return div_half_even(lo, scale), div_half_even(hi, scale)


def _ratio(x: int) -> str:
    return fmt_scaled(x, RATIO_DP)


def summarize(
    outcomes: Iterable[Outcome], seed: int = 1, *, intervals: bool = True
) -> dict[str, Any]:
    """The statistics of one group of outcomes (see the module doc)."""
    outs = list(outcomes)
    placed = [o for o in outs if o.status != "skipped_overlap"]
    trades = sorted((o for o in outs if o.closed), key=lambda o: (o.exit_ms or 0, o.setup.seq))
    n = len(trades)
    wins = sum(1 for o in trades if o.win)
    bps = [o.pnl_bps for o in trades]
    rs = [o.pnl_r for o in trades]
    gain = sum((o.pnl_quote for o in trades if o.pnl_quote > 0), Decimal(0))
    loss = sum((-o.pnl_quote for o in trades if o.pnl_quote < 0), Decimal(0))
    equity, peak, drawdown = Decimal(0), Decimal(0), Decimal(0)
    for o in trades:
        equity += o.pnl_quote
        peak = max(peak, equity)
        drawdown = max(drawdown, peak - equity)
    filled = n + sum(1 for o in outs if o.status == "open_at_end")
    ci = bootstrap_mean(bps, seed) if intervals else None
    ci_r = bootstrap_mean(rs, seed + 1) if intervals else None
    return {
        "setups": len(outs),
        "skipped_overlap": len(outs) - len(placed),
        "filled": filled,
        "fill_rate": None if not placed else str((Decimal(filled) / len(placed)).quantize(_Q4)),
        "trades": n,
        "open_at_end": filled - n,
        "wins": wins,
        "win_rate": None if not n else str((Decimal(wins) / n).quantize(_Q4)),
        "win_rate_ci95": wilson(wins, n),
        "gross_win_rate": None
        if not n
        else str((Decimal(sum(1 for o in trades if o.pnl_ticks > 0)) / n).quantize(_Q4)),
        "expectancy_bps": None if not n else _ratio(_mean_scaled(bps)),
        "expectancy_bps_ci95": None if ci is None else [_ratio(ci[0]), _ratio(ci[1])],
        "expectancy_r": None if not n else _ratio(_mean_scaled(rs)),
        "expectancy_r_ci95": None if ci_r is None else [_ratio(ci_r[0]), _ratio(ci_r[1])],
        "pnl_quote": fmt_quote(sum((o.pnl_quote for o in trades), Decimal(0))),
        "fees_quote": fmt_quote(sum((o.fees_quote for o in trades), Decimal(0))),
        "profit_factor": None if not loss else str((gain / loss).quantize(_Q4)),
        "max_drawdown_quote": fmt_quote(drawdown),
        "mean_mfe_ticks": None if not n else _mean_text([o.mfe_ticks for o in trades]),
        "mean_mae_ticks": None if not n else _mean_text([o.mae_ticks for o in trades]),
        "mean_holding_s": None
        if not n
        else _mean_text([(o.holding_ms or 0) // 1000 for o in trades]),
        "exit_reasons": _count(o.reason or "-" for o in trades),
    }


def _mean_text(values: Sequence[int]) -> str:
    return _ratio(_mean_scaled([v * 10**RATIO_DP for v in values]))


def _count(keys: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in keys:
        out[k] = out.get(k, 0) + 1
    return dict(sorted(out.items()))


def edge(a: Sequence[Outcome], b: Sequence[Outcome] | None, seed: int) -> dict[str, Any]:
    """Expectancy (bps) of `a` minus that of `b` (None: minus 0), with its interval and the
    verdict in plain words."""
    xa = [o.pnl_bps for o in a if o.closed]
    if b is None:
        ci = bootstrap_mean(xa, seed)
        diff = None if not xa else _mean_scaled(xa)
    else:
        xb = [o.pnl_bps for o in b if o.closed]
        ci = bootstrap_diff(xa, xb, seed)
        diff = None if not xa or not xb else _mean_scaled(xa) - _mean_scaled(xb)
    claim = ci is not None and ci[0] > 0
    what = "expectancy" if b is None else "difference"
    if ci is None:
        text = "not enough trades to say anything"
    elif claim:
        text = f"edge: the 95 % interval of the {what} is above 0"
    elif ci[1] < 0:
        text = f"{'loses' if b is None else 'worse'}: the 95 % interval of the {what} is below 0"
    else:
        text = f"no edge shown: the 95 % interval of the {what} includes 0"
    return {
        "diff_bps": None if diff is None else _ratio(diff),
        "ci95_bps": None if ci is None else [_ratio(ci[0]), _ratio(ci[1])],
        "edge": claim,
        "verdict": text,
    }


def breakdown(
    outcomes: Sequence[Outcome], key: Callable[[Outcome], str], seed: int
) -> dict[str, dict[str, Any]]:
    """`summarize` per bucket of `key` (no bootstrap: Wilson intervals only), sorted by bucket."""
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(key(o), []).append(o)
    return {k: summarize(v, seed, intervals=False) for k, v in sorted(groups.items())}


def bucket(value: int, edges: Sequence[int]) -> str:
    """`"lo-hi"` label of the bucket of `value` among ascending `edges` (last one open)."""
    for lo, hi in itertools.pairwise(edges):
        if lo <= value < hi:
            return f"{lo:02d}-{hi - 1:02d}" if hi - 1 != lo else f"{lo:02d}"
    return f"{edges[-1]:02d}+" if value >= edges[-1] else f"<{edges[0]:02d}"
