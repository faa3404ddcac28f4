"""The cache census (issue #15): every bounded text cache is counted in the `process` health
line (entries, capacity, clears), owners drop out when they are gone, and a full cache is
cleared, never grown."""

from __future__ import annotations

import gc
from decimal import Decimal
from pathlib import Path

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
    fam = CacheFamily("test", 10)
    owner = _Owner()
    fam.track(owner, {1: 1, 2: 2}, {3: 3})
    fam.track_global({4: 4})
    fam.cleared()
    assert fam.fill() == CacheFill(entries=4, capacity=30, clears=1)
    del owner
    gc.collect()
    assert fam.fill() == CacheFill(entries=1, capacity=10, clears=1)


def test_quant_caches_are_bounded_and_their_clears_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(common, "_CACHE_LIMIT", 4)
    fam = FAMILIES["quant"]
    gc.collect()
    before = fam.fill()
    q = common.Quant(META)
    assert fam.fill().capacity == before.capacity + 2 * fam.bound
    for i in range(1, 10):  # 9 distinct prices, bound 4: cleared at the 5th and the 9th
        assert q.px(f"{i}.1") is not None
    assert len(q.px_cache) == 1
    now = fam.fill()
    assert now.clears == before.clears + 2 and now.entries == before.entries + 1


def test_wick_text_caches_are_bounded_and_their_clears_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(records, "_CACHE_LIMIT", 2)
    fam = FAMILIES["wick_text"]
    gc.collect()
    before = fam.fill()
    fmt = records.Formatter(Decimal("0.1"))
    assert [fmt.price(t) for t in (1, 2, 3)] == ["0.1", "0.2", "0.3"]
    now = fam.fill()
    assert now.clears == before.clears + 1 and now.entries == before.entries + 1
    assert now.capacity == before.capacity + 3 * fam.bound


def test_book_level_caches_are_bounded_and_their_clears_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(model, "_CACHE_MAX", 3)
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
    assert counters["cache_quant_entries"] >= 1
