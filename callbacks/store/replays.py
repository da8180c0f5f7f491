"""What the log keeps of replays: one :class:`ReplayResult` per (run, replayed event).

Replay results live beside an event's own outcomes, never in their place: a dry run of a new
handler against last week's traffic must not make a dead event look done. Outcomes and REST
calls are stored as compact JSON text (:func:`encode_outcomes`, :func:`encode_requests`), one
row per event and run, so a run of 100 000 events is 100 000 small inserts in a few transactions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from callbacks.store.records import Outcome


class ReplayMode(StrEnum):
    """Where a replay sent its events."""

    DRY_RUN = "dry-run"
    """Through the handlers, with a client that sends nothing and records what it would."""
    LIVE = "live"
    """Through the handlers, with the real REST client (fresh repeatability ids)."""
    REMOTE = "remote"
    """The raw events posted to another receiver."""


@dataclass(frozen=True, slots=True)
class RestCall:
    """One REST request of a replayed handler run (not sent at all in a dry run)."""

    method: str
    path: str
    """Path and query below the service's endpoint, e.g. ``/calls/abc/PlayAudio``."""
    body: bytes | None
    """The JSON body as the client built it, or None."""
    status: int | None
    """The answer's status (simulated in a dry run; None when no answer came)."""
    repeatability_id: str | None = None
    handler: str | None = None
    """The handler that made the call."""

    def to_json(self) -> dict[str, Any]:
        """The call as printed and stored; the body decoded."""
        return {
            "handler": self.handler,
            "method": self.method,
            "path": self.path,
            "body": _decode(self.body),
            "status": self.status,
            "repeatability_id": self.repeatability_id,
        }


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What one replay run did with one event."""

    run_id: str
    event_id: str
    """The replayed event's identity."""
    mode: ReplayMode
    replayed_at: datetime
    outcomes: tuple[Outcome, ...] = ()
    """Handler outcomes (dry run, live), or the delivery to the target (remote)."""
    requests: tuple[RestCall, ...] = ()
    target: str | None = None
    """The receiver URL without its query (remote), or the service endpoint (live)."""

    @property
    def ok(self) -> bool:
        """True when every outcome succeeded."""
        return all(outcome.ok for outcome in self.outcomes)

    def to_json(self) -> dict[str, Any]:
        """The result as ``callbacks events show --json`` and ``replay --json`` print it."""
        return {
            "run_id": self.run_id,
            "event_id": self.event_id,
            "mode": self.mode.value,
            "target": self.target,
            "replayed_at": self.replayed_at.isoformat(),
            "ok": self.ok,
            "outcomes": [outcome.to_json() for outcome in self.outcomes],
            "requests": [call.to_json() for call in self.requests],
        }


def _decode(body: bytes | None) -> Any:
    if body is None or not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", errors="replace")


_COMPACT = json.JSONEncoder(separators=(",", ":"))
"""One encoder for every row: ``json.dumps`` with options builds a new one per call."""

# Stored rows are positional JSON arrays, which encode several times faster than objects
# (recording is a third of a dry run's cost per event):
#   outcome  [handler, attempt, error, duration, finished_at as epoch seconds]
#   request  [handler, method, path, status, repeatability_id, body]


def encode_outcomes(outcomes: tuple[Outcome, ...]) -> str:
    """Outcomes as the JSON text a replay row stores."""
    return _COMPACT.encode(
        [
            [o.handler, o.attempt, o.error, o.duration, o.finished_at.timestamp()]
            for o in outcomes
        ]
    )


def encode_requests(requests: tuple[RestCall, ...]) -> str:
    """REST calls as the JSON text a replay row stores; bodies spliced in as they are."""
    parts = []
    for call in requests:
        head = _COMPACT.encode(
            [call.handler, call.method, call.path, call.status, call.repeatability_id]
        )
        parts.append(f"{head[:-1]},{_body_json(call.body)}]")
    return "[" + ",".join(parts) + "]"


def _body_json(body: bytes | None) -> str:
    """A request body as JSON text: the client's JSON as it is (no decode and re-encode)."""
    if body is None or not body.strip():
        return "null"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text[:1] in ("{", "[") and "\x00" not in text:
        try:
            json.loads(text)  # stored as it is only if it is JSON
        except ValueError:
            pass
        else:
            return text
    return _COMPACT.encode(_decode(body))


def decode_outcomes(text: str) -> tuple[Outcome, ...]:
    """Back from :func:`encode_outcomes`."""
    return tuple(
        Outcome(handler, attempt, error, duration, datetime.fromtimestamp(finished, UTC))
        for handler, attempt, error, duration, finished in json.loads(text)
    )


def decode_requests(text: str) -> tuple[RestCall, ...]:
    """Back from :func:`encode_requests`."""
    return tuple(
        RestCall(
            method, path,
            None if body is None else _COMPACT.encode(body).encode(),
            status, request_id, handler,
        )
        for handler, method, path, status, request_id, body in json.loads(text)
    )


def latest_per_run(results: list[ReplayResult]) -> list[ReplayResult]:
    """``results`` without repeats of one (run, event): the last one given wins."""
    kept: dict[tuple[str, str], ReplayResult] = {}
    for result in results:
        kept.pop((result.run_id, result.event_id), None)
        kept[(result.run_id, result.event_id)] = result
    return list(kept.values())
