"""The flow scenario tests share one emulator and one ``callbacks serve`` per module.

Starting ``serve`` takes about a second, so each module starts it once (on the module's event
loop, where the emulator lives too) and its tests use distinct callees of one scenario.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_asyncio import is_async_test

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run this directory's async tests on their module's loop, where the servers live."""
    marker = pytest.mark.asyncio(loop_scope="module")
    for item in items:
        if is_async_test(item) and item.path.is_relative_to(HERE):
            item.add_marker(marker, append=False)
