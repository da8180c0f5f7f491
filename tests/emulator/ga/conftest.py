"""Fixtures for the GA tests: one emulator and sample receiver per module, reset per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.ga_harness import Served, serve_in_background


@pytest.fixture(scope="module")
def background() -> Iterator[Served]:
    """The module's emulator (http) and receiver."""
    with serve_in_background() as served:
        yield served


@pytest.fixture
def served(background: Served) -> Iterator[Served]:
    """The module's emulator, reset, with an empty receiver."""
    background.reset()
    yield background
    background.reset()
