"""Bounded "done already" marks for keys that keep coming for months: `RecentKeys`, and the
places that used to keep an ever-growing set (file paths by the hour, request ids)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rq_actors.core.recent_keys import RecentKeys
from rq_actors.io.vault import files
from rq_actors.io.vault.files import JsonlAppender


@given(st.integers(1, 6), st.lists(st.integers(0, 12), max_size=60))
def test_holds_exactly_the_last_distinct_keys(limit: int, keys: list[int]) -> None:
    recent: RecentKeys[int] = RecentKeys(limit)
    model: list[int] = []  # oldest first
    for key in keys:
        recent.add(key)
        if key in model:
            model.remove(key)
        model.append(key)
        del model[:-limit]
    assert len(recent) == len(model)
    assert [k for k in range(13) if k in recent] == sorted(model)


def test_re_adding_a_key_keeps_it() -> None:
    recent: RecentKeys[str] = RecentKeys(2)
    recent.add("a")
    recent.add("b")
    recent.add("a")  # now the newest
    recent.add("c")
    assert "a" in recent and "c" in recent and "b" not in recent


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RecentKeys(0)


def test_appender_remembers_few_files_over_months_of_rotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repairs: list[Path] = []
    real_repair = files.repair_torn_tail

    def counting_repair(path: Path) -> None:
        repairs.append(path)
        real_repair(path)

    monkeypatch.setattr(files, "repair_torn_tail", counting_repair)
    out = JsonlAppender()
    for hour in range(24 * 90):  # an hourly file for 90 days
        out.append(tmp_path / f"{hour}.jsonl", [b'{"h":%d}' % hour])
    assert len(out._repaired) <= files._REPAIRED_LIMIT
    assert len(repairs) == 24 * 90  # each new file repaired once, on first open

    # Two days' files alternating across midnight: each is repaired once, not at each switch.
    repairs.clear()
    day1, day2 = tmp_path / "d1.jsonl", tmp_path / "d2.jsonl"
    for i in range(500):
        out.append(day1 if i % 2 else day2, [b'{"i":%d}' % i])
    out.close()
    assert sorted(repairs) == sorted([day1, day2])
    assert day1.read_bytes().count(b"\n") == day2.read_bytes().count(b"\n") == 250


def test_a_forgotten_file_is_repaired_again_when_it_comes_back(tmp_path: Path) -> None:
    out = JsonlAppender()
    first = tmp_path / "first.jsonl"
    out.append(first, [b'{"n":1}'])
    for i in range(files._REPAIRED_LIMIT + 1):
        out.append(tmp_path / f"other{i}.jsonl", [b"{}"])
    with first.open("ab") as f:
        f.write(b'{"torn')  # another writer died mid-line after we left the file
    out.append(first, [b'{"n":2}'])
    out.close()
    assert first.read_bytes() == b'{"n":1}\n{"n":2}\n'
