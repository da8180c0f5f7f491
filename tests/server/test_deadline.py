"""deadline(): a block cut short becomes TimeoutError; any other cancellation stays one."""

from __future__ import annotations

import asyncio

import pytest

from callbacks.server.deadline import deadline


async def test_a_block_that_overruns_ends_with_timeout_error_and_the_task_goes_on() -> None:
    with pytest.raises(TimeoutError, match=r"0\.01 s"), deadline(0.01) as limit:
        await asyncio.sleep(5)
    assert limit.expired
    await asyncio.sleep(0)  # the task is not left cancelled
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_a_block_in_time_or_without_a_limit_is_untouched() -> None:
    with deadline(5) as limit:
        await asyncio.sleep(0.01)
    assert not limit.expired
    with deadline(None) as never:
        await asyncio.sleep(0.01)
    assert not never.expired
    await asyncio.sleep(0.02)  # a cancelled timer does not fire later


async def test_a_cancellation_from_outside_is_not_turned_into_a_timeout() -> None:
    started = asyncio.Event()

    async def guarded() -> None:
        with deadline(5):
            started.set()
            await asyncio.sleep(5)

    task = asyncio.create_task(guarded())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

