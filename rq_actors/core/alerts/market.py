"""Market-context alerts on final 1m minutes: VWAP deviation and CVD divergence.

Both join, per instrument and minute M, the 1m candle's `close` with the value of another final
1m stream (the `vwap` record, the 1m `cvd` record). The jobs publish independently, so either
may come first; a minute is judged once both are known, in minute order. Decisions depend on
event time only, so a replay of the same records gives the same alerts.

VWAP deviation: dev(M) = (close − vwap_W) / vwap_W in bps. Armed at start; an armed rule alerts
when |dev| ≥ threshold_bps and disarms; it re-arms once |dev| ≤ rearm_bps (hysteresis), or
alerts again at once if the price jumps to the *other* side beyond the threshold.

CVD divergence over L = lookback_min: let B be the newest minute at or before M − L that has
both records (the base). Bearish at M: close(M) is above every close from B to M − 1 while
cvd(M) − cvd(B) < −min_cvd_change. Bullish: close(M) below every such close while
cvd(M) − cvd(B) > min_cvd_change. One alert per episode: the same direction alerts again only
after a minute without that divergence.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any, Protocol

from rq_actors.core.alerts.model import (
    Alert,
    RateLimiter,
    RateLimitSettings,
    idempotency_key,
    instrument_allowed,
)
from rq_actors.core.alerts.text import dashboard_link, market_message, one_decimal, signed
from rq_actors.core.timefmt import MS_PER_MINUTE, iso_s

_BPS = Decimal(10_000)
Fields = dict[str, Any]
_JOIN_BOUND = 16  # minutes of one stream waiting for the other (they are seconds apart)


class _MinuteJoin:
    """Pairs (close, value) of the same minute; yields pairs in minute order, each once."""

    def __init__(self) -> None:
        self._closes: dict[int, Decimal] = {}
        self._values: dict[int, Decimal] = {}
        self._done = -1

    def add(
        self, minute: int, *, close: Decimal | None = None, value: Decimal | None = None
    ) -> tuple[Decimal, Decimal] | None:
        if minute <= self._done:
            return None
        if close is not None:
            self._closes[minute] = close
        if value is not None:
            self._values[minute] = value
        for side in (self._closes, self._values):
            while len(side) > _JOIN_BOUND:
                del side[min(side)]
        if minute in self._closes and minute in self._values:
            self._done = minute
            pair = self._closes.pop(minute), self._values.pop(minute)
            for side in (self._closes, self._values):
                for m in [m for m in side if m <= minute]:
                    del side[m]
            return pair
        return None


class _MarketRule:
    rule = ""

    def __init__(self, rate_limit: RateLimitSettings, instruments: list[str], dashboard: str):
        self.limiter = RateLimiter(rate_limit)
        self._instruments = instruments
        self._dashboard = dashboard
        self._joins: dict[str, _MinuteJoin] = {}

    def on_candle(self, inst: str, minute: int, close: Decimal) -> Alert | None:
        join = self._join(inst)
        return self._judge(inst, minute, join.add(minute, close=close)) if join else None

    def _judge(self, inst: str, minute: int, pair: tuple[Decimal, Decimal] | None) -> Alert | None:
        raise NotImplementedError

    def _join(self, inst: str) -> _MinuteJoin | None:
        if not instrument_allowed(self._instruments, inst):
            return None
        return self._joins.setdefault(inst, _MinuteJoin())

    def _alert(
        self, inst: str, minute: int, event: str, title: str, body: list[str], fields: Fields
    ) -> Alert | None:
        event_ms = minute + MS_PER_MINUTE  # the minute's close
        if not self.limiter.allow(f"{self.rule}:{inst}", event_ms):
            return None
        when = f"{event} · minute {iso_s(minute)}"
        text = market_message(title, body, when, dashboard_link(self._dashboard, inst, "1m"))
        fields = {"instId": inst, "event": event, "minute_utc": iso_s(minute), **fields}
        key = idempotency_key(self.rule, inst, event, event_ms)
        return Alert(key, self.rule, inst, event_ms, title, text, fields)


class VwapDeviationSettings(Protocol):
    @property
    def enabled(self) -> bool: ...
    @property
    def window(self) -> str: ...
    @property
    def threshold_bps(self) -> int: ...
    @property
    def rearm_bps(self) -> int: ...
    @property
    def instruments(self) -> list[str]: ...
    @property
    def rate_limit(self) -> RateLimitSettings: ...


class VwapDeviationRule(_MarketRule):
    rule = "vwap_deviation"

    def __init__(self, s: VwapDeviationSettings, dashboard: str) -> None:
        super().__init__(s.rate_limit, s.instruments, dashboard)
        self._s = s
        self._fired: dict[str, int] = {}  # inst → side of the last alert (+1 above, −1 below)

    def on_vwap(self, inst: str, minute: int, rec: dict[str, Any]) -> Alert | None:
        raw = rec.get(f"vwap_{self._s.window}")
        join = self._join(inst) if raw is not None else None
        if join is None:
            return None
        return self._judge(inst, minute, join.add(minute, value=Decimal(str(raw))))

    def _judge(self, inst: str, minute: int, pair: tuple[Decimal, Decimal] | None) -> Alert | None:
        if pair is None or pair[1] <= 0:
            return None
        close, vwap = pair
        diff = close - vwap
        side = 1 if diff > 0 else -1
        # exact comparisons by cross-multiplying: no rounded division decides anything
        beyond = abs(diff) * _BPS >= self._s.threshold_bps * vwap
        fired = self._fired.get(inst)
        if fired is not None and abs(diff) * _BPS <= self._s.rearm_bps * vwap:
            del self._fired[inst]
            return None
        if not beyond or fired == side:
            return None
        self._fired[inst] = side
        dev = signed(one_decimal(diff * _BPS / vwap))
        where = "above" if side > 0 else "below"
        title = f"VWAP {self._s.window} {inst}: price {dev} bps {where}"
        body = [
            f"Price {close} · VWAP {self._s.window} {vwap}",
            f"Threshold {self._s.threshold_bps} bps",
        ]
        fields = {"price": str(close), "vwap": str(vwap), "window": self._s.window, "dev_bps": dev}
        return self._alert(inst, minute, f"vwap_{where}", title, body, fields)


class CvdDivergenceSettings(Protocol):
    @property
    def enabled(self) -> bool: ...
    @property
    def lookback_min(self) -> int: ...
    @property
    def min_cvd_change(self) -> str: ...
    @property
    def instruments(self) -> list[str]: ...
    @property
    def rate_limit(self) -> RateLimitSettings: ...


class CvdDivergenceRule(_MarketRule):
    """Bound: per instrument, the minutes of one lookback (+1 base) as (minute, close, cvd)."""

    rule = "cvd_divergence"

    def __init__(self, s: CvdDivergenceSettings, dashboard: str) -> None:
        super().__init__(s.rate_limit, s.instruments, dashboard)
        self._lookback_ms = s.lookback_min * MS_PER_MINUTE
        self._min_change = Decimal(s.min_cvd_change)
        self._label = f"{s.lookback_min}m"
        self._history: dict[str, deque[tuple[int, Decimal, Decimal]]] = {}
        self._episode: dict[str, str] = {}

    def on_cvd(self, inst: str, minute: int, rec: dict[str, Any]) -> Alert | None:
        join = self._join(inst)
        if join is None:
            return None
        return self._judge(inst, minute, join.add(minute, value=Decimal(str(rec["cvd_value"]))))

    def _judge(self, inst: str, minute: int, pair: tuple[Decimal, Decimal] | None) -> Alert | None:
        if pair is None:
            return None
        close, cvd = pair
        hist = self._history.setdefault(inst, deque(maxlen=self._lookback_ms // MS_PER_MINUTE + 2))
        hist.append((minute, close, cvd))
        while len(hist) >= 2 and hist[1][0] <= minute - self._lookback_ms:
            hist.popleft()
        base = hist[0]
        if len(hist) < 2 or base[0] > minute - self._lookback_ms:
            return None
        prior = [c for _, c, _ in list(hist)[:-1]]
        change = cvd - base[2]
        direction = None
        if close > max(prior) and change < -self._min_change:
            direction = "bearish"
        elif close < min(prior) and change > self._min_change:
            direction = "bullish"
        previous = self._episode.pop(inst, None)
        if direction is None:
            return None
        self._episode[inst] = direction
        if previous == direction:
            return None
        move = "new high" if direction == "bearish" else "new low"
        title = f"CVD divergence {inst}: {direction} ({move}, CVD {signed(str(change))})"
        body = [
            f"Price {close} · {move} over {self._label}",
            f"CVD {self._label} {signed(str(change))} (from {base[2]} to {cvd})",
            "fade: " + ("short" if direction == "bearish" else "long"),
        ]
        fields = {"price": str(close), "cvd_change": str(change), "lookback": self._label}
        return self._alert(inst, minute, f"cvd_{direction}", title, body, fields)
