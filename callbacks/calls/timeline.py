"""A call's timeline from the log: every callback, each handler run, each REST request it sent.

The entries are in time order, each with its offset from the first; ``callbacks calls show``
prints them the way ``callbacks demo`` prints a call, and the console's call page lists them.
A callback's time is when the receiver logged it, a run's when it finished, a request's when it
was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from callbacks.calls.summary import parsed
from callbacks.events.base import Event
from callbacks.store.base import EventStore
from callbacks.store.records import EventRecord, Outcome
from callbacks.store.requests import RequestRecord

LIMIT = 1_000
"""Events of a call a timeline reads at most: its newest ones."""

Kind = Literal["callback", "handler", "request"]
_ORDER = {"callback": 0, "handler": 1, "request": 2}


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a timeline."""

    at: datetime
    kind: Kind
    what: str
    """The event type, the handler's name, or ``METHOD /path``."""
    detail: str
    """What happened: the event's context and result, ok or the error, the answer."""
    event_id: str
    seq: int
    status: str = ""
    """callback: the event's status; handler: ok or failed; request: the HTTP status."""
    duration: float | None = None
    replica: str | None = None

    @property
    def key(self) -> tuple[str, ...]:
        """What identifies the entry, to print each once when following a call."""
        return (self.kind, self.event_id, self.what, self.detail, self.at.isoformat())

    def to_json(self, offset: float) -> dict[str, Any]:
        """The entry as ``callbacks calls show --json`` prints it."""
        return {
            "offset": round(offset, 6), "at": self.at.isoformat(), "kind": self.kind,
            "what": self.what, "detail": self.detail, "event_id": self.event_id,
            "seq": self.seq, "status": self.status, "duration": self.duration,
            "replica": self.replica,
        }


def describe(event: Event | None, record: EventRecord) -> str:
    """A few words on what a callback says: its context, result, tone, state, participants."""
    parts: list[str] = []
    data = getattr(event, "data", None)
    state = getattr(data, "call_state", None) or getattr(data, "call_connection_state", None)
    if state is not None:
        parts.append(str(getattr(state, "value", state)))
    if record.operation_context:
        parts.append(record.operation_context)
    result = getattr(event, "result_info", None) if event is not None else None
    if result is not None:
        parts.append(f"{getattr(result, 'code', '?')}/{getattr(result, 'subcode', '?')}")
    tone = getattr(getattr(data, "tone_info", None), "tone", None)
    if tone is not None:
        parts.append(str(getattr(tone, "value", tone)))
    participants = getattr(event, "participants", None)
    if isinstance(participants, list):
        parts.append(f"{len(participants)} participant(s)")
    return "  ".join(parts)


def _outcome(record: EventRecord, outcome: Outcome) -> Entry:
    verdict = "ok" if outcome.ok else f"FAILED: {outcome.error}"
    return Entry(outcome.finished_at, "handler", outcome.handler,
                 f"attempt {outcome.attempt} on {record.type}: {verdict}", record.id,
                 record.seq, "ok" if outcome.ok else "failed", outcome.duration, outcome.replica)


def _request(request: RequestRecord, seq: int) -> Entry:
    answer = "no answer" if request.status is None else str(request.status)
    if request.error_code:
        answer += f" {request.error_code}"
    return Entry(request.sent_at, "request", f"{request.method} {request.path}",
                 f"{request.handler} #{request.index} {request.operation} -> {answer}",
                 request.event_id, seq, answer, request.duration, request.replica)


def build(records: list[EventRecord], requests: list[RequestRecord]) -> list[Entry]:
    """The timeline of a call's ``records`` (oldest first) and their ``requests``."""
    entries: list[Entry] = []
    seqs = {record.id: record.seq for record in records}
    for record in records:
        entries.append(Entry(record.received_at, "callback", record.type,
                             describe(parsed(record), record), record.id, record.seq,
                             record.status.value))
        entries += [_outcome(record, outcome) for outcome in record.outcomes]
    entries += [_request(r, seqs[r.event_id]) for r in requests if r.event_id in seqs]
    return sorted(entries, key=lambda e: (e.at, _ORDER[e.kind], e.seq))


@dataclass(frozen=True, slots=True)
class Timeline:
    """A call's timeline; ``partial`` when the call has more events than were read."""

    call_id: str
    entries: list[Entry]
    partial: bool

    @property
    def start(self) -> datetime | None:
        """The time offsets count from: the first entry's."""
        return self.entries[0].at if self.entries else None

    def offset(self, entry: Entry) -> float:
        """Seconds from the first entry to ``entry``."""
        start = self.start
        return (entry.at - start).total_seconds() if start is not None else 0.0


async def call_timeline(store: EventStore, call_id: str, limit: int = LIMIT) -> Timeline | None:
    """The call's timeline, or None when the log holds none of its events."""
    records = await store.call_history(call_id, limit=limit)
    if not records:
        return None
    requests = await store.call_requests(call_id)
    return Timeline(records[-1].call_id or call_id, build(records, requests),
                    len(records) >= limit)
