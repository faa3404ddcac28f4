"""Setup lifecycle (issue #12): the §8.3 finder run after every final 1m close, as a diff.

Pure and synchronous. At each evaluation time `as_of` (the end of a final 1m candle) the caller
hands over the wick tracker's state as it is just before that instant (every trade before
`as_of` applied; the wicks created at `as_of` added untouched), the last trade price and the
market context. The finder (`core.wicks.signals.find_hidden_signals`, one run per configured
timeframe) gives the current setups; compared with the previous evaluation's:

- `appeared`: a setup that was not one before (again after an `invalidated` is possible);
- `tier_changed`: still a setup, other tier or strength (`prev_tier`, `prev_strength`);
- `touched`: gone because a trade reached the tip (`touched_at`, `touch_price`, `variant` —
  the tracker's, or from the just-closed 1m candle while the tracker still waits for it);
- `invalidated`: gone otherwise — `reason` `too_old` (left the age range), `not_small` or
  `too_few_touched`;
- `expired`: gone because the wick itself expired (SPEC §8.2) while a setup.

A gone setup's event carries its last evaluated tier, strength and surrounding counts with the
current price and distance. Events of one evaluation are in wick order. Everything depends on
event time only, so a rebuild from the vault writes the same bytes. State: only the current
setups (a few dozen at most), plus the settings they were made with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

import attrs

from rq_actors.core.signals.context import MarketContext
from rq_actors.core.timefmt import MS_PER_MINUTE, iso_ms, iso_s
from rq_actors.core.wicks.live import Live, snapshot
from rq_actors.core.wicks.model import SIDE_RANK, parse_tick, timeframe_ms, touch_variant
from rq_actors.core.wicks.records import iso_ms_or_none, price_or_none, shared_formatter
from rq_actors.core.wicks.signals import FinderParams, Signal
from rq_actors.errors import IncompatibleState

EventKind = Literal["appeared", "tier_changed", "touched", "invalidated", "expired"]
Minute = tuple[int, int, int]  # high, low, close of the 1m candle ending at `as_of` (ticks)


@attrs.frozen
class _Setup:
    signal: Signal
    tip: int  # ticks
    base: int  # ticks
    expires_ms: int


class SetupLifecycle:
    def __init__(
        self,
        inst_id: str,
        tick: Decimal | str,
        finders: Sequence[FinderParams],
        *,
        expiry_ms: int,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        if len({f.timeframe for f in finders}) != len(finders):
            raise ValueError("one finder per timeframe")
        self.inst_id = inst_id
        self.tick = parse_tick(tick)
        self.fmt = shared_formatter(inst_id, self.tick)
        self.finders = tuple(finders)
        self.expiry_ms = expiry_ms  # the wicks' own expiry (SPEC §8.2), for `expired`
        self._setups: dict[str, _Setup] = {}
        if state is not None:
            self._restore(state)

    @property
    def setups(self) -> list[Signal]:
        """The setups of the last evaluation, in wick order."""
        return [s.signal for s in self._setups.values()]

    def since_ms(self, as_of: int) -> int:
        """The oldest creation time the next evaluation needs wicks from."""
        oldest = [as_of - f.window_ms for f in self.finders]
        oldest.extend(s.signal.created_ms for s in self._setups.values())
        return min(oldest, default=as_of)

    def evaluate(
        self,
        as_of: int,
        lives: Iterable[Live],
        last_price: int,
        minute: Minute | None,
        context: MarketContext,
    ) -> list[dict[str, Any]]:
        """Lifecycle events at `as_of`; `lives`: every retained wick created in
        `[since_ms(as_of), as_of]` (touched or not; order does not matter)."""
        by_id = {lv.wick.id: lv for lv in lives}
        snaps = [snapshot(lv) for lv in by_id.values()]
        current: dict[str, Signal] = {}
        for f in self.finders:
            for sig in self._find(f, snaps, last_price, as_of):
                current[sig.id] = sig
        emit = _Emitter(self, as_of, last_price, context)
        out: list[tuple[tuple[int, int, int], dict[str, Any]]] = []
        for wid, old in self._setups.items():
            if wid not in current:
                live = by_id.get(wid)
                out.append((_order(old.signal), self._gone(emit, old, live, snaps, minute)))
        fresh: dict[str, _Setup] = {}
        for wid, sig in current.items():
            live = by_id[wid]
            prior = self._setups.get(wid)
            setup = _Setup(sig, live.wick.tip, live.wick.base, sig.created_ms + self.expiry_ms)
            fresh[wid] = setup
            if prior is None:
                out.append((_order(sig), emit.record("appeared", setup, sig)))
            elif (prior.signal.tier, prior.signal.strength) != (sig.tier, sig.strength):
                extra = {"prev_tier": prior.signal.tier, "prev_strength": prior.signal.strength}
                out.append((_order(sig), emit.record("tier_changed", setup, sig, extra)))
        self._setups = dict(sorted(fresh.items(), key=lambda kv: _order(kv[1].signal)))
        out.sort(key=lambda pair: pair[0])
        return [record for _, record in out]

    def _find(
        self,
        f: FinderParams,
        snaps: list[Any],
        last_price: int,
        as_of: int,
        min_touched: int | None = None,
    ) -> list[Signal]:
        override = {} if min_touched is None else {"min_touched_surrounding": min_touched}
        return f.find(snaps, last_price, as_of, tick=self.tick, **override)

    def _gone(
        self,
        emit: _Emitter,
        old: _Setup,
        live: Live | None,
        snaps: list[Any],
        minute: Minute | None,
    ) -> dict[str, Any]:
        sig, as_of = old.signal, emit.as_of
        if as_of >= old.expires_ms:
            return emit.record("expired", old, sig, {"expires_at": iso_s(old.expires_ms)})
        if live is None:  # older than the caller keeps wicks for: long past the age range
            return emit.record("invalidated", old, sig, {"reason": "too_old"})
        if live.touched_ms is not None and live.touched_ms <= as_of:
            variant = live.variant
            if variant is None and minute is not None:  # touched in the minute just closed
                variant = touch_variant(sig.side, old.tip, *minute)
            extra = {
                "touched_at": iso_ms_or_none(live.touched_ms),
                "touch_price": price_or_none(live.touch_price, self.fmt),
                "variant": variant,
            }
            return emit.record("touched", old, sig, extra)
        f = next(f for f in self.finders if f.timeframe == sig.tf)
        if as_of - sig.created_ms > f.age_max * MS_PER_MINUTE:
            return emit.record("invalidated", old, sig, {"reason": "too_old"})
        # still a candidate: small but too few touched around it, or no longer small
        relaxed = [s for s in self._find(f, snaps, emit.last_price, as_of, 0) if s.id == sig.id]
        if relaxed:
            return emit.record("invalidated", old, relaxed[0], {"reason": "too_few_touched"})
        return emit.record("invalidated", old, sig, {"reason": "not_small"})

    # ---------------------------------------------------------------- state

    def _settings(self) -> list[dict[str, Any]]:
        return [attrs.asdict(f) for f in self.finders]

    def state(self) -> dict[str, Any]:
        return {
            "finders": self._settings(),
            "setups": [
                {
                    **attrs.asdict(s.signal),
                    "tip_ticks": s.tip,
                    "base": s.base,
                    "expires_ms": s.expires_ms,
                }
                for s in self._setups.values()
            ],
        }

    def _restore(self, state: Mapping[str, Any]) -> None:
        if state["finders"] != self._settings():
            raise IncompatibleState(f"finder settings changed (saved {state['finders']})")
        for doc in state["setups"]:
            fields = dict(doc)
            tip, base, expires = (
                fields.pop("tip_ticks"),
                fields.pop("base"),
                fields.pop("expires_ms"),
            )
            sig = Signal(**fields)
            self._setups[sig.id] = _Setup(sig, tip, base, expires)


class _Emitter:
    """Builds the event records of one evaluation (shared time, price and context)."""

    def __init__(
        self, owner: SetupLifecycle, as_of: int, last_price: int, context: MarketContext
    ) -> None:
        self.owner = owner
        self.as_of = as_of
        self.last_price = last_price
        self.context = context

    def record(
        self,
        event: EventKind,
        setup: _Setup,
        sig: Signal,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        fmt, ctx = self.owner.fmt, self.context
        gone = event in ("touched", "invalidated", "expired")
        distance = abs(self.last_price - setup.tip) if gone else sig.distance_ticks
        return {
            "event_time_utc": iso_ms(self.as_of),
            "event": event,
            "id": sig.id,
            "instId": self.owner.inst_id,
            "tf": sig.tf,
            "side": sig.side,
            "fade": sig.fade,
            "tip": sig.tip,
            "base": fmt.price(setup.base),
            "size_ticks": sig.size_ticks,
            "age_min": (self.as_of - sig.created_ms) // MS_PER_MINUTE,
            "tier": sig.tier,
            "strength": sig.strength,
            "touched_surrounding": sig.touched_surrounding,
            "surrounding": sig.total_surrounding,
            "median_size_ticks": sig.median_size_ticks,
            "price": fmt.price(self.last_price),
            "distance_ticks": distance,
            "vwap_1h": ctx.vwap_1h,
            "vwap_4h": ctx.vwap_4h,
            "vwap_1h_dev_bps": ctx.vwap_1h_dev_bps,
            "cvd_30m": ctx.cvd_30m,
            "open_time_utc": iso_s(sig.open_ms),
            "created_at": iso_s(sig.created_ms),
            **(extra or {}),
        }


def _order(sig: Signal) -> tuple[int, int, int]:
    """Wick order (creation time, shorter timeframe, upper before lower), as elsewhere."""
    return (sig.created_ms, timeframe_ms(sig.tf), SIDE_RANK[sig.side])
