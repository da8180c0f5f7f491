"""Real callback bodies for event-log and dispatcher tests, built from the recorded samples."""

from __future__ import annotations

import json

from callbacks.events import Event, parse_events
from tests.support.samples import sample_json


def ga_element(
    call_id: str,
    n: int,
    *,
    event_type: str = "PlayCompleted",
    operation_context: str | None = "ctx",
    event_id: str | None = None,
) -> dict[str, object]:
    """A GA CloudEvent of ``event_type`` for ``call_id``; its id is ``{call_id}/{n}``."""
    element = sample_json("ga", event_type)[0]
    element["id"] = event_id or f"{call_id}/{n}"
    element["source"] = element["subject"] = f"calling/callConnections/{call_id}"
    element["data"]["callConnectionId"] = call_id
    if operation_context is None:
        element["data"].pop("operationContext", None)
    else:
        element["data"]["operationContext"] = operation_context
    return dict(element)


def ga_body(
    call_id: str,
    *ns: int,
    event_type: str = "PlayCompleted",
    operation_context: str | None = "ctx",
) -> bytes:
    """A JSON array body of the GA events ``ns`` of ``call_id``."""
    elements = [
        ga_element(call_id, n, event_type=event_type, operation_context=operation_context)
        for n in ns
    ]
    return json.dumps(elements).encode()


def ga_events(
    call_id: str,
    *ns: int,
    event_type: str = "PlayCompleted",
    operation_context: str | None = "ctx",
) -> list[Event]:
    """The parsed events of :func:`ga_body` (as the endpoint hands them over)."""
    body = ga_body(call_id, *ns, event_type=event_type, operation_context=operation_context)
    return parse_events(body)


def preview_dtmf(call_leg_id: str, sequence_id: int) -> list[Event]:
    """A 2021-preview DtmfReceived with a null id: its identity is a content hash."""
    element = sample_json("preview2021", "DtmfReceived")
    element["subject"] = f"callLeg/{call_leg_id}/dtmf"
    element["data"]["CallLegId"] = call_leg_id
    element["data"]["ToneInfo"]["SequenceId"] = sequence_id
    return parse_events(json.dumps(element).encode())


def incoming_calls(*ns: int) -> list[Event]:
    """Event Grid IncomingCall events (outside any call), ids ``incoming/{n}``."""
    elements = []
    for n in ns:
        element = sample_json("eventgrid", "IncomingCall")[0]
        element["id"] = f"incoming/{n}"
        elements.append(element)
    return parse_events(json.dumps(elements).encode())


def number(event_id: str) -> int:
    """The ``n`` of an id made by these builders."""
    return int(event_id.rsplit("/", 1)[1])
