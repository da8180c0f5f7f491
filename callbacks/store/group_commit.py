"""The group-commit queue both stores' writers are built on.

Writers put an item (its work and the future its caller awaits) on the queue; one task takes
everything queued so far and hands it to :meth:`CommitQueue._transaction` as one batch, so
whatever arrives while a commit runs shares the next one. There is no gather window: a lone write
is not delayed, a burst costs one commit. An item's future is resolved only by the transaction
that holds it, and an error that escapes a transaction fails its batch instead of ending the task.

The queue also knows whether the log can commit now, for readiness: a failed commit (a full disk,
an I/O error, a lock held too long, the database gone) makes :attr:`CommitQueue.failure` say why,
and the next commit that succeeds clears it. :meth:`CommitQueue.recheck` tells a readiness probe
whether commits work, trying a small commit of its own once the last failure is
``recheck_after`` seconds old: a receiver taken out of a load balancer's rotation gets no
traffic whose commits could show that the log works again. (Where a small commit may succeed
while appends still fail, as on a full disk, ``recheck_after`` keeps the probe from declaring
the log ready right after each failure.) The failures' error line is written at most once per
:data:`LINE_INTERVAL` seconds, with a count of the ones held back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

from callbacks.store.records import StoreError

log = logging.getLogger("callbacks.store")


class Queued(Protocol):
    """Something a caller awaits through ``future``."""

    @property
    def future(self) -> asyncio.Future[Any]:
        """Resolved once the transaction holding the item has committed (or failed)."""


Q = TypeVar("Q", bound=Queued)

LINE_INTERVAL = 5.0
"""Seconds between two error lines about failed commits (an outage fails every request)."""


class CommitQueue(ABC, Generic[Q]):
    """A queue of writes and the task that commits them in shared transactions."""

    def __init__(
        self,
        task_name: str,
        *,
        recheck_after: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._task_name = task_name
        self._recheck_after = recheck_after
        self._queue: list[Q] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._clock = clock
        self.commits = 0
        self.failure: str | None = None
        """Why the last commit failed; None once a commit succeeds (and before any fails)."""
        self._failures = 0
        self._failed_at = 0.0
        self._last_line = -float("inf")
        self._held_lines = 0

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
                # Whatever waits for this task, in this batch or queued behind it, must not
                # wait for ever.
                fail_all(batch + self._queue, StoreError("the event log was shut down"))
                raise
            except Exception as exc:  # a bug must not kill the writer and hang every write
                log.exception("event log: unexpected error in group commit")
                self._commit_failed(f"group commit failed: {type(exc).__name__}")
                fail_all(batch, StoreError(f"event log write failed: {type(exc).__name__}"))

    async def recheck(self, probe: Callable[[], Awaitable[object]]) -> bool:
        """Whether commits work now: True while the last one succeeded; after a failure, False
        until one succeeds, or until ``probe`` (a small commit) does, which is tried only once
        the failure is ``recheck_after`` seconds old."""
        if self.failure is None:
            return True
        if self._clock() - self._failed_at < self._recheck_after:
            return False
        failures = self._failures
        try:
            await probe()
        except StoreError as exc:
            if self._failures == failures:
                # A probe that failed in this queue has been counted there already.
                self._commit_failed(f"readiness probe failed: {exc}")
            return False
        self._recovered()
        return True

    def _committed(self) -> None:
        """A transaction committed: for subclasses, after each one."""
        self.commits += 1
        self._recovered()

    def _recovered(self) -> None:
        if self.failure is not None:
            self.failure = None
            log.warning("event log: commits succeed again")

    def _commit_failed(self, reason: str) -> None:
        """A transaction failed as a whole: for subclasses, once per failed transaction."""
        self.failure = reason
        self._failures += 1
        self._failed_at = now = self._clock()
        if now - self._last_line < LINE_INTERVAL:
            self._held_lines += 1
            return
        held, self._held_lines, self._last_line = self._held_lines, 0, now
        more = f" ({held} more failed commits since the last line)" if held else ""
        log.error("event log: %s%s", reason, more)

    @abstractmethod
    async def _transaction(self, batch: list[Q]) -> None:
        """Commit ``batch`` in one transaction and resolve each item's future (calling
        :meth:`_committed` or :meth:`_commit_failed`)."""


def fail_all(batch: list[Q], error: StoreError) -> None:
    """Fail every item of ``batch`` not resolved yet."""
    for item in batch:
        if not item.future.done():
            item.future.set_exception(error)
