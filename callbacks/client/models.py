"""Request and response bodies of the seed's REST operations (camelCase on the wire).

Identifiers go out in the shape :meth:`Identifier.to_wire` gives; fields left ``None`` are not
sent. Responses ignore keys they do not know, so a newer service does not break an older client.
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


class CreateCallResult(_Answer):
    """Answer of create-call: the new call's leg id, used in every later request."""

    call_leg_id: str = Field(
        validation_alias=AliasChoices("callLegId", "callConnectionId")
    )


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
