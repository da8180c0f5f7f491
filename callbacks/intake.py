"""The seam between the HTTP endpoint and whatever keeps and dispatches events.

The endpoint only ever calls :class:`Intake`. ``submit`` returns when the events are accepted
in the implementation's sense: durably committed for the event log, queued for
:class:`InProcessIntake`. Swapping one for the other does not touch the endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from callbacks.events import Event
from callbacks.routing import Route, Router

if TYPE_CHECKING:
    from callbacks.context import Context

log = logging.getLogger("callbacks.intake")


@dataclass(frozen=True, slots=True)
class Receipt:
    """How many events of a request were new, and how many were already known."""

    accepted: int
    duplicates: int


class IntakeUnavailable(Exception):
    """The intake cannot accept events now (store down, shutting down): answer 503."""


class Intake(Protocol):
    """Accepts parsed events from the endpoint and gets them to their handlers."""

    async def start(self) -> None:
        """Open resources and start background work; called in the app's lifespan."""

    async def submit(self, events: Sequence[Event], path_context: str | None) -> Receipt:
        """Accept ``events``; return only once they are as safe as this intake promises."""

    async def ready(self) -> bool:
        """Whether ``submit`` can succeed now."""

    async def stop(self) -> None:
        """Stop accepting, finish or release in-flight work, close resources."""


ContextFactory = Callable[[Event, Route, int, str | None], "Context"]
"""Builds a handler's ``ctx`` from (event, route, attempt, path context)."""


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
