"""Keeping the dispatcher's claims: renew the leases of calls being worked on, and stop work on a
call whose lease could not be renewed in time.

Fencing (``finish`` refuses the writes of an owner that lost the call) protects the log, but not
a handler's side effects: without the watch, a replica cut off from the database would still be
running a handler when another replica takes the call over and runs the same event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from callbacks.store.base import EventStore

log = logging.getLogger("callbacks.dispatch")

Workers = Mapping[str | None, "asyncio.Task[None]"]
"""The dispatcher's running worker per held call (read, never changed, here)."""


class LeaseKeeper:
    """Renews ``owner``'s leases every ``lease / 3`` and cancels workers whose lease lapses."""

    def __init__(self, store: EventStore, owner: str, lease: float, workers: Workers) -> None:
        self._store = store
        self._owner = owner
        self._lease = lease
        self._workers = workers
        # Per call, a local (monotonic) time before which our lease surely holds; a worker
        # still running a margin before it is stopped: then another replica may take the call.
        self._held: dict[str | None, float] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start renewing and watching, on the running loop."""
        self._tasks = [
            asyncio.create_task(self._renew_loop(), name="callbacks-leases"),
            asyncio.create_task(self._watch(), name="callbacks-lease-watch"),
        ]

    async def stop(self) -> None:
        """Stop renewing and watching (the claims are released by the dispatcher)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def claimed(self, call_id: str | None, asked: float) -> None:
        """The call was claimed (or renewed) by a request sent at monotonic time ``asked``."""
        self._held[call_id] = asked + self._lease

    def forget(self, call_id: str | None) -> None:
        """The call's worker is gone: nothing to watch."""
        self._held.pop(call_id, None)

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            if not self._workers:
                continue
            workers = dict(self._workers)
            asked = time.monotonic()
            try:
                lost = await self._store.renew(self._owner, list(workers), self._lease)
            except Exception as exc:  # keep renewing: the next round may succeed
                log.warning("cannot renew call leases: %s", exc)
                continue
            for call_id, worker in workers.items():
                if self._workers.get(call_id) is not worker:
                    continue  # finished meanwhile
                if call_id in lost:
                    log.warning("lost the claim on call %s; stopping work on it", call_id)
                    self.forget(call_id)
                    worker.cancel()
                else:
                    self.claimed(call_id, asked)

    async def _watch(self) -> None:
        """Stop work on a call whose lease could not be renewed, a margin before it ends."""
        margin = min(self._lease / 4, 5.0)
        while True:
            now = time.monotonic()
            soonest = min(self._held.values(), default=now + self._lease)
            await asyncio.sleep(max(soonest - margin - now, 0.01))
            now = time.monotonic()
            for call_id, held_until in list(self._held.items()):
                if now < held_until - margin:
                    continue
                del self._held[call_id]
                worker = self._workers.get(call_id)
                if worker is not None:
                    log.warning(
                        "could not renew the lease on call %s in time; stopping work on it "
                        "before another replica may take it over", call_id,
                    )
                    worker.cancel()
