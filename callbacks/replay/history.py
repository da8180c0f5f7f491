"""A call's earlier events for handlers replayed from a file, read from that same file.

A recorded call replays as it happened: when a handler of a file's event asks
``await ctx.history()``, it gets the events of its call that come before it in the file,
whatever the filters let through (a ``--type PlayCompleted`` replay still sees the call's
``CallConnected``). The log plays no part: it may not hold these events, or hold others.

The file is read once, streamed, so the earlier events are kept as the replay passes them: their
raw JSON only (an event parsed costs about eight times its text), parsed again when asked for,
up to a budget. Past it, the calls that have gone longest without an event are forgotten first;
a handler asking for a forgotten call's history gets :class:`~callbacks.context.NoHistoryError`
saying so, never a shortened history.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from callbacks.context import NoHistoryError
from callbacks.events.base import Event
from callbacks.events.parse import parse_event_element

DEFAULT_BUDGET = 64 << 20
"""Bytes of raw event JSON kept for histories (about 150 000 typical events)."""


class FileHistory:
    """The events a file replay has passed, by call: a ``CallHistory`` over the file."""

    def __init__(self, budget: int = DEFAULT_BUDGET) -> None:
        self._budget = budget
        self._size = 0
        self._calls: OrderedDict[str, list[bytes]] = OrderedDict()
        self._forgotten: set[str] = set()

    def remember(self, event: Event) -> None:
        """Keep ``event`` (just replayed, or passed over by the filters) for later ones."""
        call = event.call_id
        if call is None:
            return
        kept = self._calls.get(call)
        if kept is None:
            kept = self._calls[call] = []
        else:
            self._calls.move_to_end(call)
        kept.append(event.raw)
        self._size += len(event.raw)
        while self._size > self._budget and len(self._calls) > 1:
            oldest, raws = self._calls.popitem(last=False)
            self._size -= sum(len(raw) for raw in raws)
            self._forgotten.add(oldest)

    async def __call__(self, event: Event) -> Sequence[Event]:
        """The events of ``event``'s call before it in the file, oldest first."""
        call = event.call_id
        if call is None:
            return ()
        if call in self._forgotten:
            raise NoHistoryError(
                f"ctx.history(): the earlier events of call {call} are no longer kept: a file "
                f"replay keeps {self._budget >> 20} MiB of them; replay fewer calls at once "
                "(--call ID)"
            )
        return [parse_event_element(raw) for raw in self._calls.get(call, ())]
