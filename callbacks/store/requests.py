"""What the log keeps of the REST requests handlers make: one :class:`RequestRecord` each.

A handler run's requests are recorded as they complete (or fail), beside the run's outcome.
A re-run of the same handler for the same event reads them back: a request that already
completed is answered from its record instead of being sent again (see
:mod:`callbacks.client.pipeline`). Nothing secret is kept: no header, no signature, no query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One REST request of one handler run for one event."""

    event_id: str
    """The identity of the event whose handler made it."""
    handler: str
    index: int
    """Its position among the run's requests, from 0."""
    attempt: int
    """The handler run it belongs to (1 for the first)."""
    operation: str
    """The client's name for it: ``play_media``, ``create_call``, ..."""
    method: str
    path: str
    """Below the service's endpoint, without the query."""
    body_hash: str
    """SHA-256 of the body sent (hex), "" for none."""
    status: int | None
    """The final answer's status; None when no answer came."""
    duration: float
    """Seconds from the first attempt to the final answer."""
    sent_at: datetime
    repeatability_id: str | None = None
    error_code: str | None = None
    """The service's error code when it refused."""
    answer: bytes | None = None
    """The body of a 2xx answer (kept to answer a re-run); None otherwise."""
    replica: str | None = None
    """The replica that sent it."""

    @property
    def completed(self) -> bool:
        """Whether the service answered with a 2xx."""
        return self.status is not None and 200 <= self.status < 300

    def to_json(self) -> dict[str, Any]:
        """The request as ``callbacks events show --json`` prints it (no answer body)."""
        return {
            "handler": self.handler,
            "index": self.index,
            "attempt": self.attempt,
            "operation": self.operation,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "duration": self.duration,
            "sent_at": self.sent_at.isoformat(),
            "repeatability_id": self.repeatability_id,
            "error_code": self.error_code,
            "replica": self.replica,
        }
