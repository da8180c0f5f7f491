"""What the emulator saw and did: every REST request received and every callback sent.

Records carry a wall-clock time and ``t``, seconds since the emulator started (monotonic), so a
call's timeline can be printed. Callback URLs are kept with their query values masked: the
query holds the receiver's secret.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

DeliveryStatus = Literal["queued", "delivering", "delivered", "failed", "rejected", "dropped"]


def redact_url(url: str) -> str:
    """``url`` with every query value replaced by ``***`` (names kept)."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    masked = urlencode([(name, "***") for name, _ in parse_qsl(parts.query, True)], safe="*")
    return urlunsplit(parts._replace(query=masked))


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class RequestRecord:
    """One REST request and the answer it got."""

    seq: int
    at: datetime
    t: float
    method: str
    path: str
    operation: str
    form: str
    status: int = 0
    call_id: str | None = None
    operation_context: str | None = None
    repeatability_id: str | None = None
    replayed: bool = False
    fault: int | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as the control API shows it."""
        return {
            "seq": self.seq,
            "at": _iso(self.at),
            "t": round(self.t, 6),
            "method": self.method,
            "path": self.path,
            "operation": self.operation,
            "form": self.form,
            "status": self.status,
            "call_id": self.call_id,
            "operation_context": self.operation_context,
            "repeatability_id": self.repeatability_id,
            "replayed": self.replayed,
            "fault": self.fault,
            "error": self.error,
        }


@dataclass(slots=True)
class Attempt:
    """One try to post a callback."""

    at: datetime
    t: float
    status: int | None
    error: str | None
    elapsed: float

    def to_json(self) -> dict[str, Any]:
        """The attempt as the control API shows it."""
        return {
            "at": _iso(self.at),
            "t": round(self.t, 6),
            "status": self.status,
            "error": self.error,
            "elapsed": round(self.elapsed, 6),
        }


@dataclass(slots=True)
class CallbackRecord:
    """One callback: the event, where it goes, and every attempt to deliver it."""

    seq: int
    at: datetime
    t: float
    call_id: str
    event_type: str
    event: dict[str, Any]
    body: bytes = field(repr=False)
    url: str = field(repr=False)
    """The real URL, secret included; only :attr:`shown_url` leaves the emulator."""
    status: DeliveryStatus = "queued"
    attempts: list[Attempt] = field(default_factory=list)
    delivered_at: datetime | None = None
    duplicate_of: int | None = None
    held_for: float = 0.0
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    """Headers of every attempt besides the content type (Event Grid's ``aeg-event-type``)."""
    signed: bool = True
    """Whether each attempt carries a fresh bearer token (Event Grid deliveries do not)."""

    @property
    def shown_url(self) -> str:
        """The URL with its query values masked."""
        return redact_url(self.url)

    def to_json(self) -> dict[str, Any]:
        """The record as the control API shows it."""
        return {
            "seq": self.seq,
            "at": _iso(self.at),
            "t": round(self.t, 6),
            "call_id": self.call_id,
            "event_type": self.event_type,
            "event_id": self.event.get("id"),
            "url": self.shown_url,
            "status": self.status,
            "attempts": [a.to_json() for a in self.attempts],
            "delivered_at": _iso(self.delivered_at) if self.delivered_at else None,
            "duplicate_of": self.duplicate_of,
            "held_for": round(self.held_for, 6),
            "event": self.event,
        }


class Journal:
    """Bounded logs of requests and callbacks, newest last."""

    def __init__(self, size: int) -> None:
        self._started = time.monotonic()
        self._seq = itertools.count(1)
        self.requests: deque[RequestRecord] = deque(maxlen=size)
        self.callbacks: deque[CallbackRecord] = deque(maxlen=size)

    def now(self) -> tuple[datetime, float]:
        """(wall clock, seconds since start)."""
        return datetime.now(UTC), time.monotonic() - self._started

    def request(self, method: str, path: str, operation: str, form: str) -> RequestRecord:
        """Start a request record; the caller fills in the outcome."""
        at, t = self.now()
        record = RequestRecord(next(self._seq), at, t, method, path, operation, form)
        self.requests.append(record)
        return record

    def callback(
        self,
        call_id: str,
        url: str,
        event: dict[str, Any],
        body: bytes,
        duplicate_of: int | None = None,
        *,
        headers: dict[str, str] | None = None,
        signed: bool = True,
    ) -> CallbackRecord:
        """Record a callback about to be queued (``event`` is the one event the body carries)."""
        at, t = self.now()
        # Event Grid's shape names the type eventType, CloudEvents' type
        event_type = str(event.get("eventType") or event.get("type") or "").rsplit(".", 1)[-1]
        record = CallbackRecord(
            next(self._seq), at, t, call_id, event_type, event, body, url,
            duplicate_of=duplicate_of, headers=dict(headers or {}), signed=signed,
        )
        self.callbacks.append(record)
        return record

    def clear(self) -> None:
        """Forget every record (sequence numbers keep growing)."""
        self.requests.clear()
        self.callbacks.clear()
