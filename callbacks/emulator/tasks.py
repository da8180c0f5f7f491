"""Owned background tasks: every timer of the emulator lives in a :class:`TaskSet`.

No task is created and dropped: each is kept until done, its failure is logged (never lost),
and the owner cancels and awaits what is left when a call ends or the emulator stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger("callbacks.emulator")


class TaskSet:
    """A set of tasks owned by one object (a call, the delivery, the emulator)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run ``coro`` as a task owned by this set."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{self._name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def later(self, delay: float, action: Callable[[], None], name: str) -> asyncio.Task[None]:
        """Call ``action`` after ``delay`` seconds, unless cancelled first."""

        async def wait_then_act() -> None:
            await asyncio.sleep(delay)
            action()

        return self.spawn(wait_then_act(), name)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("emulator task %s failed", task.get_name(), exc_info=error)

    def cancel(self) -> None:
        """Cancel every task but the caller's own (a timer may end the call that owns it)."""
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    async def close(self) -> None:
        """Cancel every task and wait until all have finished."""
        self.cancel()
        current = asyncio.current_task()
        pending = [task for task in self._tasks if task is not current]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
