"""The backtest engine: trades in, setups and outcomes out, in one pass. Pure, synchronous.

`feed(trades)` takes trades in vault order, splits them into runs of one minute each (the first
trade of a run closes the previous minute), and per run: the calculators see the run, the
finder is asked at the close (`SetupScanner`), the new setups' orders are placed, the run's
trades are traded (`ExecutionBook`), and only then the wick tracker is brought past the run. So
an order placed at a close can fill on the closing trade, and no decision sees a later trade.

A trade the candle builder would reject, or off the tick grid, is dropped before everything
(the wicks job does the same), so every component sees the same trades.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rq_actors.core.derive.common import shared_quant
from rq_actors.core.meta import InstrumentMeta
from rq_actors.core.timefmt import MS_PER_MINUTE
from rq_actors.core.wicks.model import OffGridPrice, price_to_ticks
from rq_actors.messages import Trade

from .examples import Examples
from .execution import ExecutionBook
from .options import ExitRules, RuleSet
from .outcome import Outcome
from .scan import SetupScanner
from .setup import Setup


class BacktestEngine:
    def __init__(
        self,
        meta: InstrumentMeta,
        rules: Sequence[RuleSet],
        exits: Sequence[ExitRules],
        **scanner_options: object,
    ) -> None:
        self.meta = meta
        self.tick = meta.tick
        self.scanner = SetupScanner(meta, rules, **scanner_options)  # type: ignore[arg-type]
        self.book = ExecutionBook(exits, self.tick)
        self.examples = Examples()
        self.setups: list[Setup] = []
        self.trades = 0
        self.dropped = 0
        self.first_ms: int | None = None
        self.last_ms: int | None = None
        self._quant = shared_quant(meta)
        self._ticks: dict[str, int] = {}
        self._last_px: int | None = None
        self._minute_end = -1
        self._run: list[Trade] = []

    def feed(self, trades: Iterable[Trade]) -> None:
        run = self._run
        for t in trades:
            if t.ts_ms >= self._minute_end:
                if run:
                    self._process(run)
                    run = self._run = []
                self._minute_end = t.ts_ms - t.ts_ms % MS_PER_MINUTE + MS_PER_MINUTE
            run.append(t)

    def finish(self) -> list[Outcome]:
        """Process what is buffered and close the book at the last trade: every outcome."""
        if self._run:
            self._process(self._run)
            self._run = []
        if self.last_ms is not None and self._last_px is not None:
            self.book.finish(self.last_ms, self._last_px)
        return sorted(self.book.outcomes, key=lambda o: (o.setup.seq, o.exits))

    def _process(self, run: list[Trade]) -> None:
        usable: list[Trade] = []
        prices: list[int] = []
        for t in run:
            px = self._tick_of(t)
            if px is None:
                self.dropped += 1
                continue
            usable.append(t)
            prices.append(px)
        if not usable:
            return
        if self.first_ms is None:
            self.first_ms = usable[0].ts_ms
        new = self.scanner.segment(usable, self._last_px)
        self.examples.on_candles(self.scanner.last_closed)
        self.examples.on_setups(new)
        book = self.book
        for s in new:
            book.place(s)
        self.setups.extend(new)
        hi, lo, tg = book.hi_gate, book.lo_gate, book.t_gate
        for t, px in zip(usable, prices, strict=True):
            if px >= hi or px <= lo or t.ts_ms >= tg:
                book.on_trade(t.ts_ms, px)
                hi, lo, tg = book.hi_gate, book.lo_gate, book.t_gate
        self.scanner.track(usable, prices)
        self.trades += len(usable)
        self._last_px = prices[-1]
        self.last_ms = usable[-1].ts_ms

    def _tick_of(self, t: Trade) -> int | None:
        px = self._ticks.get(t.px)
        if px is not None:
            return px if (self._quant.sz_cache.get(t.sz) or self._quant.sz(t.sz)) else None
        if self._quant.px(t.px) is None or not self._quant.sz(t.sz):
            return None
        try:
            px = price_to_ticks(t.px, self.tick)
        except OffGridPrice:
            return None
        if len(self._ticks) < 1 << 16:  # bounded cache: a price grid repeats a lot
            self._ticks[t.px] = px
        return px
