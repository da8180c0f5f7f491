"""Fixtures for the emulator tests: a real receiver and a real emulator, each under uvicorn.

Both servers are started once per session, on the session's event loop, and reset before
each test (uvicorn takes a few tenths of a second to stop, too slow to pay per test). A test
needing another configuration starts its own emulator with ``running_env``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from pytest_asyncio import is_async_test

from tests.support.emulator_harness import Env, Receiver, fast_config, running_env, running_receiver

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run this directory's async tests on the session loop, where the shared servers live."""
    marker = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if is_async_test(item) and item.path.is_relative_to(HERE):
            item.add_marker(marker, append=False)


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def shared_receiver() -> AsyncIterator[Receiver]:
    """The session's callback receiver."""
    async with running_receiver() as receiver:
        yield receiver


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def shared_env(shared_receiver: Receiver) -> AsyncIterator[Env]:
    """The session's emulator with fast timings."""
    async with running_env(fast_config(), shared_receiver) as env:
        yield env


@pytest_asyncio.fixture(loop_scope="session")
async def receiver(shared_receiver: Receiver) -> Receiver:
    """The receiver, emptied."""
    shared_receiver.clear()
    return shared_receiver


@pytest_asyncio.fixture(loop_scope="session")
async def env(shared_env: Env, receiver: Receiver) -> AsyncIterator[Env]:
    """The shared emulator, reset, with its clients and the emptied receiver."""
    await shared_env.running.emulator.reset()
    receiver.clear()
    yield shared_env
    await shared_env.running.emulator.reset()
