"""The calls list: calls with events that match a filter, the one with the newest match first.

The log is read back from its newest position in spans (:meth:`EventStore.call_scan`), each
twice the size of the one before, until a page of calls is found or :data:`BUDGET` events have
been read: a page costs about the same on a log of any size, and never a scan of the whole log.
When the budget runs out first, the page says where to go on from (``older``): a search for a
rare type in a long log is a few pages, each quick, rather than one slow one. Dead and failed
events have indexes of their own, so a status filter for them reads the whole log in one span.

Pages are cut by position: a call is listed on the page that holds its newest matching event,
and never again on an older page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from callbacks.calls.summary import CallSummary, call_summary
from callbacks.flows.flow import Flow
from callbacks.store.base import EventStore
from callbacks.store.records import EventFilter, EventStatus

PAGE = 50
"""Calls on a page unless told otherwise."""
BUDGET = 16_000
"""Events a page reads at most, looking for its calls."""
FIRST_SPAN = 1_000
_INDEXED = (EventStatus.DEAD, EventStatus.FAILED)


@dataclass(frozen=True, slots=True)
class CallPage:
    """One page of the calls list."""

    calls: list[CallSummary]
    older: int | None
    """Where the next (older) page starts: ``before`` for it; None at the start of the log."""
    searched_from: int | None = None
    """The oldest position this page read (with ``older``: nothing older was read)."""


async def list_calls(
    store: EventStore,
    where: EventFilter | None = None,
    *,
    limit: int = PAGE,
    before: int | None = None,
    flows: Mapping[str, Flow[Any]] | None = None,
) -> CallPage:
    """A page of calls matching ``where`` (``call_id`` as a prefix; each condition is asked of
    one event), newest first; ``before`` continues from an earlier page's ``older``."""
    where = where or EventFilter()
    if where.call_id and before is None:  # a whole id: that call, without reading any span
        exact = await call_summary(store, where.call_id, flows)
        if exact is not None and (where == EventFilter(call_id=where.call_id)):
            return CallPage([exact], None)
    bounds = await store.seq_bounds()
    if bounds is None:
        return CallPage([], None)
    start, end = bounds
    high = end + 1 if before is None else min(before, end + 1)
    span = end + 1 - start if where.status in _INDEXED else FIRST_SPAN
    found: dict[str, int] = {}
    read = 0
    while high > start and len(found) < limit and read < BUDGET:
        low = max(start, high - span)
        for call_id, seq in await store.call_scan(where, low, high):
            if len(found) > limit:  # one more than a page: the page is full, and cut
                break
            if call_id not in found and (before is None or not await _listed(
                store, where, call_id, before
            )):
                found[call_id] = seq
        read += high - low
        high = low
        span *= 2
    hits = sorted(found.items(), key=lambda hit: -hit[1])[:limit]
    if len(found) > limit:
        older: int | None = hits[-1][1]
    else:
        older = high if high > start else None
    summaries = await asyncio.gather(*(call_summary(store, call_id, flows) for call_id, _ in hits))
    return CallPage([s for s in summaries if s is not None], older, high)


async def _listed(store: EventStore, where: EventFilter, call_id: str, before: int) -> bool:
    """Whether the call has a matching event at ``before`` or later: listed on a newer page."""
    newer = replace(where, call_id=call_id, after_seq=before - 1)
    async for _ in store.list_events(newer, limit=1):
        return True
    return False
