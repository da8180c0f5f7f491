"""A call's earlier events for handlers (``await ctx.history()``), read from the event log.

Handlers stay stateless: what happened earlier in a call (who was in it, which prompt played,
which tone was pressed) is read from the log when a handler asks, so it is the same after a
restart and on every replica.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from callbacks.events.base import Event
from callbacks.events.parse import parse_event_element
from callbacks.store.base import EventStore

log = logging.getLogger("callbacks.history")

CallHistory = Callable[[Event], Awaitable[Sequence[Event]]]
"""The events of ``event``'s call logged before it, oldest first."""


def store_history(store: EventStore) -> CallHistory:
    """A :data:`CallHistory` over ``store``.

    The events before ``event`` in log order; if ``event`` is not in the log (a replay from a
    file), every logged event of its call. Events outside calls have no history.
    """

    async def history(event: Event) -> Sequence[Event]:
        if event.call_id is None:
            return ()
        earlier: list[Event] = []
        logged_id = store.stored_text(event.identity)  # as the log holds it
        for record in await store.call_history(event.call_id):
            if record.id == logged_id:
                break
            try:
                earlier.append(parse_event_element(record.raw))
            except ValueError as exc:  # logged by an older version, unreadable now
                log.warning("history of call %s: event %s skipped: %s",
                            event.call_id, record.id, exc)
        return earlier

    return history
