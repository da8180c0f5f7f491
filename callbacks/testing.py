"""Helpers for testing handlers built on acs-callbacks.

- :class:`InProcessIntake` runs a router's handlers in this process, one call at a time in
  arrival order, and keeps nothing: ``await intake.submit(parse_events(body), None)``, then
  ``await intake.join()``.
- :func:`context_factory` builds the ``ctx`` handlers get, over any client.
- :class:`DryRunClient` is a REST client that sends nothing: each request is recorded in its
  :class:`CallRecorder` (method, path, body, repeatability id) and answered with a success.

For tests that need the Call Automation service itself (calls that ring, play and post their
callbacks), run the local emulator: :mod:`callbacks.emulator`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence

from callbacks.context import ContextFactory, context_factory
from callbacks.events.base import Event
from callbacks.replay.clients import CallRecorder, DryRunClient
from callbacks.routing import Router
from callbacks.server.intake import IntakeUnavailable
from callbacks.store.records import Receipt

__all__ = ["CallRecorder", "DryRunClient", "InProcessIntake", "context_factory"]

log = logging.getLogger("callbacks.intake")


class InProcessIntake:
    """Runs handlers in this process after the response; keeps nothing across restarts.

    Events of one call run one at a time in arrival order; calls run concurrently.
    Recently seen identities are remembered (bounded) to count duplicates.
    """

    def __init__(
        self, router: Router, make_context: ContextFactory, *, remember: int = 100_000
    ) -> None:
        self._router = router
        self._make_context = make_context
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        self._lanes: dict[str | None, asyncio.Queue[tuple[Event, str | None]]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._stopping = False

    async def start(self) -> None:
        """Nothing to open."""

    async def ready(self) -> bool:
        """Ready until stopped."""
        return not self._stopping

    async def submit(self, events: Sequence[Event], path_context: str | None) -> Receipt:
        """Queue new events on their call's lane; count the ones already seen."""
        if self._stopping:
            raise IntakeUnavailable("shutting down")
        accepted = duplicates = 0
        for event in events:
            if event.identity in self._seen:
                duplicates += 1
                continue
            self._seen[event.identity] = None
            if len(self._seen) > self._remember:
                self._seen.popitem(last=False)
            accepted += 1
            self._lane(event.call_id).put_nowait((event, path_context))
        return Receipt(accepted, duplicates)

    def _lane(self, call_id: str | None) -> asyncio.Queue[tuple[Event, str | None]]:
        lane = self._lanes.get(call_id)
        if lane is None:
            lane = self._lanes[call_id] = asyncio.Queue()
            task = asyncio.create_task(self._drain(call_id, lane))
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)
        return lane

    async def _drain(
        self, call_id: str | None, lane: asyncio.Queue[tuple[Event, str | None]]
    ) -> None:
        while True:
            event, path_context = await lane.get()
            try:
                await self._dispatch(event, path_context)
            except Exception:  # a broken context factory must not kill the lane
                log.exception("dispatch of event %s failed", event.identity)
            finally:
                lane.task_done()
            if lane.empty():
                del self._lanes[call_id]
                return

    async def _dispatch(self, event: Event, path_context: str | None) -> None:
        await self._router.dispatch(
            event, lambda route: self._make_context(event, route, 1, path_context)
        )

    async def join(self) -> None:
        """Wait until every queued event has been handled (tests, shutdown)."""
        while self._workers:
            await asyncio.gather(*list(self._workers))

    async def stop(self) -> None:
        """Refuse new events and let queued ones finish."""
        self._stopping = True
        await self.join()
