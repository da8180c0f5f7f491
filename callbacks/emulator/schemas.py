"""Request bodies of the seed's REST operations, validated into models.

Field names are the wire's (camelCase). Unknown fields are ignored, as the service does; a
missing or wrong field is a :class:`BadRequest` whose message names it (``targets: field
required``, ``targets[0]: an identifier needs ...``).
"""

from __future__ import annotations

import json
from typing import TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from callbacks.emulator.errors import BadRequest
from callbacks.emulator.validation import first_error
from callbacks.identifiers import Identifier

MODALITIES = frozenset({"audio", "video"})
CALL_EVENTS = frozenset({"participantsupdated", "dtmfreceived"})

M = TypeVar("M", bound=BaseModel)


def absolute_url(value: str) -> str:
    """``value`` if it is an absolute http(s) URL; ``ValueError`` otherwise."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL")
    return value


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CreateCallBody(_Body):
    """``POST /calls``."""

    targets: list[Identifier] = Field(min_length=1)
    source: Identifier | None = None
    subject: str | None = None
    callback_uri: str = Field(alias="callbackUri")
    requested_modalities: list[str] = Field(
        default_factory=lambda: ["audio"], alias="requestedModalities"
    )
    requested_call_events: list[str] = Field(default_factory=list, alias="requestedCallEvents")
    alternate_caller_id: Identifier | None = Field(default=None, alias="alternateCallerId")

    @field_validator("callback_uri")
    @classmethod
    def _check_callback(cls, value: str) -> str:
        return absolute_url(value)

    @field_validator("requested_modalities")
    @classmethod
    def _known_modalities(cls, value: list[str]) -> list[str]:
        for item in value:
            if item.lower() not in MODALITIES:
                raise ValueError(f"unknown modality {item!r}: use audio or video")
        return value

    @field_validator("requested_call_events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        for item in value:
            if item.lower() not in CALL_EVENTS:
                raise ValueError(f"unknown event {item!r}: use participantsUpdated or dtmfReceived")
        return value


class PlayAudioBody(_Body):
    """``POST /calls/{callId}/PlayAudio``; ``resourceId`` (seed) and ``audioFileId`` (2021)."""

    audio_file_uri: str = Field(alias="audioFileUri")
    loop: bool = Field(default=False, strict=True)
    operation_context: str | None = Field(default=None, alias="operationContext")
    resource_id: str | None = Field(default=None, alias="resourceId")
    audio_file_id: str | None = Field(default=None, alias="audioFileId")

    @field_validator("audio_file_uri")
    @classmethod
    def _check_uri(cls, value: str) -> str:
        return absolute_url(value)


class CancelMediaBody(_Body):
    """``POST /calls/{callId}/CancelMediaProcessing``."""

    operation_context: str | None = Field(default=None, alias="operationContext")


class InviteBody(_Body):
    """``POST /calls/{callId}/participants``."""

    participants: list[Identifier] = Field(min_length=1)
    operation_context: str | None = Field(default=None, alias="operationContext")
    alternate_caller_id: Identifier | None = Field(default=None, alias="alternateCallerId")
    callback_uri: str | None = Field(default=None, alias="callbackUri")

    @field_validator("callback_uri")
    @classmethod
    def _check_callback(cls, value: str | None) -> str | None:
        return None if value is None else absolute_url(value)


class EmptyBody(_Body):
    """Hangup: no fields, but a body, when sent, must still be a JSON object."""


def parse_body(model: type[M], body: bytes, *, allow_empty: bool = False) -> M:
    """Decode and validate ``body`` as ``model``; :class:`BadRequest` names the bad field."""
    if not body.strip():
        if not allow_empty:
            raise BadRequest("body: a JSON object is required")
        body = b"{}"
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"body: not valid JSON ({exc.msg} at position {exc.pos})") from None
    except UnicodeDecodeError:
        raise BadRequest("body: not valid UTF-8") from None
    if not isinstance(data, dict):
        raise BadRequest("body: expected a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(first_error(exc)) from None
