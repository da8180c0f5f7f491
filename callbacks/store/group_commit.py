"""The group-commit queue both stores' writers are built on.

Writers put an item (its work and the future its caller awaits) on the queue; one task takes
everything queued so far and hands it to :meth:`CommitQueue._transaction` as one batch, so
whatever arrives while a commit runs shares the next one. There is no gather window: a lone write
is not delayed, a burst costs one commit. An item's future is resolved only by the transaction
that holds it, and an error that escapes a transaction fails its batch instead of ending the task.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from typing import Any, Generic, Protocol, TypeVar

from callbacks.store.records import StoreError

log = logging.getLogger("callbacks.store")


class Queued(Protocol):
    """Something a caller awaits through ``future``."""

    @property
    def future(self) -> asyncio.Future[Any]:
        """Resolved once the transaction holding the item has committed (or failed)."""


Q = TypeVar("Q", bound=Queued)


class CommitQueue(ABC, Generic[Q]):
    """A queue of writes and the task that commits them in shared transactions."""

    def __init__(self, task_name: str) -> None:
        self._task_name = task_name
        self._queue: list[Q] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.commits = 0

    def start(self) -> None:
        """Start the writer task on the running loop."""
        self._task = asyncio.create_task(self._run(), name=self._task_name)

    @property
    def running(self) -> bool:
        """Whether writes are accepted."""
        return self._task is not None and not self._task.done() and not self._closing

    async def _submit(self, item: Q) -> Any:
        if not self.running:
            raise StoreError("the event log is closed")
        self._queue.append(item)
        self._wakeup.set()
        return await item.future

    async def close(self) -> None:
        """Commit what is queued, then stop the task."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch, self._queue = self._queue, []
            try:
                await self._transaction([item for item in batch if not item.future.done()])
            except asyncio.CancelledError:
                fail_all(batch, StoreError("the event log was shut down"))
                raise
            except Exception as exc:  # a bug must not kill the writer and hang every write
                log.exception("event log: unexpected error in group commit")
                fail_all(batch, StoreError(f"event log write failed: {type(exc).__name__}"))

    @abstractmethod
    async def _transaction(self, batch: list[Q]) -> None:
        """Commit ``batch`` in one transaction and resolve each item's future."""


def fail_all(batch: list[Q], error: StoreError) -> None:
    """Fail every item of ``batch`` not resolved yet."""
    for item in batch:
        if not item.future.done():
            item.future.set_exception(error)
