"""GC pauses with a full 168 h wick window at 2 instruments (issue 15 item 5).

    python -m bench.gc_pauses

Builds two wick trackers holding a week of 1m wicks each (the largest long-lived structure of
`rq-run`), then times a full collection (`gc.collect(2)`) and the young ones the pipeline's
allocation churn triggers, three ways: default thresholds; `rq_actors.io.health.tune_gc`
(collect, freeze, `GC_THRESHOLDS`) right after the trackers were built, as `rq-run` does 10 s
after start; a further day of wicks made after the freeze; and re-frozen (hourly in rq-run).
"""

from __future__ import annotations

import gc
import random
import time

from bench.bench_wicks import _build
from rq_actors.io.health import GC_THRESHOLDS, GcPauses, tune_gc

_WEEK_MINUTES = 7 * 24 * 60


def _full_ms(repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        gc.collect(2)
        best = min(best, (time.perf_counter() - t0) * 1000)
    return best


def _churn(seconds: float) -> GcPauses:
    """Allocate small short-lived containers like the hot path does; record every pause."""
    pauses = GcPauses()
    pauses.install()
    end = time.perf_counter() + seconds
    keep: list[object] = []
    try:
        while time.perf_counter() < end:
            batch = [{"px": str(i), "sz": [i, i + 1]} for i in range(2_000)]
            keep.append(batch[0])  # a few survive, as records and state do
            del keep[:-1_000]
    finally:
        pauses.uninstall()
    return pauses


def _churn_line() -> str:
    pauses = _churn(5)
    worst = max(pauses.max_us) / 1000
    return f"5 s churn: max pause {worst:.1f} ms, collections per gen {pauses.collections}"


def main() -> None:
    rnd = random.Random(1)
    print(f"default thresholds {gc.get_threshold()}, tuned {GC_THRESHOLDS}")
    trackers = [_build(_WEEK_MINUTES, rnd)[0] for _ in range(2)]
    live = sum(len(t._live) for t in trackers)
    print(f"{live} live wicks, {len(gc.get_objects())} gc-tracked objects")
    print(f"default:  full collection {_full_ms():.1f} ms; {_churn_line()}")
    tune_gc()
    print(f"tune_gc:  full collection {_full_ms():.1f} ms; {_churn_line()}")
    later = [_build(24 * 60, rnd)[0] for _ in range(2)]
    print(f"+1 day of wicks made after the freeze: full collection {_full_ms():.1f} ms")
    tune_gc()  # the hourly re-freeze of ProcessWatch
    print(f"re-frozen: full collection {_full_ms():.1f} ms")
    del trackers, later
    gc.unfreeze()


if __name__ == "__main__":
    main()
