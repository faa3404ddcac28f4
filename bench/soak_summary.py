"""The soak's verdict from its samples: valid or not, and the RSS and live-block slopes per market
day, over the run after warm-up and after every text cache has been full once (`bench.soak`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any


def cache_census(counters: dict[str, Any]) -> dict[str, dict[str, int]]:
    """The `process` line's `cache_<family>_<field>` counters, by family."""
    out: dict[str, dict[str, int]] = {}
    for key, value in counters.items():
        if key.startswith("cache_"):
            name, _, field = key[len("cache_") :].rpartition("_")
            out.setdefault(name, {})[field] = value
    return out


def _caches_summary(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per cache family: fill at the end and the market day every one of its caches had been
    full once (after that day the family's memory cannot grow)."""
    out: dict[str, dict[str, Any]] = {}
    for name, end in rows[-1].get("caches", {}).items():
        day = next(
            (
                r["market_day"]
                for r in rows
                if (f := r.get("caches", {}).get(name))
                and f.get("caches")
                and f["peaked"] == f["caches"]
            ),
            None,
        )
        out[name] = {**end, "all_peaked_at_market_day": day}
    return out


def _slope(points: Sequence[tuple[float, float]]) -> float | None:
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def summarize(rows: Sequence[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    if not rows:
        return {"valid": False, "why": "no samples"}
    after = [r for r in rows if r["wall_s"] >= rows[-1]["wall_s"] * args.warmup]
    slope = _slope([(r["market_day"], r["rss_mb"]) for r in after])
    half = after[len(after) // 2 :]
    late = _slope([(r["market_day"], r["rss_mb"]) for r in half])
    caches = _caches_summary(rows)
    days = [c["all_peaked_at_market_day"] for c in caches.values()]
    peaked_day = max(days) if days and None not in days else None
    peaked = [r for r in after if peaked_day is not None and r["market_day"] >= peaked_day]
    slope_peaked = _slope([(r["market_day"], r["rss_mb"]) for r in peaked])
    blocks = _slope([(r["market_day"], r["heap_kblocks"]) for r in after])
    blocks_peaked = _slope([(r["market_day"], r["heap_kblocks"]) for r in peaked])
    problems = []
    if max(r["lag_s"] for r in after) > args.max_lag_s:
        problems.append(f"lag above {args.max_lag_s} s after warm-up")
    if any(r["writer"] != "running" for r in after):
        problems.append("trade writer not running throughout")
    return {
        "valid": not problems,
        "why": "; ".join(problems) or "kept up",
        "market_days": rows[-1]["market_day"],
        "wall_min": round(rows[-1]["wall_s"] / 60, 1),
        "rss_start_mb": after[0]["rss_mb"],
        "rss_end_mb": rows[-1]["rss_mb"],
        "rss_max_mb": max(r["rss_mb"] for r in rows),
        "slope_mb_per_market_day": None if slope is None else round(slope, 2),
        "slope_second_half_mb_per_market_day": None if late is None else round(late, 2),
        "max_lag_s_after_warmup": max(r["lag_s"] for r in after),
        "gc_max_pause_ms": max(r["gc_pause_ms"] for r in rows),
        "gc_max_pause_ms_after_warmup": max(r["gc_pause_ms"] for r in after),
        "gc_max_pause_cpu_ms_after_warmup": max(r["gc_cpu_ms"] for r in after),
        "gc_gen1_max_ms": rows[-1]["gc1_max_ms"],
        "gc_gen2_max_ms": rows[-1]["gc2_max_ms"],
        "gen2_collections": rows[-1]["gen2"],
        "cpu_pct_mean": round(sum(r["cpu_pct"] for r in after) / len(after), 1),
        "wicks_active_end": rows[-1]["wicks"],
        "caches": caches,
        "caches_all_peaked_at_market_day": peaked_day,
        "slope_after_caches_peaked_mb_per_market_day": (
            None if slope_peaked is None else round(slope_peaked, 2)
        ),
        "heap_kblocks_start": after[0]["heap_kblocks"],
        "heap_kblocks_end": rows[-1]["heap_kblocks"],
        "heap_kblocks_slope_per_market_day": None if blocks is None else round(blocks, 1),
        "heap_kblocks_slope_after_caches_peaked": (
            None if blocks_peaked is None else round(blocks_peaked, 1)
        ),
    }
