"""Live updates: a server-sent event stream that says ``changed`` when what a page shows has.

Each stream looks at the log every :data:`INTERVAL` seconds for its topic's marker: the log's
activity for the calls list and the dead events (:meth:`EventStore.activity`, index reads only),
the call's timeline for a call, the event's status, runs and requests for an event. Polling the
log, not this process, is what lets a console on any replica see the work of every other one.

A stream ends after :data:`LIFETIME` seconds (the browser reconnects by itself), when the client
goes, or as soon as the server shuts down, so that it never holds a shutdown up.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable

from callbacks.calls.timeline import call_timeline
from callbacks.store.base import EventStore
from callbacks.store.records import StoreError

INTERVAL = 1.0
LIFETIME = 300.0
KEEPALIVE = 15.0

Marker = Callable[[], Awaitable[object]]


class UnknownTopic(ValueError):
    """A topic the stream does not know."""


def marker(store: EventStore, topic: str) -> Marker:
    """What to compare between two looks for ``topic``: ``calls``, ``dead``,
    ``call:<call id>`` or ``event:<event id>``."""
    kind, _, name = topic.partition(":")
    if kind in ("calls", "dead") and not name:
        return store.activity
    if kind == "call" and name:

        async def call() -> object:
            timeline = await call_timeline(store, name)
            if timeline is None:
                return None
            digest = hashlib.sha256()
            for entry in timeline.entries:
                digest.update(repr((entry.key, entry.status)).encode())
            return digest.hexdigest()

        return call
    if kind == "event" and name:

        async def event() -> object:
            record = await store.get_event(name)
            if record is None:
                return None
            requests = await store.requests_of(name)
            return (record.status, record.attempts, len(record.outcomes), len(requests))

        return event
    raise UnknownTopic("topic must be calls, dead, call:<call id> or event:<event id>")


async def stream(look: Marker, stopping: Callable[[], bool],
                 *, interval: float = INTERVAL) -> AsyncIterator[str]:
    """The stream's text: ``changed`` events and keep-alive comments."""
    yield "retry: 2000\n\n"
    loop = asyncio.get_running_loop()
    started = last_sent = loop.time()
    previous: object = None
    known = False
    while not stopping() and loop.time() - started < LIFETIME:
        try:
            current = await look()
        except StoreError:  # the log is away: say nothing, look again
            current = previous
        if known and current != previous:
            yield "event: changed\ndata: {}\n\n"
            last_sent = loop.time()
        previous, known = current, True
        if loop.time() - last_sent >= KEEPALIVE:
            yield ": keep-alive\n\n"
            last_sent = loop.time()
        await asyncio.sleep(interval)
