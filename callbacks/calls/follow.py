"""Following the log as it grows: ``events list --follow`` and ``calls show --follow``.

Both poll (every :data:`INTERVAL` seconds), so they work on any log and from any machine that
can read it, while ``callbacks serve`` writes on another. Events are read from a little before
the last one seen, and those already seen are skipped: on PostgreSQL, replicas can commit events
slightly out of log order, and one committed just after a read would otherwise be passed over.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import replace

from callbacks.calls.timeline import Entry, call_timeline
from callbacks.store.base import EventStore
from callbacks.store.records import EventFilter, EventRecord

INTERVAL = 0.5
"""Seconds between two looks at the log."""
LOOK_BACK = 256
"""Positions re-read before the newest seen, for events committed out of order."""


async def follow_events(
    store: EventStore, where: EventFilter, after: int, *, interval: float = INTERVAL
) -> AsyncIterator[list[EventRecord]]:
    """The events matching ``where`` logged after position ``after``, a batch at a time, as
    they come (forever: the caller stops)."""
    cursor = after
    seen: deque[int] = deque(maxlen=4 * LOOK_BACK)
    while True:
        since = replace(where, after_seq=max(cursor - LOOK_BACK, 0) if cursor > 0 else None)
        batch = [r async for r in store.list_events(since)
                 if r.seq > cursor or r.seq not in seen]
        batch = [r for r in batch if r.seq > after]
        if batch:
            for record in batch:
                seen.append(record.seq)
            cursor = max(cursor, batch[-1].seq)
            yield batch
        else:
            await asyncio.sleep(interval)


async def follow_call(
    store: EventStore, call_id: str, shown: set[tuple[str, ...]], *, interval: float = INTERVAL
) -> AsyncIterator[list[tuple[float, Entry]]]:
    """New entries of the call's timeline (not among ``shown``, which grows), with their
    offsets, a batch at a time as they come (forever: the caller stops)."""
    while True:
        timeline = await call_timeline(store, call_id)
        fresh = [] if timeline is None else [
            (timeline.offset(entry), entry) for entry in timeline.entries
            if entry.key not in shown
        ]
        if fresh:
            shown.update(entry.key for _, entry in fresh)
            yield fresh
        else:
            await asyncio.sleep(interval)
