"""Event models of GA Call Automation (2023 on) for calls, participants and recordings: CloudEvents
with camelCase data. The media events (play, recognize, tones, streaming, transcription) are in
:mod:`callbacks.events.media`. No I/O.
"""

from __future__ import annotations

from callbacks.events.base import CallData, Event
from callbacks.events.data import (
    InvitationData,
    MoveParticipantData,
    ParticipantData,
    RecordingData,
    StartRecordingFailedData,
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


class MoveParticipantSucceeded(Event):
    """A participant was moved into this call from another (GA); ``data.from_call`` names it."""

    TYPE = "MoveParticipantSucceeded"
    data: MoveParticipantData


class MoveParticipantFailed(Event):
    """Moving a participant into this call failed (GA)."""

    TYPE = "MoveParticipantFailed"
    data: MoveParticipantData


class CancelAddParticipantSucceeded(Event):
    """A pending invitation was cancelled (GA)."""

    TYPE = "CancelAddParticipantSucceeded"
    data: InvitationData


class CancelAddParticipantFailed(Event):
    """Cancelling a pending invitation failed (GA)."""

    TYPE = "CancelAddParticipantFailed"
    data: InvitationData


class RecordingStateChanged(Event):
    """A recording started or stopped (GA)."""

    TYPE = "RecordingStateChanged"
    data: RecordingData


class StartRecordingFailed(Event):
    """A recording could not be started (GA)."""

    TYPE = "StartRecordingFailed"
    data: StartRecordingFailedData
