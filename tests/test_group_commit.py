"""The group-commit queue under both stores: batching, and a bug that does not stop it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from callbacks.store import StoreError
from callbacks.store.group_commit import CommitQueue


@dataclass
class Item:
    value: int
    future: asyncio.Future[int]


class Doubling(CommitQueue[Item]):
    """Commits by doubling; a batch holding 13 hits a 'bug'."""

    def __init__(self) -> None:
        super().__init__("test-writer")
        self.batches: list[list[int]] = []

    async def put(self, value: int) -> int:
        result: int = await self._submit(Item(value, asyncio.get_running_loop().create_future()))
        return result

    async def _transaction(self, batch: list[Item]) -> None:
        self.batches.append([item.value for item in batch])
        await asyncio.sleep(0.01)  # the "commit": writes queued meanwhile share the next one
        if any(item.value == 13 for item in batch):
            raise RuntimeError("bug")
        self.commits += 1
        for item in batch:
            item.future.set_result(item.value * 2)


async def test_writes_queued_during_a_commit_share_the_next_one() -> None:
    queue = Doubling()
    queue.start()
    results = await asyncio.gather(*(queue.put(n) for n in range(10)))
    await queue.close()
    assert results == [n * 2 for n in range(10)]
    assert queue.commits < 10
    assert sorted(v for batch in queue.batches for v in batch) == list(range(10))


async def test_an_error_in_a_transaction_fails_its_batch_and_the_queue_goes_on() -> None:
    queue = Doubling()
    queue.start()
    with pytest.raises(StoreError, match="RuntimeError"):
        await queue.put(13)
    assert await queue.put(4) == 8
    assert queue.running
    await queue.close()
    assert not queue.running
    with pytest.raises(StoreError, match="closed"):
        await queue.put(1)
