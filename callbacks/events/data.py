"""The ``data`` of each event type: PascalCase (2021) and camelCase (later) keys, snake_case
attributes. No I/O here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

from callbacks.events.base import (
    CallData,
    CallStateValue,
    OperationStatusValue,
    Participant,
    RecordingStateValue,
    ToneInfo,
    ToneValue,
    WireModel,
)
from callbacks.identifiers import Identifier


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

    @property
    def identifiers(self) -> list[Identifier]:
        """Each participant's identifier, in list order, whichever dialect listed them."""
        return [participant.identifier for participant in self.participants]


class RecordingData(CallData):
    """Recording state (2021 / callingserver / GA)."""

    REQUIRES_CALL: ClassVar[bool] = False

    recording_id: str | None = None
    state: RecordingStateValue
    start_date_time: datetime | None = None
    conversation_id: str | None = None
    recording_kind: str | None = None


class StartRecordingFailedData(CallData):
    """``StartRecordingFailed`` data (GA); keyed by server call, it may lack callConnectionId."""

    REQUIRES_CALL: ClassVar[bool] = False

    recording_id: str | None = None


class TransferAcceptedData(CallData):
    """``CallTransferAccepted`` data (GA)."""

    transfer_target: Identifier | None = None
    transferee: Identifier | None = None


class ParticipantData(CallData):
    """Add/remove participant outcome (GA)."""

    participant: Identifier | None = None


class MoveParticipantData(ParticipantData):
    """Move-participant outcome (GA): who moved, and the call connection they came from."""

    from_call: str | None = None


class InvitationData(CallData):
    """Cancel-add-participant outcome (GA)."""

    invitation_id: str | None = None


class FailedPlayData(CallData):
    """``PlayFailed`` / ``RecognizeFailed`` data (GA)."""

    failed_play_source_index: int | None = None


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


class CallSummaryData(TranscriptionData):
    """``TranscriptionCallSummaryUpdated`` data (GA); may come without a call connection id."""

    REQUIRES_CALL: ClassVar[bool] = False


class IncomingCallData(CallData):
    """``IncomingCall`` data (Event Grid); not part of any call connection yet."""

    REQUIRES_CALL: ClassVar[bool] = False

    to: Identifier
    from_: Identifier = Field(validation_alias="from")
    caller_display_name: str | None = None
    incoming_call_context: str


class RecordingChunk(WireModel):
    """One stored chunk of a recording: where to download its content and metadata."""

    document_id: str | None = None
    index: int | None = None
    end_reason: str | None = None
    content_location: str | None = None
    metadata_location: str | None = None
    delete_location: str | None = None


class RecordingStorageInfo(WireModel):
    """Where a finished recording is stored, chunk by chunk."""

    recording_chunks: list[RecordingChunk] = Field(default_factory=list)


class RecordingFileData(WireModel):
    """``RecordingFileStatusUpdated`` data (Event Grid): a recording's files are ready."""

    recording_storage_info: RecordingStorageInfo
    recording_start_time: datetime | None = None
    recording_duration_ms: int | None = None
    recording_content_type: str | None = None
    recording_channel_type: str | None = None
    recording_format_type: str | None = None
    session_end_reason: str | None = None
    recording_id: str | None = None
    storage_type: str | None = None


class SubscriptionValidationData(WireModel):
    """Event Grid's subscription handshake."""

    validation_code: str
    validation_url: str | None = None
