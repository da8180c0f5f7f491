"""Request bodies of the GA operations on calls, participants and recordings.

Field names are the wire's (camelCase), as Microsoft's SDK sends them; unknown fields are
ignored, as the service does. A missing or wrong field is a ``BadRequest`` (GA code 8523)
whose message names it: ``targets: field required``. Media bodies are in :mod:`.media_schemas`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from callbacks.emulator.schemas import absolute_url
from callbacks.identifiers import Identifier


class Body(BaseModel):
    """Base of every GA body: camelCase aliases, unknown fields ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class OperationBody(Body):
    """An operation context and a callback URL for this operation's events (all optional)."""

    operation_context: str | None = Field(default=None, alias="operationContext")
    operation_callback_uri: str | None = Field(default=None, alias="operationCallbackUri")

    @field_validator("operation_callback_uri")
    @classmethod
    def _check_override(cls, value: str | None) -> str | None:
        return None if value is None else absolute_url(value)


class CallIntelligence(Body):
    """``callIntelligenceOptions``."""

    cognitive_services_endpoint: str | None = Field(
        default=None, alias="cognitiveServicesEndpoint"
    )

    @field_validator("cognitive_services_endpoint")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        return None if value is None else absolute_url(value)


class StreamingOptions(Body):
    """``mediaStreamingOptions`` (websocket transport)."""

    transport_url: str | None = Field(default=None, alias="transportUrl")
    transport_type: str = Field(default="websocket", alias="transportType")
    content_type: str = Field(default="audio", alias="contentType")
    audio_channel_type: str = Field(default="mixed", alias="audioChannelType")
    start_media_streaming: bool = Field(default=False, alias="startMediaStreaming")


class TranscriptionOptions(Body):
    """``transcriptionOptions`` (websocket transport)."""

    transport_url: str | None = Field(default=None, alias="transportUrl")
    transport_type: str = Field(default="websocket", alias="transportType")
    locale: str = "en-US"
    start_transcription: bool = Field(default=False, alias="startTranscription")


class Setup(Body):
    """What create, answer and connect share: where callbacks go and the call's options."""

    callback_uri: str = Field(alias="callbackUri")
    operation_context: str | None = Field(default=None, alias="operationContext")
    call_intelligence_options: CallIntelligence | None = Field(
        default=None, alias="callIntelligenceOptions"
    )
    media_streaming_options: StreamingOptions | None = Field(
        default=None, alias="mediaStreamingOptions"
    )
    transcription_options: TranscriptionOptions | None = Field(
        default=None, alias="transcriptionOptions"
    )

    @field_validator("callback_uri")
    @classmethod
    def _check_callback(cls, value: str) -> str:
        return absolute_url(value)

    @property
    def cognitive_endpoint(self) -> str | None:
        """The cognitive services endpoint the call was set up with, if any."""
        options = self.call_intelligence_options
        return options.cognitive_services_endpoint if options else None


def _bare_user(value: Any) -> Any:
    # the wire gives an ACS user as a bare CommunicationUserIdentifierModel: {"id": ...}
    if isinstance(value, dict) and set(value) == {"id"}:
        return {"communicationUser": value}
    return value


class CreateCallBody(Setup):
    """``POST /calling/callConnections``."""

    targets: list[Identifier] = Field(min_length=1)
    source: Identifier | None = None
    source_caller_id_number: Identifier | None = Field(default=None, alias="sourceCallerIdNumber")
    source_display_name: str | None = Field(default=None, alias="sourceDisplayName")

    @field_validator("source", mode="before")
    @classmethod
    def _user(cls, value: Any) -> Any:
        return _bare_user(value)

    @field_validator("source_caller_id_number")
    @classmethod
    def _phone(cls, value: Identifier | None) -> Identifier | None:
        if value is not None and value.phone_number is None:
            raise ValueError("must be a phone number")
        return value


class AnswerBody(Setup):
    """``POST /calling/callConnections:answer``."""

    incoming_call_context: str = Field(alias="incomingCallContext", min_length=1)
    answered_by: Identifier | None = Field(default=None, alias="answeredBy")

    @field_validator("answered_by", mode="before")
    @classmethod
    def _user(cls, value: Any) -> Any:
        return _bare_user(value)


class RedirectBody(Body):
    """``POST /calling/callConnections:redirect``."""

    incoming_call_context: str = Field(alias="incomingCallContext", min_length=1)
    target: Identifier


class RejectBody(Body):
    """``POST /calling/callConnections:reject``."""

    incoming_call_context: str = Field(alias="incomingCallContext", min_length=1)
    call_reject_reason: Literal["none", "busy", "forbidden"] = Field(
        default="none", alias="callRejectReason"
    )


class CallLocator(Body):
    """A call to connect to or record: by server call id, group call id or room id."""

    kind: Literal["serverCallLocator", "groupCallLocator", "roomCallLocator"] | None = None
    server_call_id: str | None = Field(default=None, alias="serverCallId", min_length=1)
    group_call_id: str | None = Field(default=None, alias="groupCallId", min_length=1)
    room_id: str | None = Field(default=None, alias="roomId", min_length=1)

    @model_validator(mode="after")
    def _one_id(self) -> CallLocator:
        given = [v for v in (self.server_call_id, self.group_call_id, self.room_id) if v]
        if len(given) != 1:
            raise ValueError("give exactly one of serverCallId, groupCallId or roomId")
        return self

    @property
    def id(self) -> str:
        """The one id given."""
        return self.server_call_id or self.group_call_id or self.room_id or ""


class ConnectBody(Setup):
    """``POST /calling/callConnections:connect``."""

    call_locator: CallLocator = Field(alias="callLocator")


class TransferBody(OperationBody):
    """``POST /calling/callConnections/{id}:transferToParticipant``."""

    target_participant: Identifier = Field(alias="targetParticipant")
    transferee: Identifier | None = None


class AddBody(OperationBody):
    """``POST .../participants:add``."""

    participant_to_add: Identifier = Field(alias="participantToAdd")
    invitation_timeout: int | None = Field(
        default=None, alias="invitationTimeoutInSeconds", ge=1, le=180
    )
    source_caller_id_number: Identifier | None = Field(default=None, alias="sourceCallerIdNumber")


class RemoveBody(OperationBody):
    """``POST .../participants:remove``."""

    participant_to_remove: Identifier = Field(alias="participantToRemove")


class CancelAddBody(OperationBody):
    """``POST .../participants:cancelAddParticipant``."""

    invitation_id: str = Field(alias="invitationId", min_length=1)


class MoveBody(OperationBody):
    """``POST .../participants:moveHere``."""

    target_participants: list[Identifier] = Field(alias="targetParticipants", min_length=1)
    from_call: str = Field(alias="fromCall", min_length=1)


class MuteBody(OperationBody):
    """``POST .../participants:mute``: one participant, as the service allows."""

    target_participants: list[Identifier] = Field(
        alias="targetParticipants", min_length=1, max_length=1
    )


class StartRecordingBody(Body):
    """``POST /calling/recordings``."""

    call_locator: CallLocator | None = Field(default=None, alias="callLocator")
    call_connection_id: str | None = Field(default=None, alias="callConnectionId")
    recording_state_callback_uri: str | None = Field(
        default=None, alias="recordingStateCallbackUri"
    )
    recording_content_type: Literal["audio", "audioVideo"] = Field(
        default="audio", alias="recordingContentType"
    )
    recording_channel_type: Literal["mixed", "unmixed"] = Field(
        default="mixed", alias="recordingChannelType"
    )
    recording_format_type: Literal["wav", "mp3", "mp4"] = Field(
        default="wav", alias="recordingFormatType"
    )
    pause_on_start: bool = Field(default=False, alias="pauseOnStart")

    @field_validator("recording_state_callback_uri")
    @classmethod
    def _check_callback(cls, value: str | None) -> str | None:
        return None if value is None else absolute_url(value)

    @model_validator(mode="after")
    def _one_call(self) -> StartRecordingBody:
        if (self.call_locator is None) == (self.call_connection_id is None):
            raise ValueError("give exactly one of callLocator or callConnectionId")
        return self
