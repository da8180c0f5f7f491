"""Helpers shared by the dispatcher tests: a stand-in context, waiting for conditions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import cast

from callbacks.context import Context
from callbacks.events import Event
from callbacks.routing import Route
from callbacks.store import EventRecord, EventStatus, EventStore


def context(
    event: Event, route: Route, attempt: int, path_context: str | None,
    received_at: datetime | None = None,
) -> Context:
    """A stand-in ``ctx``: (handler name, attempt, path context), to see what was passed."""
    return cast(Context, (route.name, attempt, path_context))


async def wait_until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Poll ``condition`` until true; fail the test after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


async def settled(store: EventStore, event_id: str, status: EventStatus) -> EventRecord:
    """The event's record once it has ``status`` (the dispatcher records after the run)."""
    deadline = time.monotonic() + 5
    while True:
        record = await store.get_event(event_id)
        if record is not None and record.status is status:
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"{event_id} is {record and record.status}, not {status}")
        await asyncio.sleep(0.005)
