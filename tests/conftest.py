"""Fixtures shared by several test modules (helpers that are plain functions live in
tests/helpers/)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers.book import Harness as BookHarness
from tests.helpers.book import open_book_harness


@pytest.fixture
async def harness(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[BookHarness]:
    """A running `BookActor` (tests/helpers/book.py); parametrize indirectly with `[book]`
    settings. The tests request `autojump_clock` themselves: pytest-trio takes the clock there."""
    async with open_book_harness(tmp_path, **getattr(request, "param", {})) as h:
        yield h
