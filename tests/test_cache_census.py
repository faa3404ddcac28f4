"""The cache census (issue #15): every bounded text cache is counted in the `process` health
line (entries, capacity, clears), owners drop out when they are gone, and a full cache is
cleared, never grown."""

from __future__ import annotations

import gc
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from rq_actors.core.book import model
from rq_actors.core.cache_census import FAMILIES, CacheFamily, CacheFill, cache_fills
from rq_actors.core.derive import common
from rq_actors.core.wicks import records
from rq_actors.io.health import HealthLog, ProcessWatch
from tests.helpers.trades import META


class _Owner:
    pass


def test_a_family_counts_its_owners_caches_only_while_they_live() -> None:
    fam = CacheFamily("test", 2)
    owner = _Owner()
    first, second, shared = {1: 1}, {3: 3}, {4: 4, 5: 5}
    fam.track(owner, first, second)
    fam.track_global(shared)  # full now: peaked
    first.clear()
    fam.cleared(first)  # emptied when full: peaked, although it holds nothing now
    assert fam.fill() == CacheFill(entries=3, capacity=6, clears=1, caches=3, peaked=2)
    del owner, first, second
    gc.collect()
    assert fam.fill() == CacheFill(entries=2, capacity=2, clears=1, caches=1, peaked=1)


def _family_at(
    monkeypatch: pytest.MonkeyPatch, module: object, limit: int, name: str
) -> tuple[CacheFamily, CacheFill]:
    """`module`'s caches bounded at `limit`; its family and the family's fill before the test
    (after a collection, so owners of earlier tests are gone)."""
    monkeypatch.setattr(module, "_CACHE_LIMIT", limit)
    fam = FAMILIES[name]
    gc.collect()
    return fam, fam.fill()


def test_quant_caches_are_bounded_and_their_clears_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fam, before = _family_at(monkeypatch, common, 4, "quant")
    q = common.Quant(META)
    assert fam.fill().capacity == before.capacity + 2 * fam.bound
    for i in range(1, 10):  # 9 distinct prices, bound 4: cleared at the 5th and the 9th
        assert q.px(f"{i}.1") is not None
    assert len(q.px_cache) == 1
    now = fam.fill()
    assert now.clears == before.clears + 2 and now.entries == before.entries + 1
    assert now.caches == before.caches + 2 and now.peaked == before.peaked + 1  # px, not sz


def test_wick_text_caches_are_bounded_and_their_clears_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fam, before = _family_at(monkeypatch, records, 2, "wick_text")
    fmt = records.Formatter(Decimal("0.1"))
    assert [fmt.price(t) for t in (1, 2, 3)] == ["0.1", "0.2", "0.3"]
    now = fam.fill()
    assert now.clears == before.clears + 1 and now.entries == before.entries + 1
    assert now.capacity == before.capacity + 3 * fam.bound


def test_book_level_caches_are_bounded_and_their_clears_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(model, "_CACHE_MAX", 3)
    # Earlier tests leave these process-wide caches holding the strings below (a cache hit
    # never reaches the bound check), so start from empty ones: emptying a cache is harmless.
    model._PRICE_KEYS.clear()
    model._SIZE_DELETES.clear()
    fam = FAMILIES["book_levels"]
    clears = fam.clears
    levels = [[f"{100 + i}.5", f"{i + 1}", "0", "1"] for i in range(7)]
    assert len(model.prepare_levels(levels, "bids")) == 7
    assert fam.clears > clears
    assert len(model._PRICE_KEYS) <= 3 and len(model._SIZE_DELETES) <= 3


def test_the_process_line_carries_every_family(tmp_path: Path) -> None:
    q = common.Quant(META)
    q.px("101.1")
    watch = ProcessWatch(
        tmp_path,
        HealthLog(None, stderr=None),
        interval_s=1,
        min_free_mb=0,
        freeze_after_s=None,
    )
    watch.sample()
    counters = watch.reporter.counters
    assert {"book_levels", "quant", "time_text", "wick_text"} <= set(cache_fills())
    for name, fill in cache_fills().items():
        assert counters[f"cache_{name}_capacity"] == fill.capacity
        assert counters[f"cache_{name}_clears"] == fill.clears
        assert counters[f"cache_{name}_peaked"] == fill.peaked <= counters[f"cache_{name}_caches"]
    assert counters["cache_quant_entries"] >= 1


def test_calculators_of_one_instrument_share_one_set_of_caches() -> None:
    from rq_actors.core.derive.cvd import CvdCalculator
    from rq_actors.core.derive.vwap import RollingVwap
    from rq_actors.core.wicks.records import shared_formatter

    other = attrs.evolve(META, inst_id="ETH-USDT-SWAP")
    assert common.shared_quant(META) is common.shared_quant(attrs.evolve(META))
    assert common.shared_quant(META) is not common.shared_quant(other)
    cvd, vwap = CvdCalculator(META, "base", ["1m"]), RollingVwap(META)
    assert cvd._q is vwap._q is common.shared_quant(META)
    one = shared_formatter("BTC-USDT-SWAP", Decimal("0.1"))
    assert one is shared_formatter("BTC-USDT-SWAP", Decimal("0.1"))
    assert one is not shared_formatter("ETH-USDT-SWAP", Decimal("0.1"))  # no thrash at scale
    ten = shared_formatter("BTC-USDT-SWAP", Decimal("0.10"))  # equal to 0.1, other digits
    assert ten is not one and ten.mantissa == 10
