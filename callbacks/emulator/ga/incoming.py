"""Incoming calls, delivered the way Event Grid delivers them to an application.

The Event Grid subscription's endpoint is ``--incoming-url``. Before the first delivery the
emulator does the subscription-validation handshake there: a POST with header
``aeg-event-type: SubscriptionValidation`` carrying one
``Microsoft.EventGrid.SubscriptionValidationEvent``; the endpoint must answer 200 with
``{"validationResponse": <validationCode>}``. Then every incoming call is a POST of an array of
one ``Microsoft.Communication.IncomingCall`` event (Event Grid schema, header
``aeg-event-type: Notification``) with ``to``, ``from``, ``serverCallId``,
``callerDisplayName``, ``incomingCallContext`` and ``correlationId``. Like Event Grid's, these
posts carry no Call Automation token: the URL's ``?secret=`` authenticates them.

An incoming call rings for the emulator's ring timeout; answered later it is refused (400/8587).
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx2

from callbacks.emulator.errors import EmulatorError
from callbacks.emulator.ga.wire import event_grid_event, identifier_ga, new_server_call_id
from callbacks.emulator.journal import redact_url
from callbacks.identifiers import Identifier

VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"
INCOMING_CALL_EVENT = "Microsoft.Communication.IncomingCall"
TOPIC = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/emulator/providers/"
    "Microsoft.Communication/communicationServices/emulator"
)
IncomingState = Literal["ringing", "answered", "rejected", "redirected", "timed_out"]


class SubscriptionFailed(EmulatorError):
    """502: the Event Grid endpoint did not complete the validation handshake."""

    status = 502
    code = "SubscriptionValidationFailed"


@dataclass(slots=True, eq=False)
class IncomingCall:
    """One call to the application, waiting for answer, reject or redirect."""

    caller: Identifier
    callee: Identifier
    display_name: str = ""
    state: IncomingState = "ringing"
    context: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    server_call_id: str = field(default_factory=new_server_call_id)
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    call_connection_id: str | None = None
    detail: str | None = None
    """Who it was redirected to, or why it was rejected."""

    def event(self) -> dict[str, Any]:
        """The Event Grid ``IncomingCall`` event announcing it."""
        data = {
            "to": identifier_ga(self.callee),
            "from": identifier_ga(self.caller),
            "serverCallId": self.server_call_id,
            "callerDisplayName": self.display_name,
            "incomingCallContext": self.context,
            "correlationId": self.correlation_id,
        }
        subject = f"/caller/{self.caller.raw_id}/recipient/{self.callee.raw_id}"
        return event_grid_event(INCOMING_CALL_EVENT, subject, data, TOPIC)

    def to_json(self) -> dict[str, Any]:
        """The incoming call as the control API shows it."""
        return {
            "from": self.caller.raw_id,
            "to": self.callee.raw_id,
            "caller_display_name": self.display_name,
            "state": self.state,
            "server_call_id": self.server_call_id,
            "correlation_id": self.correlation_id,
            "incoming_call_context": self.context,
            "call_connection_id": self.call_connection_id,
            "detail": self.detail,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
        }


class Subscription:
    """The Event Grid subscription incoming calls are delivered to."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.validated = False

    @property
    def shown_url(self) -> str:
        """The endpoint with its query values (the secret) masked."""
        return redact_url(self.url)

    async def validate(self, client: httpx2.AsyncClient, seconds: float) -> None:
        """Do the validation handshake unless it was done; :class:`SubscriptionFailed` if the
        endpoint does not echo the code."""
        if self.validated:
            return
        code = str(uuid.uuid4())
        data = {"validationCode": code, "validationUrl": f"{self.url.split('?')[0]}?validate=0"}
        event = event_grid_event(VALIDATION_EVENT, "", data, TOPIC)
        headers = {"aeg-event-type": "SubscriptionValidation", "Content-Type": "application/json"}
        where = self.shown_url
        try:
            response = await client.post(
                self.url, content=json.dumps([event]).encode("utf-8"), headers=headers,
                timeout=seconds,
            )
        except httpx2.HTTPError as exc:
            # the exception text may quote the URL, whose query holds the secret
            raise SubscriptionFailed(
                f"the Event Grid endpoint {where} could not be reached for the subscription "
                f"validation handshake ({type(exc).__name__})"
            ) from None
        if response.status_code != 200:
            raise SubscriptionFailed(
                f"the Event Grid endpoint {where} answered {response.status_code} to the "
                "subscription validation handshake; it must answer 200 "
                '{"validationResponse": <validationCode>}'
            )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        echoed = answer.get("validationResponse") if isinstance(answer, dict) else None
        if echoed != code:
            raise SubscriptionFailed(
                f"the Event Grid endpoint {where} did not echo the validation code: it must "
                'answer {"validationResponse": <data.validationCode>}'
            )
        self.validated = True
