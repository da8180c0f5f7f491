"""GA wire shapes the emulator writes: identifiers, CloudEvents envelopes, ids. No I/O.

A callback is one CloudEvents 1.0 object, posted as a JSON array of one (see
:meth:`callbacks.emulator.delivery.Delivery.send`)::

    {"id": <uuid>, "source": "calling/callConnections/<id>", "type": "Microsoft.Communication.X",
     "data": {...}, "time": "2026-01-01T12:00:00.123456+00:00", "specversion": "1.0",
     "datacontenttype": "application/json", "subject": "calling/callConnections/<id>"}
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

from callbacks.identifiers import Identifier, IdentifierKind

EVENT_TYPE_PREFIX = "Microsoft.Communication."


def identifier_ga(identifier: Identifier) -> dict[str, Any]:
    """An identifier as GA writes it: ``{"kind", "rawId", "communicationUser"|"phoneNumber"}``."""
    wire: dict[str, Any] = {"kind": identifier.kind.value, "rawId": identifier.raw_id}
    if identifier.kind is IdentifierKind.COMMUNICATION_USER:
        wire["communicationUser"] = {"id": identifier.communication_user_id}
    elif identifier.kind is IdentifierKind.PHONE_NUMBER:
        wire["phoneNumber"] = {"value": identifier.phone_number}
    return wire


def participant_ga(identifier: Identifier, *, muted: bool, on_hold: bool) -> dict[str, Any]:
    """A ``CallParticipant``: ``{"identifier", "isMuted", "isOnHold"}``."""
    return {"identifier": identifier_ga(identifier), "isMuted": muted, "isOnHold": on_hold}


def new_server_call_id() -> str:
    """An opaque server call id shaped like the service's (base64 of a conversation URL)."""
    url = f"https://emulator.local/conv/{uuid.uuid4()}?i=1"
    return base64.urlsafe_b64encode(url.encode("ascii")).decode("ascii").rstrip("=")


def event_time(when: datetime | None = None) -> str:
    """ISO 8601 with offset, as CloudEvents' ``time``."""
    return (when or datetime.now(UTC)).astimezone(UTC).isoformat()


def cloud_event(event_type: str, source: str, data: dict[str, Any]) -> dict[str, Any]:
    """One CloudEvents 1.0 event of ``Microsoft.Communication.<event_type>`` about ``source``."""
    return {
        "id": str(uuid.uuid4()),
        "source": source,
        "type": EVENT_TYPE_PREFIX + event_type,
        "data": data,
        "time": event_time(),
        "specversion": "1.0",
        "datacontenttype": "application/json",
        "subject": source,
    }


def event_grid_event(
    event_type: str, subject: str, data: dict[str, Any], topic: str
) -> dict[str, Any]:
    """One event in Event Grid's own schema (incoming calls, subscription validation)."""
    return {
        "id": str(uuid.uuid4()),
        "topic": topic,
        "subject": subject,
        "data": data,
        "eventType": event_type,
        "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z",
        "metadataVersion": "1",
        "dataVersion": "1.0",
    }
