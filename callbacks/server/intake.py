"""The seam between the HTTP endpoint and whatever keeps and dispatches events.

The endpoint only ever calls :class:`Intake`. ``submit`` returns when the events are accepted
in the implementation's sense: durably committed for the event log
(:class:`~callbacks.dispatch.dispatcher.Dispatcher`), queued for the in-memory intake of
:mod:`callbacks.testing`. Swapping one for the other does not touch the endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from callbacks.events.base import Event
from callbacks.store.records import Receipt


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
