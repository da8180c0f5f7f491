"""One model per known event type, across the three dialects and Event Grid.

A type that exists in several dialects (``ParticipantsUpdated``, ``PlayAudioResult``,
``DtmfReceived``, ``CallRecordingStateChanged``) is one class: its data model accepts every
dialect's keys, and ``event.dialect`` says which one arrived. No I/O here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import AliasChoices, Field

from callbacks.event_models import (
    CallData,
    CallStateValue,
    Event,
    OperationStatusValue,
    Participant,
    RecordingStateValue,
    ToneInfo,
    ToneValue,
    WireModel,
)
from callbacks.identifiers import Identifier

# --- data models ----------------------------------------------------------------------------


class CallLegStateData(CallData):
    """``CallLegStateChanged`` data (2021)."""

    call_leg_id: str
    conversation_id: str | None = None
    call_state: CallStateValue


class CallConnectionStateData(CallData):
    """``CallConnectionStateChanged`` data (callingserver)."""

    call_connection_id: str
    call_connection_state: CallStateValue


class ToneData(CallData):
    """A received DTMF tone (2021 ``DtmfReceived``, callingserver ``ToneReceived``)."""

    tone_info: ToneInfo

    @property
    def sequence(self) -> int | None:
        """ToneInfo.SequenceId."""
        return self.tone_info.sequence_id


class OperationResultData(CallData):
    """Result of a media or participant operation (2021, callingserver)."""

    status: OperationStatusValue


class InviteParticipantData(OperationResultData):
    """``InviteParticipantResult`` data (2021): bare identifiers of the invitees."""

    participants: list[Identifier] = Field(default_factory=list)


class ParticipantsData(CallData):
    """The FULL participant list of a call (not a delta)."""

    participants: list[Participant]
    sequence_number: int | None = None

    @property
    def sequence(self) -> int | None:
        """sequenceNumber (GA)."""
        return self.sequence_number


class RecordingData(CallData):
    """Recording state (2021 / callingserver / GA)."""

    REQUIRES_CALL: ClassVar[bool] = False

    recording_id: str | None = None
    state: RecordingStateValue
    start_date_time: datetime | None = None
    conversation_id: str | None = None
    recording_kind: str | None = None


class TransferAcceptedData(CallData):
    """``CallTransferAccepted`` data (GA)."""

    transfer_target: Identifier | None = None
    transferee: Identifier | None = None


class ParticipantData(CallData):
    """Add/remove participant outcome (GA)."""

    participant: Identifier | None = None


class InvitationData(CallData):
    """Cancel-add-participant outcome (GA)."""

    invitation_id: str | None = None


class FailedPlayData(CallData):
    """``PlayFailed`` / ``RecognizeFailed`` data (GA)."""

    failed_play_source_index: int | None = None


class DtmfResult(WireModel):
    """Tones collected by a recognize operation."""

    tones: list[ToneValue] = Field(default_factory=list)


class ChoiceResult(WireModel):
    """Choice recognized by a recognize operation."""

    label: str | None = None
    recognized_phrase: str | None = None
    confidence: float | None = None


class SpeechResult(WireModel):
    """Speech recognized by a recognize operation."""

    speech: str | None = None
    confidence: float | None = None


class RecognizeData(CallData):
    """``RecognizeCompleted`` data (GA); ``collectTonesResult`` is the older name."""

    recognition_type: str | None = None
    dtmf_result: DtmfResult | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "dtmf_result", "dtmfResult", "DtmfResult", "collectTonesResult", "CollectTonesResult"
        ),
    )
    choice_result: ChoiceResult | None = None
    speech_result: SpeechResult | None = None


class ContinuousToneData(CallData):
    """``ContinuousDtmfRecognitionToneReceived`` data (GA)."""

    sequence_id: int | None = None
    tone: ToneValue | None = None

    @property
    def sequence(self) -> int | None:
        """sequenceId."""
        return self.sequence_id


class MediaStreamingData(CallData):
    """``MediaStreaming*`` data (GA)."""

    media_streaming_update: dict[str, Any] | None = None


class TranscriptionData(CallData):
    """``Transcription*`` data (GA)."""

    transcription_update: dict[str, Any] | None = None


class IncomingCallData(CallData):
    """``IncomingCall`` data (Event Grid); not part of any call connection yet."""

    REQUIRES_CALL: ClassVar[bool] = False

    to: Identifier
    from_: Identifier = Field(validation_alias="from")
    caller_display_name: str | None = None
    incoming_call_context: str


class SubscriptionValidationData(WireModel):
    """Event Grid's subscription handshake."""

    validation_code: str
    validation_url: str | None = None


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


# --- GA Call Automation (CloudEvents, camelCase) ----------------------------------------------


class CallConnected(Event):
    """The call connection is established (GA)."""

    TYPE = "CallConnected"
    data: CallData


class CallDisconnected(Event):
    """The call connection ended; no further events come for it (GA)."""

    TYPE = "CallDisconnected"
    data: CallData


class CallTransferAccepted(Event):
    """A transfer was accepted (GA)."""

    TYPE = "CallTransferAccepted"
    data: TransferAcceptedData


class CallTransferFailed(Event):
    """A transfer failed (GA)."""

    TYPE = "CallTransferFailed"
    data: CallData


class AnswerFailed(Event):
    """Answering an incoming call failed (GA)."""

    TYPE = "AnswerFailed"
    data: CallData


class CreateCallFailed(Event):
    """An outbound call could not be created (GA)."""

    TYPE = "CreateCallFailed"
    data: CallData


class ConnectFailed(Event):
    """Connecting to a call failed (GA)."""

    TYPE = "ConnectFailed"
    data: CallData


class HoldFailed(Event):
    """Holding a participant failed (GA)."""

    TYPE = "HoldFailed"
    data: CallData


class AddParticipantSucceeded(Event):
    """A participant was added (GA)."""

    TYPE = "AddParticipantSucceeded"
    data: ParticipantData


class AddParticipantFailed(Event):
    """Adding a participant failed (GA)."""

    TYPE = "AddParticipantFailed"
    data: ParticipantData


class RemoveParticipantSucceeded(Event):
    """A participant was removed (GA)."""

    TYPE = "RemoveParticipantSucceeded"
    data: ParticipantData


class RemoveParticipantFailed(Event):
    """Removing a participant failed (GA)."""

    TYPE = "RemoveParticipantFailed"
    data: ParticipantData


class CancelAddParticipantSucceeded(Event):
    """A pending invitation was cancelled (GA)."""

    TYPE = "CancelAddParticipantSucceeded"
    data: InvitationData


class CancelAddParticipantFailed(Event):
    """Cancelling a pending invitation failed (GA)."""

    TYPE = "CancelAddParticipantFailed"
    data: InvitationData


class PlayStarted(Event):
    """Playing started (GA)."""

    TYPE = "PlayStarted"
    data: CallData


class PlayCompleted(Event):
    """Playing completed (GA)."""

    TYPE = "PlayCompleted"
    data: CallData


class PlayCanceled(Event):
    """Playing was cancelled (GA)."""

    TYPE = "PlayCanceled"
    data: CallData


class PlayFailed(Event):
    """Playing failed (GA)."""

    TYPE = "PlayFailed"
    data: FailedPlayData


class RecognizeCompleted(Event):
    """Tones, a choice or speech were recognized (GA)."""

    TYPE = "RecognizeCompleted"
    data: RecognizeData


class RecognizeFailed(Event):
    """Recognition failed (GA)."""

    TYPE = "RecognizeFailed"
    data: FailedPlayData


class RecognizeCanceled(Event):
    """Recognition was cancelled (GA)."""

    TYPE = "RecognizeCanceled"
    data: CallData


class ContinuousDtmfRecognitionToneReceived(Event):
    """A tone arrived during continuous DTMF recognition (GA)."""

    TYPE = "ContinuousDtmfRecognitionToneReceived"
    data: ContinuousToneData


class ContinuousDtmfRecognitionToneFailed(Event):
    """Continuous DTMF recognition failed (GA)."""

    TYPE = "ContinuousDtmfRecognitionToneFailed"
    data: CallData


class ContinuousDtmfRecognitionStopped(Event):
    """Continuous DTMF recognition stopped (GA)."""

    TYPE = "ContinuousDtmfRecognitionStopped"
    data: CallData


class SendDtmfTonesCompleted(Event):
    """Sending DTMF tones completed (GA)."""

    TYPE = "SendDtmfTonesCompleted"
    data: CallData


class SendDtmfTonesFailed(Event):
    """Sending DTMF tones failed (GA)."""

    TYPE = "SendDtmfTonesFailed"
    data: CallData


class RecordingStateChanged(Event):
    """A recording started or stopped (GA)."""

    TYPE = "RecordingStateChanged"
    data: RecordingData


class MediaStreamingStarted(Event):
    """Media streaming started (GA)."""

    TYPE = "MediaStreamingStarted"
    data: MediaStreamingData


class MediaStreamingStopped(Event):
    """Media streaming stopped (GA)."""

    TYPE = "MediaStreamingStopped"
    data: MediaStreamingData


class MediaStreamingFailed(Event):
    """Media streaming failed (GA)."""

    TYPE = "MediaStreamingFailed"
    data: MediaStreamingData


class TranscriptionStarted(Event):
    """Transcription started (GA)."""

    TYPE = "TranscriptionStarted"
    data: TranscriptionData


class TranscriptionStopped(Event):
    """Transcription stopped (GA)."""

    TYPE = "TranscriptionStopped"
    data: TranscriptionData


class TranscriptionUpdated(Event):
    """Transcription status changed (GA)."""

    TYPE = "TranscriptionUpdated"
    data: TranscriptionData


class TranscriptionFailed(Event):
    """Transcription failed (GA)."""

    TYPE = "TranscriptionFailed"
    data: TranscriptionData


# --- Event Grid ------------------------------------------------------------------------------


class IncomingCall(Event):
    """A call to one of the resource's numbers or users, delivered by Event Grid."""

    TYPE = "IncomingCall"
    data: IncomingCallData


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
