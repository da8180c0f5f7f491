"""Event models of GA Call Automation (2023 on): CloudEvents with camelCase data. No I/O."""

from __future__ import annotations

from callbacks.events.base import CallData, Event
from callbacks.events.data import (
    ContinuousToneData,
    FailedPlayData,
    InvitationData,
    MediaStreamingData,
    ParticipantData,
    RecognizeData,
    RecordingData,
    TranscriptionData,
    TransferAcceptedData,
)


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
