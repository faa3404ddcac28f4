"""Derived metrics (SPEC §7) as a pure functional core: no I/O, no trio, no wall clock.

`CandleBuilder`, `CvdCalculator` and `RollingVwap` each take one instrument's durable trades in
vault order through `feed(trades)`, return the output windows that became final (event time
only), and expose `state()` / `state=` so that `feed(A)`, restart, `feed(B)` gives exactly the
outputs of `feed(A + B)`. The live actors and the batch `rq derive` use these same classes, so
their files are identical by construction. Numbers are exact (scaled integers, see `exact.py`
for the canonical decimal text and `common.py` for quantities and scales).
"""

from rq_actors.core.derive.candles import Candle, CandleBuilder
from rq_actors.core.derive.cvd import CvdCalculator, CvdWindow
from rq_actors.core.derive.exact import fmt_decimal, fmt_scaled
from rq_actors.core.derive.vwap import RollingVwap, VwapMinute, VwapWindow, window_label

__all__ = [
    "Candle",
    "CandleBuilder",
    "CvdCalculator",
    "CvdWindow",
    "RollingVwap",
    "VwapMinute",
    "VwapWindow",
    "fmt_decimal",
    "fmt_scaled",
    "window_label",
]
