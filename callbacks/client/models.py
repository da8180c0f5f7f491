"""Request and response bodies of the REST operations (camelCase on the wire).

The 2021 operations' request bodies are models here (:class:`RequestBody`); the GA operations
build theirs where they are sent. Identifiers go out in the shape :meth:`Identifier.to_wire`
gives; fields left ``None`` are not sent. Answers ignore keys they do not know, so a newer
service does not break an older client; their names are the SDK's (``CallConnectionProperties``,
``AddParticipantResult``, ...).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, AliasGenerator, BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

from callbacks.identifiers import Identifier


def _to_wire(identifier: Identifier) -> dict[str, Any]:
    return identifier.to_wire()


WireIdentifier = Annotated[Identifier, PlainSerializer(_to_wire)]
"""An :class:`Identifier` (or anything it accepts, e.g. a raw id) sent as the API expects."""


class RequestBody(BaseModel):
    """Base of request bodies: serialised with camelCase names, ``None`` fields left out."""

    # Built by our own code with Python names, sent with camelCase ones.
    model_config = ConfigDict(
        alias_generator=AliasGenerator(serialization_alias=to_camel), frozen=True
    )

    def to_json(self) -> bytes:
        """The request body: camelCase keys, ``None`` fields left out."""
        return self.__pydantic_serializer__.to_json(self, by_alias=True, exclude_none=True)


class CreateCallRequest(RequestBody):
    """Body of ``POST /calls``."""

    source: WireIdentifier
    targets: list[WireIdentifier]
    callback_uri: str
    requested_modalities: list[str]
    requested_call_events: list[str]
    subject: str | None = None
    alternate_caller_id: WireIdentifier | None = None


class PlayAudioRequest(RequestBody):
    """Body of ``POST /calls/{callId}/PlayAudio``; ``audio_file_id`` is the 2021 name of the id."""

    audio_file_uri: str
    loop: bool = False
    operation_context: str | None = None
    resource_id: str | None = None
    audio_file_id: str | None = None


class CancelMediaProcessingRequest(RequestBody):
    """Body of ``POST /calls/{callId}/CancelMediaProcessing``."""

    operation_context: str | None = None


class InviteParticipantsRequest(RequestBody):
    """Body of ``POST /calls/{callId}/participants``."""

    participants: list[WireIdentifier]
    operation_context: str | None = None
    alternate_caller_id: WireIdentifier | None = None


class _Answer(BaseModel):
    # Read from the wire by camelCase names; unknown keys from a newer service are ignored.
    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=to_camel), extra="ignore", frozen=True
    )


class CallConnectionProperties(_Answer):
    """A call as the service describes it (create, answer, connect, get call properties).

    For a call of the 2021 API only ``call_connection_id`` (its call leg id) is known.
    """

    call_connection_id: str = Field(
        validation_alias=AliasChoices("callConnectionId", "callLegId")
    )
    server_call_id: str | None = None
    call_connection_state: str | None = None
    callback_uri: str | None = None
    targets: list[Identifier] = Field(default_factory=list)
    source: Identifier | None = None
    source_caller_id_number: Identifier | None = None
    source_display_name: str | None = None
    correlation_id: str | None = None
    answered_by: Identifier | None = None

    @property
    def call_leg_id(self) -> str:
        """The 2021 name of :attr:`call_connection_id`."""
        return self.call_connection_id


CreateCallResult = CallConnectionProperties
"""The earlier name of what ``create_call`` answers."""


class CallParticipant(_Answer):
    """A participant of a call."""

    identifier: Identifier
    is_muted: bool = False
    is_on_hold: bool = False


class OperationResult(_Answer):
    """The answer of an operation whose result arrives later as a callback."""

    operation_context: str | None = None


class AddParticipantResult(OperationResult):
    """Answer of ``add_participant``: the invitation, before the callee answers."""

    participant: CallParticipant | None = None
    invitation_id: str | None = None


class RemoveParticipantResult(OperationResult):
    """Answer of ``remove_participant``."""


class TransferCallResult(OperationResult):
    """Answer of ``transfer_call_to_participant``."""


class CancelAddParticipantOperationResult(OperationResult):
    """Answer of ``cancel_add_participant_operation``."""

    invitation_id: str | None = None


class MoveParticipantsResult(OperationResult):
    """Answer of ``move_participants``."""

    participants: list[CallParticipant] = Field(default_factory=list)
    from_call: str | None = None


class MuteParticipantResult(OperationResult):
    """Answer of ``mute_participant``."""


class SendDtmfTonesResult(OperationResult):
    """Answer of ``send_dtmf_tones``."""


class RecordingProperties(_Answer):
    """A recording: ``start_recording`` and ``get_recording_properties`` answer it."""

    recording_id: str
    recording_state: str | None = None
    recording_kind: str | None = None


class ParticipantsPage(_Answer):
    """One page of ``list_participants``."""

    value: list[CallParticipant] = Field(default_factory=list)
    next_link: str | None = None


class ResultInfo(_Answer):
    """Outcome detail of a media operation (``code``, ``subcode``, ``message``)."""

    code: int | None = None
    subcode: int | None = None
    message: str | None = None


class MediaOperationResponse(_Answer):
    """The 202 body of PlayAudio and CancelMediaProcessing."""

    id: str | None = None
    status: str
    operation_context: str | None = None
    result_info: ResultInfo | None = None
