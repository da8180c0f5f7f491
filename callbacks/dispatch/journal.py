"""A handler run's REST requests, kept in the event log as they complete.

:class:`LogJournal` is the :class:`~callbacks.client.pipeline.RequestJournal` of one handler
run. Each request is recorded when its answer comes (or when it finally fails). When the same
handler runs again for the same event (a retry after it failed, a re-dispatch after a crash,
another replica), the requests an earlier run completed are read back once, on the run's first
request, and a request that matches one of them (same index, method, path and body) is
answered from the record instead of being sent again.

What remains: a crash between the service's answer and the record's commit sends that request
once more on the re-run. For the operations the service de-duplicates the repeatability pair
covers that too; for a play or a recognize, the caller may hear the prompt start again.

An answer is kept with the value of every ``secret`` query parameter masked: the service echoes
the ``callbackUri`` of a call it creates or answers, and the receiver's secret is in its query.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from callbacks.client.pipeline import RequestJournal, SentRequest
from callbacks.events.base import Event
from callbacks.store.base import EventStore
from callbacks.store.requests import RequestRecord

# ``secret=`` after ``?`` or ``&`` (or JSON's ``\u0026``), then its value: up to the next
# parameter, fragment or end of the JSON string (a ``\/`` is JSON's escape of ``/``).
_SECRET_VALUE = re.compile(rb"((?:[?&]|\\u0026)secret=)(?:\\/|[^&#\"\\\s])*", re.IGNORECASE)


def masked(answer: bytes) -> bytes:
    """``answer`` with the value of every ``secret`` query parameter in it replaced by ``***``."""
    return _SECRET_VALUE.sub(rb"\1***", answer)


class LogJournal:
    """The requests of one handler run for one event, in the event log."""

    __slots__ = ("_attempt", "_earlier", "_event_id", "_handler", "_next", "_replica", "_store")

    def __init__(
        self, store: EventStore, event_id: str, handler: str, attempt: int, replica: str | None
    ) -> None:
        self._store = store
        self._event_id = event_id
        self._handler = handler
        self._attempt = attempt
        self._replica = replica
        self._next = 0
        self._earlier: dict[int, RequestRecord] | None = None

    def next_index(self) -> int:
        """The index of the run's next request."""
        index = self._next
        self._next += 1
        return index

    async def completed(self, index: int) -> SentRequest | None:
        """The request ``index`` as an earlier run completed it, if one did."""
        if self._earlier is None:
            records = await self._store.requests_of(self._event_id, self._handler)
            # The latest completed record of each index: a later run's answer wins.
            self._earlier = {r.index: r for r in records if r.completed}
        record = self._earlier.get(index)
        if record is None:
            return None
        return SentRequest(
            record.index, record.operation, record.method, record.path, record.body_hash,
            record.status, record.duration, record.repeatability_id, record.error_code,
            record.answer or b"",
        )

    async def record(self, request: SentRequest) -> None:
        """Keep ``request`` in the log."""
        await self._store.record_request(RequestRecord(
            event_id=self._event_id, handler=self._handler, index=request.index,
            attempt=self._attempt, operation=request.operation, method=request.method,
            path=request.path, body_hash=request.body_hash, status=request.status,
            # Recorded once answered: it was sent its duration ago (the timeline's offset).
            duration=request.duration,
            sent_at=datetime.now(UTC) - timedelta(seconds=request.duration),
            repeatability_id=request.repeatability_id, error_code=request.error_code,
            answer=masked(request.answer) if request.completed else None, replica=self._replica,
        ))


def log_journals(
    store: EventStore, replica: str | None = None
) -> Callable[[Event, str, int], RequestJournal]:
    """Journals of handler runs in ``store``, for :func:`callbacks.context.context_factory`."""

    def journal(event: Event, handler: str, attempt: int) -> RequestJournal:
        return LogJournal(store, event.identity, handler, attempt, replica)

    return journal
