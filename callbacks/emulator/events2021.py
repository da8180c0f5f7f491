"""Callback bodies in the seed's 2021 dialect: the Event Grid shape with PascalCase ``data``.

Each builder returns the JSON object the emulator posts, exactly as reference §1.1 describes it::

    {"id": <uuid or null>, "topic": null, "subject": "callLeg/<callLegId>/<kind>",
     "data": {...PascalCase...}, "eventType": "Microsoft.Communication.<Type>",
     "eventTime": "2021-05-05T20:31:00.4818813Z", "metadataVersion": null, "dataVersion": null}

No I/O; the clock and the id policy are arguments so the output is reproducible.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from callbacks.identifiers import Identifier, IdentifierKind

EVENT_TYPE_PREFIX = "Microsoft.Communication."
EventIds = Literal["uuid", "null"]

CANCELLED_CODE = 400
CANCELLED_SUBCODE = 8508
CANCELLED_MESSAGE = "Action failed, the operation was cancelled."
COMPLETED_MESSAGE = "Action completed successfully."


def event_time(when: datetime) -> str:
    """ISO 8601 UTC with seven fractional digits, as the 2021 service wrote ``eventTime``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def identifier_2021(identifier: Identifier) -> dict[str, Any]:
    """A bare identifier in the 2021 shape ``{RawId, CommunicationUser, PhoneNumber, ...}``."""
    user = identifier.communication_user_id
    phone = identifier.phone_number
    is_user = identifier.kind is IdentifierKind.COMMUNICATION_USER
    is_phone = identifier.kind is IdentifierKind.PHONE_NUMBER
    return {
        "RawId": identifier.raw_id,
        "CommunicationUser": {"Id": user} if is_user and user else None,
        "PhoneNumber": {"Value": phone} if is_phone and phone else None,
        "MicrosoftTeamsUser": None,
    }


@dataclass(frozen=True, slots=True)
class ParticipantEntry:
    """One element of ``ParticipantsUpdated.Participants``."""

    identifier: Identifier
    participant_id: str
    is_muted: bool = False

    def to_wire(self) -> dict[str, Any]:
        """``{Identifier, ParticipantId, IsMuted}``."""
        return {
            "Identifier": identifier_2021(self.identifier),
            "ParticipantId": self.participant_id,
            "IsMuted": self.is_muted,
        }


def _utc_now() -> datetime:
    return datetime.now(UTC)


class EventFactory:
    """Builds 2021-dialect events with one id policy and clock."""

    def __init__(
        self, event_ids: EventIds = "uuid", clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self._event_ids = event_ids
        self._clock = clock

    def _envelope(
        self, short_type: str, call_leg_id: str, kind: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()) if self._event_ids == "uuid" else None,
            "topic": None,
            "subject": f"callLeg/{call_leg_id}/{kind}",
            "data": data,
            "eventType": EVENT_TYPE_PREFIX + short_type,
            "eventTime": event_time(self._clock()),
            "metadataVersion": None,
            "dataVersion": None,
        }

    def call_leg_state_changed(
        self, call_leg_id: str, state: str, conversation_id: str | None
    ) -> dict[str, Any]:
        """``CallLegStateChanged``; ``ConversationId`` is null until the call is established."""
        data = {"ConversationId": conversation_id, "CallLegId": call_leg_id, "CallState": state}
        return self._envelope("CallLegStateChanged", call_leg_id, "callState", data)

    def participants_updated(
        self, call_leg_id: str, participants: Iterable[ParticipantEntry]
    ) -> dict[str, Any]:
        """``ParticipantsUpdated`` with the full list of participants now in the call."""
        data = {
            "CallLegId": call_leg_id,
            "Participants": [entry.to_wire() for entry in participants],
        }
        return self._envelope("ParticipantsUpdated", call_leg_id, "participantsUpdated", data)

    def dtmf_received(self, call_leg_id: str, sequence_id: int, tone: str) -> dict[str, Any]:
        """``DtmfReceived`` for one tone."""
        data = {"ToneInfo": {"SequenceId": sequence_id, "Tone": tone}, "CallLegId": call_leg_id}
        return self._envelope("DtmfReceived", call_leg_id, "dtmf", data)

    def play_audio_result(
        self,
        call_leg_id: str,
        operation_context: str | None,
        *,
        cancelled: bool = False,
    ) -> dict[str, Any]:
        """``PlayAudioResult``: Completed with 200/0, or the documented cancellation 400/8508."""
        if cancelled:
            info = {
                "Code": CANCELLED_CODE,
                "Subcode": CANCELLED_SUBCODE,
                "Message": CANCELLED_MESSAGE,
            }
        else:
            info = {"Code": 200, "Subcode": 0, "Message": COMPLETED_MESSAGE}
        data = {
            "ResultInfo": info,
            "OperationContext": operation_context,
            "Status": "Completed",
            "CallLegId": call_leg_id,
        }
        return self._envelope("PlayAudioResult", call_leg_id, "playAudio", data)

    def invite_participant_result(
        self,
        call_leg_id: str,
        operation_context: str | None,
        participants: Iterable[Identifier],
        *,
        failed: bool = False,
    ) -> dict[str, Any]:
        """``InviteParticipantResult``: Completed when the invitee joined, Failed when not."""
        if failed:
            info = {"Code": 408, "Subcode": 0, "Message": "The participant did not answer."}
        else:
            info = {"Code": 200, "Subcode": 0, "Message": COMPLETED_MESSAGE}
        data = {
            "ResultInfo": info,
            "OperationContext": operation_context,
            "Status": "Failed" if failed else "Completed",
            "CallLegId": call_leg_id,
            "Participants": [identifier_2021(p) for p in participants],
        }
        return self._envelope(
            "InviteParticipantResult", call_leg_id, "inviteParticipantResult", data
        )
