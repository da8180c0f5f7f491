"""What the event log reads and writes: statuses, records, filters, errors.

Plain frozen dataclasses shared by every store, the dispatcher and the CLI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


def utf8_text(value: str) -> str:
    """``value`` as a UTF-8 text column can hold it: a lone surrogate becomes its escape as text
    (``\\ud800``, six characters). Apply it to what is written and to what is looked up alike,
    so that lookups find what was written.

    JSON may escape a lone surrogate (``"\\ud800"``) and the parser keeps it, but UTF-8 has no
    form for it, so neither SQLite nor PostgreSQL takes the string. The raw event keeps the
    sender's values; this is for the columns the log is searched by (ids, call ids, types,
    contexts, handler errors). An id that differs from another only by a lone surrogate spelled
    as an escape instead becomes the same id, and counts as its duplicate; event ids are GUIDs.
    """
    return value if value.isascii() else value.encode("utf-8", "backslashreplace").decode()


def maybe_utf8_text(value: str | None) -> str | None:
    """:func:`utf8_text` for an optional value."""
    return None if value is None else utf8_text(value)


class StoreError(Exception):
    """The log cannot do this now (closed, commit failed, database locked): answer 503."""


class ClaimLost(StoreError):
    """The owner no longer holds the call's claim (lease expired and taken over)."""


class LogMissing(StoreError):
    """No event log where the URL points, and this open may not create one."""


class LogOutdated(StoreError):
    """The log's schema is older than this program's, and this open may not migrate it."""


@dataclass(frozen=True, slots=True)
class OpenPolicy:
    """What :meth:`~callbacks.store.base.EventStore.open` may do to the log it opens."""

    create: bool = True
    """Create a log that does not exist yet (a SQLite file, a PostgreSQL schema and tables)."""
    migrate: bool = True
    """Bring an older log's schema up to this program's version."""
    upgrade: str = ""
    """How to upgrade a log this policy will not migrate: said when refusing it."""

    def outdated(self, where: str, version: int, current: int) -> LogOutdated:
        """The refusal of a log at schema ``version`` where this program reads ``current``."""
        how = f": {self.upgrade}" if self.upgrade else ""
        return LogOutdated(
            f"the event log at {where} has schema version {version}, older than this "
            f"program's {current}; it was not changed{how}"
        )


class EventStatus(StrEnum):
    """Where an event is in its life: pending -> done, or failed (retrying) -> dead."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    DEAD = "dead"


UNFINISHED = (EventStatus.PENDING, EventStatus.FAILED)
"""Statuses the dispatcher still has to work on."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """How many events of a request were new, and how many were already known."""

    accepted: int
    duplicates: int


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


PERMANENT = " (permanent: not retried)"
"""The end of a recorded error that will not go away by running the handler again."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One run of one handler on one event; ``error`` is None when it succeeded."""

    handler: str
    attempt: int
    error: str | None
    duration: float
    finished_at: datetime
    replica: str | None = None
    """The replica (``--replica-name``) that ran it; None in logs from before it was kept."""

    @property
    def ok(self) -> bool:
        """True when the handler returned without raising."""
        return self.error is None

    @property
    def permanent(self) -> bool:
        """True when the handler failed for good (its error ends with :data:`PERMANENT`)."""
        return self.error is not None and self.error.endswith(PERMANENT)

    def to_json(self) -> dict[str, Any]:
        """The outcome as printed by ``callbacks events --json``."""
        return {
            "handler": self.handler,
            "attempt": self.attempt,
            "ok": self.ok,
            "error": self.error,
            "duration": round(self.duration, 6),
            "finished_at": self.finished_at.isoformat(),
            "replica": self.replica,
        }


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A logged event with its handler outcomes, as listed and shown."""

    seq: int
    """Log position: defines arrival order, never reused."""
    id: str
    """The event identity (its id, or a content hash when the id was null)."""
    type: str
    full_type: str
    dialect: str
    call_id: str | None
    operation_context: str | None
    sequence: int | None
    event_time: datetime | None
    received_at: datetime
    path_context: str | None
    status: EventStatus
    attempts: int
    """Runs in the current round (reset by ``retry``)."""
    raw: bytes
    outcomes: tuple[Outcome, ...] = ()

    def to_json(self, *, raw: bool = False) -> dict[str, Any]:
        """The fields of ``callbacks events list --json``; ``raw=True`` adds the event's JSON."""
        document: dict[str, Any] = {
            "id": self.id,
            "seq": self.seq,
            "type": self.type,
            "full_type": self.full_type,
            "dialect": self.dialect,
            "call_id": self.call_id,
            "operation_context": self.operation_context,
            "sequence": self.sequence,
            "event_time": self.event_time.isoformat() if self.event_time else None,
            "received_at": self.received_at.isoformat(),
            "path_context": self.path_context,
            "status": str(self.status),
            "attempts": self.attempts,
            "outcomes": [outcome.to_json() for outcome in self.outcomes],
        }
        if raw:
            document["raw"] = json.loads(self.raw)
        return document


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An unfinished event handed to the dispatcher, with its earlier handler outcomes."""

    seq: int
    id: str
    call_id: str | None
    raw: bytes
    path_context: str | None
    received_at: datetime
    status: EventStatus
    attempts: int
    outcomes: tuple[Outcome, ...] = ()


@dataclass(frozen=True, slots=True)
class Claim:
    """A lease on one call's events: only ``owner`` runs them until ``expires_at`` (epoch s)."""

    call_id: str | None
    """None is the lane of events outside any call (IncomingCall)."""
    owner: str
    expires_at: float
    previous: str | None = None
    """Who held the call before, when this claim took it over from another owner whose lease
    had expired (a replica that died or was cut off); None otherwise."""


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a listing returns; every given field must match (None: any)."""

    call_id: str | None = None
    type: str | None = None
    """Short (``PlayCompleted``) or full (``Microsoft.Communication.PlayCompleted``) type."""
    status: EventStatus | None = None
    since: datetime | None = None
    """Received at or after (naive datetimes are UTC)."""
    until: datetime | None = None
    """Received before (naive datetimes are UTC)."""
    operation_context: str | None = None
    """Exact, or a glob (``reminder:*``) as the router matches it (:mod:`.patterns`)."""
    id: str | None = None
    id_prefix: str | None = None
    """Only events whose identity starts with this."""
    after_seq: int | None = None
    """Only events logged after this position (resume a listing)."""
    before_seq: int | None = None
    """Only events logged before this position (page back through a listing)."""


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Counts of logged events by status and by type."""

    total: int
    by_status: dict[str, int] = field(default_factory=dict)
    by_type: dict[str, int] = field(default_factory=dict)
    calls_with_work: int = 0
    """Calls that have unfinished events."""
