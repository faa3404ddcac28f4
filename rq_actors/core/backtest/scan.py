"""Setup detection: the live calculators replayed, the live finder asked at every 1m close. Pure.

The 1m `CandleBuilder`, the `WickTracker`, `RollingVwap` and `CvdCalculator` are the classes the
live system runs; `find_hidden_signals` is the finder `rq signals` runs. Nothing here decides
whether a wick is a signal: it only chooses the instant and keeps the first time per wick.

The instant. When a trade closes a 1m candle (the first trade at or after the minute's end B),
the finder is evaluated `as_of = B` on the tracker's state after every trade before B, plus the
wicks of the candle that just closed (created at B, untouched), with the last price the last
trade before B. So a decision at B uses only trades with `ts < B` (no look-ahead); the order it
places can fill from the closing trade on. VWAP and CVD as of B are the records of the minute
that just closed (they hold no trade at or after B either).

A wick becomes a setup of a rule set the first time it is a signal of that set (tier at or
better than `max_tier`). Baselines, for rule set 0 only: `baseline` = a wick that is a finder
candidate (untouched, age in range) at B but not a signal, the first time that happens;
`random` = at each close with probability 1/`random_every_min` (seeded), a fade on a random side
at a random 0..close_ticks ticks from the price, sized like the recent wicks' median.

Memory: the tracker keeps wicks for `expiry_hours`, set to the shortest whole number of hours
covering the finder's look-back (older wicks can never be a candidate or a surrounding wick, and
the expiry does not change any touch), so it holds O(look-back minutes) wicks; `seen` sets are
pruned to the same horizon.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections import deque
from collections.abc import Sequence
from typing import Any, Literal

from rq_actors.core.derive.candles import Candle, CandleBuilder
from rq_actors.core.derive.cvd import CvdCalculator
from rq_actors.core.derive.vwap import RollingVwap
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.timefmt import MS_PER_MINUTE
from rq_actors.core.wicks.detect import wicks_from_candle
from rq_actors.core.wicks.live import snapshot
from rq_actors.core.wicks.model import Wick, WickSnapshot
from rq_actors.core.wicks.signals import Signal
from rq_actors.core.wicks.tracker import WickTracker
from rq_actors.messages import Trade

from .features import Context
from .options import RuleSet
from .setup import Group, Setup

TF = "1m"
_TIER_RANK = {"EXACT": 0, "NEAR": 1, "CLOSE": 2, "WATCH": 3}
_ANY_SIZE = 1 << 40  # max_size_ticks that lets every candidate through (the baseline query)


class SetupScanner:
    def __init__(
        self,
        meta: InstrumentMeta,
        rules: Sequence[RuleSet],
        *,
        near_ticks: int = 1,
        vwap_windows: Sequence[int] = (60, 240),
        vwap_weighting: str = "base",
        cvd_unit: str = "quote",
        cvd_minutes: int = 30,
        baselines: bool = True,
        feed_all: bool = False,
        random_every_min: int = 30,
        seed: int = 1,
    ) -> None:
        if not rules:
            raise ValueError("need at least one rule set")
        self.meta = meta
        self.tick = meta.tick
        self.rules = list(rules)
        self.lookback_ms = max(r.window_ms for r in rules)
        hours = -(-(self.lookback_ms + MS_PER_MINUTE) // (60 * MS_PER_MINUTE))
        self.candles = CandleBuilder(meta, [TF])
        self.tracker = WickTracker(
            meta.inst_id, meta.tick_sz, expiry_hours=hours, near_ticks=near_ticks
        )
        self.context = Context(
            meta,
            RollingVwap(meta, vwap_windows, vwap_weighting),
            CvdCalculator(meta, cvd_unit, [TF]),
            cvd_minutes,
        )
        self.baselines = baselines
        self.feed_all = feed_all  # feed every trade to the tracker (the slow reference)
        self.random_every_min = random_every_min
        self._rng = random.Random(seed)
        self._seen: list[dict[str, int]] = [{} for _ in self.rules]
        self._seen_base: dict[str, int] = {}
        self._seq = 0
        self.closes = 0  # 1m closes evaluated
        self._recent_sizes: deque[tuple[int, int]] = deque()  # (created_ms, size) of 1m wicks
        self.last_closed: list[Candle] = []  # the 1m candles the last run closed
        self._fresh: list[Wick] = []

    def segment(self, trades: Sequence[Trade], last_price: int | None) -> list[Setup]:
        """Feed one run of trades that all fall in the same minute (the first may close the
        previous one) to the calculators, and return the setups found at that close.
        `last_price`: the last trade before the run, in ticks. Call `track` after trading."""
        closed = self.candles.feed(trades)
        self.last_closed = closed
        self.context.feed(trades)
        self._fresh = [w for c in closed for w in wicks_from_candle(c, self.tick)]
        if not closed or last_price is None:
            return []
        return self._evaluate(closed[-1], last_price)

    def track(self, trades: Sequence[Trade], prices: Sequence[int]) -> None:
        """Bring the tracker past the run (after the run's trades were traded); `prices` are
        the trades' prices in ticks.

        Only the trades that can touch a wick are fed (unless `feed_all`): the run's first
        trade and each new high or low of the run. Exact for every touch — its time, trade and
        price, all the finder reads: every wick the run can touch exists from its first trade
        (wicks are created at minute boundaries and a run is one minute), so an untouched upper
        tip is above the run's high so far (the trade that made that high would have touched
        it) and a trade at or below that high cannot reach it; lower tips mirror. What the
        finder does not read may differ (near misses, the touch variant from the minute's
        close). This skips ~95 % of the tracker's work on a busy instrument."""
        if self.feed_all or not trades:
            self.tracker.feed_batch(trades, self._fresh)
            return
        keep = [trades[0]]
        hi = lo = prices[0]
        for t, px in zip(trades, prices, strict=True):
            if px > hi:
                hi = px
                keep.append(t)
            elif px < lo:
                lo = px
                keep.append(t)
        self.tracker.feed_batch(keep, self._fresh)

    # ---------------------------------------------------------------- the instant

    def _evaluate(self, candle: Candle, last_price: int) -> list[Setup]:
        as_of = candle.close_time_ms
        self.closes += 1
        lives = self.tracker.live_wicks()
        k = bisect_left(lives, as_of - self.lookback_ms, key=lambda lv: lv.wick.created_ms)
        window = lives[k:]
        wicks: dict[str, Wick] = {lv.wick.id: lv.wick for lv in window}
        snaps = [snapshot(lv) for lv in window]
        for w in self._fresh:
            wicks[w.id] = w
            snaps.append(
                WickSnapshot(w.id, w.tf, w.side, w.open_ms, w.created_ms, w.tip, w.size_ticks)
            )
            self._recent_sizes.append((w.created_ms, w.size_ticks))
        ctx = self.context.at(as_of, last_price)
        out: list[Setup] = []
        for ix, rules in enumerate(self.rules):
            signals = self._ask(snaps, last_price, as_of, rules)
            seen = self._seen[ix]
            for s in signals:
                if s.id in seen or _TIER_RANK[s.tier] > _TIER_RANK[rules.max_tier]:
                    continue
                seen[s.id] = s.created_ms
                out.append(self._setup("signal", ix, s, wicks[s.id], as_of, last_price, ctx))
            if ix == 0 and self.baselines:
                ids = {s.id for s in signals}
                loose = self._ask(
                    snaps, last_price, as_of, rules, min_touched_surrounding=0,
                    max_size_ticks=_ANY_SIZE,
                )  # fmt: skip
                for s in loose:
                    if s.id in ids or s.id in self._seen_base or s.id in seen:
                        continue
                    self._seen_base[s.id] = s.created_ms
                    out.append(self._setup("baseline", 0, s, wicks[s.id], as_of, last_price, ctx))
        if self.baselines:
            r = self._random(as_of, last_price, ctx)
            if r is not None:
                out.append(r)
        self._prune(as_of)
        return out

    def _ask(
        self, snaps: list[WickSnapshot], price: int, as_of: int, r: RuleSet, **override: Any
    ) -> list[Signal]:
        found = r.find(snaps, price, as_of, tick=self.tick, timeframe=TF, **override)
        return sorted(found, key=lambda s: (s.created_ms, s.side))  # detection order: wick order

    def _setup(
        self,
        group: Group,
        ix: int,
        s: Signal,
        wick: Wick,
        as_of: int,
        price: int,
        ctx: dict[str, Any],
    ) -> Setup:
        self._seq += 1
        rules = self.rules[ix]
        return Setup(
            seq=self._seq,
            group=group,
            rules=ix,
            id=s.id,
            inst_id=self.meta.inst_id,
            tf=s.tf,
            side=wick.side,
            fade=s.fade,
            as_of_ms=as_of,
            created_ms=wick.created_ms,
            tip=wick.tip,
            base=wick.base,
            size_ticks=s.size_ticks,
            age_min=s.age_ms // MS_PER_MINUTE,
            tier=s.tier,
            strength=s.strength,
            touched_surrounding=s.touched_surrounding,
            surrounding=s.total_surrounding,
            median_size_ticks=s.median_size_ticks,
            price=price,
            distance_ticks=s.distance_ticks,
            order_until_ms=wick.created_ms + rules.age_max * MS_PER_MINUTE,
            context=dict(ctx),
        )

    def _random(self, as_of: int, price: int, ctx: dict[str, Any]) -> Setup | None:
        # three draws at every close, taken or not: the random stream depends on nothing else
        draw = self._rng.random()
        side: Literal["upper", "lower"] = "upper" if self._rng.random() < 0.5 else "lower"
        r = self.rules[0]
        d = self._rng.randint(0, r.close_ticks)
        if draw * self.random_every_min >= 1:
            return None
        sizes = sorted(s for _, s in self._recent_sizes)
        size = sizes[len(sizes) // 2] if sizes else 1
        tip = price + d if side == "upper" else price - d
        self._seq += 1
        return Setup(
            seq=self._seq,
            group="random",
            rules=0,
            id=f"{self.meta.inst_id}:random:{as_of}:{side}",
            inst_id=self.meta.inst_id,
            tf=TF,
            side=side,
            fade="short" if side == "upper" else "long",
            as_of_ms=as_of,
            created_ms=as_of,
            tip=tip,
            base=tip - size if side == "upper" else tip + size,
            size_ticks=size,
            age_min=0,
            tier="-",
            strength="-",
            touched_surrounding=0,
            surrounding=0,
            median_size_ticks=None,
            price=price,
            distance_ticks=d,
            order_until_ms=as_of + (r.age_max - r.age_min) * MS_PER_MINUTE,
            context=dict(ctx),
        )

    def _prune(self, as_of: int) -> None:
        """Forget what can never be a candidate again (bounded memory)."""
        horizon = as_of - self.lookback_ms - MS_PER_MINUTE
        for seen in (*self._seen, self._seen_base):
            if seen and min(seen.values()) < horizon:
                for key in [k for k, c in seen.items() if c < horizon]:
                    del seen[key]
        sizes = self._recent_sizes
        surround = self.rules[0].surround_minutes * MS_PER_MINUTE
        while sizes and sizes[0][0] < as_of - surround:
            sizes.popleft()
