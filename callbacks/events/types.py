"""One model per known event type, across the three dialects and Event Grid.

A type that exists in several dialects (``ParticipantsUpdated``, ``PlayAudioResult``,
``DtmfReceived``, ``CallRecordingStateChanged``) is one class: its data model accepts every
dialect's keys (:mod:`callbacks.events.data`), and ``event.dialect`` says which one arrived. The GA
types live in :mod:`callbacks.events.ga` and :mod:`callbacks.events.media`; the registry below
covers them all. No I/O here.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from callbacks.events import ga, media  # noqa: F401 - define the GA classes the registry finds
from callbacks.events.base import Event, Participant, ResultInfo
from callbacks.events.data import (
    CallConnectionStateData,
    CallLegStateData,
    IncomingCallData,
    InviteParticipantData,
    OperationResultData,
    ParticipantsData,
    RecordingData,
    RecordingFileData,
    SubscriptionValidationData,
    ToneData,
)
from callbacks.identifiers import Identifier

# --- 2021 preview (Event Grid shape, PascalCase) and shared types ------------------------------


class CallLegStateChanged(Event):
    """A call leg changed state (2021)."""

    TYPE = "CallLegStateChanged"
    data: CallLegStateData


class DtmfReceived(Event):
    """A DTMF tone was received (2021, callingserver)."""

    TYPE = "DtmfReceived"
    data: ToneData


class PlayAudioResult(Event):
    """A PlayAudio operation ended (2021, callingserver); cancellation is ResultInfo 400/8508."""

    TYPE = "PlayAudioResult"
    data: OperationResultData


class InviteParticipantResult(Event):
    """An invite-participant operation ended (2021)."""

    TYPE = "InviteParticipantResult"
    data: InviteParticipantData


class ParticipantsUpdated(Event):
    """The full participant list of a call changed (all dialects)."""

    TYPE = "ParticipantsUpdated"
    data: ParticipantsData

    @property
    def participants(self) -> list[Participant]:
        """Everyone now in the call (the full list, not a change): identifier, muted, on hold."""
        return self.data.participants

    @property
    def identifiers(self) -> list[Identifier]:
        """Each participant's identifier, in list order, whichever dialect listed them."""
        return self.data.identifiers


class CallRecordingStateChanged(Event):
    """A recording started or stopped (2021, callingserver)."""

    TYPE = "CallRecordingStateChanged"
    data: RecordingData


# --- callingserver public preview (CloudEvents, camelCase) ------------------------------------


class CallConnectionStateChanged(Event):
    """A call connection changed state (callingserver)."""

    TYPE = "CallConnectionStateChanged"
    data: CallConnectionStateData


class AddParticipantResult(Event):
    """An add-participant operation ended (callingserver)."""

    TYPE = "AddParticipantResult"
    data: OperationResultData


class ToneReceived(Event):
    """A DTMF tone was received (callingserver's later name)."""

    TYPE = "ToneReceived"
    data: ToneData


# --- Event Grid ------------------------------------------------------------------------------


class IncomingCall(Event):
    """A call to one of the resource's numbers or users, delivered by Event Grid."""

    TYPE = "IncomingCall"
    data: IncomingCallData


class RecordingFileStatusUpdated(Event):
    """A recording's files are stored and can be downloaded, delivered by Event Grid."""

    TYPE = "RecordingFileStatusUpdated"
    data: RecordingFileData


class SubscriptionValidationEvent(Event):
    """Event Grid's handshake; the endpoint answers it, handlers never see it."""

    TYPE = "SubscriptionValidationEvent"
    NAMESPACE = "Microsoft.EventGrid"
    data: SubscriptionValidationData


class UnknownEvent(Event):
    """An event of a type this version does not model; ``data`` is the raw JSON value."""

    data: Any = None

    def _data_field(self, *names: str) -> str | None:
        if isinstance(self.data, dict):
            for name in names:
                value = self.data.get(name)
                if isinstance(value, str) and value:
                    return value
        return None

    @property
    def call_id(self) -> str | None:
        """callLegId or callConnectionId when the unknown event's data carries one."""
        return self._data_field("callConnectionId", "callLegId", "CallLegId", "CallConnectionId")

    @property
    def operation_context(self) -> str | None:
        """operationContext when the unknown event's data carries one."""
        return self._data_field("operationContext", "OperationContext")

    @property
    def result_info(self) -> ResultInfo | None:
        """resultInformation (or resultInfo) when the unknown event's data carries a valid one."""
        if isinstance(self.data, dict):
            for key in ("resultInformation", "resultInfo", "ResultInfo", "ResultInformation"):
                value = self.data.get(key)
                if isinstance(value, dict):
                    try:
                        return ResultInfo.model_validate(value)
                    except ValidationError:
                        return None
        return None


def _known() -> dict[str, type[Event]]:
    found: dict[str, type[Event]] = {}
    pending = list(Event.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.TYPE:
            found[f"{cls.NAMESPACE}.{cls.TYPE}".casefold()] = cls
    return found


KNOWN_TYPES: dict[str, type[Event]] = _known()
"""Known classes by lower-cased full type name."""
BY_SHORT_NAME: dict[str, type[Event]] = {cls.TYPE: cls for cls in KNOWN_TYPES.values()}
"""Known classes by short type name."""
