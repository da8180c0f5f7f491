"""The event log's one interface; its records (``records.py``) are re-exported here.

Every store (SQLite embedded, PostgreSQL shared by replicas) implements :class:`EventStore`.
Callers (the dispatcher, the ``callbacks events`` CLI, replay) only see this module.

Writes::

    append(events)        -> Receipt            returns once the transaction holding them committed
    claim_calls(owner)    -> [Claim]            a lease per call: one owner runs a call's events
    next_events(call)     -> [PendingEvent]     the call's unfinished events, in seq order
    finish(owner, seq)                          outcomes + new status, fenced by the claim
    release(owner, call)  -> more work?         give a call back (optionally not before a time)
    record_replays(results)                     replay runs, beside the events' own outcomes
    record_request(record)                      a REST request of a handler run

Errors: :class:`StoreError` (cannot do it now: closed, commit failed, locked) and its subclass
:class:`ClaimLost` (the caller no longer owns the call). Messages never carry URLs or secrets.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime

from callbacks.events.base import Event
from callbacks.store.records import (
    UNFINISHED,
    Claim,
    ClaimLost,
    EventFilter,
    EventRecord,
    EventStatus,
    LogMissing,
    LogOutdated,
    OpenPolicy,
    Outcome,
    PendingEvent,
    Receipt,
    StoreError,
    StoreStats,
    utc,
    utf8_text,
)
from callbacks.store.replays import ReplayMode, ReplayResult, RestCall
from callbacks.store.requests import RequestRecord

__all__ = [
    "UNFINISHED",
    "Claim",
    "ClaimLost",
    "EventFilter",
    "EventRecord",
    "EventStatus",
    "EventStore",
    "LogMissing",
    "LogOutdated",
    "OpenPolicy",
    "Outcome",
    "PendingEvent",
    "Receipt",
    "ReplayMode",
    "ReplayResult",
    "RequestRecord",
    "RestCall",
    "StoreError",
    "StoreStats",
    "utc",
]


class EventStore(ABC):
    """The durable event log: append, claim and finish, query."""

    open_policy: OpenPolicy = OpenPolicy()
    """What :meth:`open` may do to the log: by default create it and migrate its schema."""
    migrations_applied: int = 0
    """Schema migrations the last :meth:`open` applied."""

    def existing_only(self, *, migrate: bool = False, upgrade: str = "") -> None:
        """Make :meth:`open` refuse a log that does not exist (:class:`LogMissing`) instead of
        creating it, and, unless ``migrate``, one whose schema is older than this program's
        (:class:`LogOutdated`, its message naming ``upgrade``) instead of migrating it: a
        command that only reads must leave a mistyped URL or an older log as it found them.
        Call before :meth:`open`."""
        self.open_policy = OpenPolicy(create=False, migrate=migrate, upgrade=upgrade)

    @property
    @abstractmethod
    def commits(self) -> int:
        """Write transactions committed since open (group commit shares them)."""

    @abstractmethod
    async def open(self) -> None:
        """Connect and create or migrate the schema, as :attr:`open_policy` allows; a second
        call does nothing."""

    @abstractmethod
    async def close(self) -> None:
        """Commit what is queued, then release every resource; further calls raise."""

    @abstractmethod
    async def ready(self) -> bool:
        """Whether the log can take writes now."""

    @property
    def shareable(self) -> bool:
        """Whether another process can open this same log (not an in-memory database)."""
        return True

    def maintain_elsewhere(self, while_: Callable[[], bool]) -> None:
        """Leave the log's housekeeping (SQLite: WAL checkpoints) to another process while
        ``while_()`` returns True: the caller answers whether that process is doing it just
        now. Nothing to leave by default."""
        return

    def favour_other_writers(self) -> None:
        """Another process writes to this log and waits while this one holds the write lock:
        hold it as briefly as possible. Call before :meth:`open`. Nothing to do by default."""
        return

    def stored_text(self, value: str) -> str:
        """``value`` (an event id, call id or handler name) as this log stores and reports it:
        compare those the log hands back with this, not with what a sender wrote."""
        return utf8_text(value)

    async def __aenter__(self) -> EventStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- writes on the ingest path --

    @abstractmethod
    async def append(
        self,
        events: Sequence[Event],
        path_context: str | None,
        *,
        received_at: datetime | None = None,
    ) -> Receipt:
        """Log the new events in one transaction; return after its commit.

        Events whose identity is already logged (or repeated in ``events``) are not stored
        again and are counted as duplicates. Raises :class:`StoreError` if the commit failed.
        """

    # -- the dispatcher's side: claims with leases, fenced by owner --

    @abstractmethod
    async def recover(self, owner: str) -> int:
        """Release every claim held under ``owner`` by an earlier run of it; how many."""

    @abstractmethod
    async def claim_calls(self, owner: str, limit: int, lease: float) -> list[Claim]:
        """Claim up to ``limit`` calls with runnable events, oldest work first.

        A call is claimable when nobody holds it or its lease has expired, and its
        ``not_before`` (backoff) has passed. ``lease`` is in seconds.
        """

    @abstractmethod
    async def renew(
        self, owner: str, call_ids: Sequence[str | None], lease: float
    ) -> list[str | None]:
        """Extend the leases ``owner`` holds on ``call_ids``; return those it has lost."""

    @abstractmethod
    async def next_events(self, call_id: str | None, limit: int) -> list[PendingEvent]:
        """The call's unfinished events in seq order, with their earlier outcomes."""

    @abstractmethod
    async def finish(
        self, owner: str, seq: int, status: EventStatus, outcomes: Sequence[Outcome]
    ) -> None:
        """Record one run of an event: its handler outcomes and its new status.

        Raises :class:`ClaimLost` unless ``owner`` holds the event's call.
        """

    @abstractmethod
    async def release(
        self, owner: str, call_id: str | None, *, not_before: float | None = None
    ) -> bool:
        """Give the call back; no one claims it before ``not_before`` (epoch s).

        Returns whether the call still has unfinished events.
        """

    @abstractmethod
    async def release_all(self, owner: str) -> int:
        """Give back every call ``owner`` holds (shutdown); how many."""

    # -- queries and maintenance, for the CLI and replay --

    @abstractmethod
    def list_events(
        self,
        where: EventFilter | None = None,
        *,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> AsyncIterator[EventRecord]:
        """Matching events with their outcomes, streamed in seq order (flat memory)."""

    @abstractmethod
    async def get_event(self, event_id: str) -> EventRecord | None:
        """One event by identity, with every handler outcome."""

    @abstractmethod
    async def call_history(
        self, call_id: str | None, *, before_seq: int | None = None, limit: int | None = None
    ) -> list[EventRecord]:
        """The call's logged events (before ``before_seq`` if given), oldest first."""

    # -- calls, for `callbacks calls` and the console --

    @abstractmethod
    async def seq_bounds(self) -> tuple[int, int] | None:
        """The first and the last position in the log; None when it is empty."""

    @abstractmethod
    async def call_scan(self, where: EventFilter, low: int, high: int) -> list[tuple[str, int]]:
        """The calls with events that match ``where`` among those at positions ``low`` (included)
        to ``high`` (excluded), each with the newest such position, newest first.

        ``where.call_id`` matches as a prefix here; events outside any call are left out. Reads
        about ``high - low`` events at most: a caller pages back through a large log in spans.
        """

    @abstractmethod
    async def activity(self) -> tuple[int, int, int]:
        """(last position, unfinished events, dead events), read through indexes only: what
        changes whenever an event is logged, finished or retried (the console's live view)."""

    @abstractmethod
    async def call_requests(self, call_id: str) -> list[RequestRecord]:
        """The recorded REST requests of every event of the call, in the order sent."""

    @abstractmethod
    async def retry(self, event_ids: Sequence[str] | None = None) -> int:
        """Send dead events (these ids, or every dead one) back to pending; how many."""

    @abstractmethod
    async def prune(
        self,
        before: datetime,
        statuses: Sequence[EventStatus] = (EventStatus.DONE, EventStatus.DEAD),
    ) -> int:
        """Delete finished events received before ``before``, with their outcomes; how many."""

    @abstractmethod
    async def stats(self) -> StoreStats:
        """Counts by status and type."""

    # -- replay runs, kept beside the events' own outcomes --

    @abstractmethod
    async def record_replays(self, results: Sequence[ReplayResult]) -> int:
        """Keep these replay results in one transaction; how many are of logged events.

        Results of events the log does not hold are dropped. A result for a (run, event)
        already recorded replaces it. An event's status and outcomes never change.
        """

    @abstractmethod
    async def replay_outcomes(self, event_id: str) -> list[ReplayResult]:
        """Every recorded replay of the event, oldest first (deleted with the event)."""

    # -- the REST requests of handler runs --

    @abstractmethod
    async def record_request(self, record: RequestRecord) -> None:
        """Keep one request of a handler run; a record for the same (event, handler, index,
        attempt) replaces it; a request of an event not in the log is dropped."""

    @abstractmethod
    async def requests_of(self, event_id: str, handler: str | None = None) -> list[RequestRecord]:
        """The event's recorded requests (of ``handler`` only, if given), in the order sent
        (deleted with the event)."""
