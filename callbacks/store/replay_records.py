"""What the log keeps of replays: one :class:`ReplayResult` per (run, replayed event).

Replay results live beside an event's own outcomes, never in their place: a dry run of a new
handler against last week's traffic must not make a dead event look done. Outcomes and REST
calls are stored as JSON text (:func:`encode_outcomes`, :func:`encode_requests`), one row per
event and run, so a run of 100 000 events is 100 000 small inserts in a few transactions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
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

    def to_json(self) -> dict[str, Any]:
        """The call as printed and stored; the body decoded."""
        return {
            "method": self.method,
            "path": self.path,
            "body": _decode(self.body),
            "status": self.status,
            "repeatability_id": self.repeatability_id,
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> RestCall:
        """Back from :meth:`to_json`."""
        body = document.get("body")
        return cls(
            method=str(document["method"]),
            path=str(document["path"]),
            body=None if body is None else json.dumps(body, separators=(",", ":")).encode(),
            status=document.get("status"),
            repeatability_id=document.get("repeatability_id"),
        )


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


def encode_outcomes(outcomes: tuple[Outcome, ...]) -> str:
    """Outcomes as the JSON text a replay row stores."""
    return json.dumps([outcome.to_json() for outcome in outcomes], separators=(",", ":"))


def encode_requests(requests: tuple[RestCall, ...]) -> str:
    """REST calls as the JSON text a replay row stores."""
    return json.dumps([call.to_json() for call in requests], separators=(",", ":"))


def decode_outcomes(text: str) -> tuple[Outcome, ...]:
    """Back from :func:`encode_outcomes`."""
    return tuple(
        Outcome(
            handler=item["handler"],
            attempt=item["attempt"],
            error=item["error"],
            duration=item["duration"],
            finished_at=datetime.fromisoformat(item["finished_at"]),
        )
        for item in json.loads(text)
    )


def decode_requests(text: str) -> tuple[RestCall, ...]:
    """Back from :func:`encode_requests`."""
    return tuple(RestCall.from_json(item) for item in json.loads(text))


def latest_per_run(results: list[ReplayResult]) -> list[ReplayResult]:
    """``results`` without repeats of one (run, event): the last one given wins."""
    kept: dict[tuple[str, str], ReplayResult] = {}
    for result in results:
        kept.pop((result.run_id, result.event_id), None)
        kept[(result.run_id, result.event_id)] = result
    return list(kept.values())
