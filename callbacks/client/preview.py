"""The 2021 API's call: the seed's operations, under the SDK's names and the seed's.

A call of the 2021 API (a ``callLegId``) knows five operations: PlayAudio, CancelMediaProcessing,
invite, remove a participant, and Hangup. :class:`CallLegConnection` offers them under the names
of Microsoft's GA SDK (``play_media``, ``play_media_to_all``, ``cancel_all_media_operations``,
``add_participant``, ``remove_participant``, ``hang_up``), so a handler reads the same whichever
API its call speaks, and under the seed's own names (``play_audio``, ...). A GA-only operation
raises :class:`UnsupportedOperation` naming the API version.

Paths: ``/calls/...`` (``2021-overview``, the seed's form) or
``/calling/calls/...?api-version=2021-04-15-preview1`` (``2021-04-15-preview1``), whose PlayAudio
names the audio id ``audioFileId`` where the seed says ``resourceId``. Every POST carries the
repeatability pair: the 2021 service de-duplicated them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NoReturn

from callbacks.client.models import (
    CancelMediaProcessingRequest,
    CreateCallRequest,
    InviteParticipantsRequest,
    MediaOperationResponse,
    PlayAudioRequest,
)
from callbacks.client.pipeline import Pipeline, parse, segment
from callbacks.client.sources import FileSource, PlaySource
from callbacks.client.versions import OVERVIEW_2021, PREVIEW_2021
from callbacks.identifiers import Identifier, identifier, optional_identifier

DEFAULT_CALL_EVENTS = ("participantsUpdated", "dtmfReceived")


class UnsupportedOperation(AttributeError):
    """A GA operation asked of a call of the 2021 API."""


def calls_path(version: str) -> str:
    """Where the 2021 API's calls live in ``version``."""
    return "/calling/calls" if version == PREVIEW_2021 else "/calls"


def create_call_body(
    source: Identifier | str,
    targets: Sequence[Identifier | str],
    callback_url: str,
    *,
    alternate_caller_id: Identifier | str | None = None,
    requested_call_events: Sequence[str] | None = None,
    subject: str | None = None,
) -> CreateCallRequest:
    """The body of the 2021 create-call request."""
    return CreateCallRequest(
        source=identifier(source),
        targets=[identifier(target) for target in targets],
        callback_uri=callback_url,
        requested_modalities=["audio"],
        requested_call_events=list(
            DEFAULT_CALL_EVENTS if requested_call_events is None else requested_call_events
        ),
        subject=subject,
        alternate_caller_id=optional_identifier(alternate_caller_id),
    )


def _audio_url(play_source: PlaySource | Sequence[PlaySource]) -> str:
    sources = [play_source] if not isinstance(play_source, Sequence) else list(play_source)
    if len(sources) != 1 or not isinstance(sources[0], FileSource):
        raise ValueError("the 2021 API plays one audio file: pass one FileSource")
    return sources[0].url


class CallLegConnection:
    """The operations of one call of the 2021 API."""

    __slots__ = ("_path", "_pipeline", "call_connection_id")

    def __init__(self, pipeline: Pipeline, call_connection_id: str) -> None:
        if pipeline.version not in (OVERVIEW_2021, PREVIEW_2021):
            raise ValueError(f"{pipeline.version} is not a 2021 API version")
        self._pipeline = pipeline
        self._path = f"{calls_path(pipeline.version)}/" + segment(
            call_connection_id, "call_connection_id"
        )
        self.call_connection_id = call_connection_id

    @property
    def call_id(self) -> str:
        """The call's id (the 2021 API calls it the call leg id)."""
        return self.call_connection_id

    @property
    def api_version(self) -> str:
        """The API version this call is addressed in."""
        return self._pipeline.version

    def __repr__(self) -> str:
        return (
            f"CallLegConnection(call_connection_id={self.call_connection_id!r}, "
            f"api_version={self.api_version!r})"
        )

    def __getattr__(self, name: str) -> NoReturn:
        from callbacks.client.connection import CallConnection  # the GA names, for the message

        if not name.startswith("_") and hasattr(CallConnection, name):
            raise UnsupportedOperation(
                f"{name} is an operation of GA Call Automation; this call uses the 2021 API "
                f"({self.api_version}), which has play_media, cancel_all_media_operations, "
                "add_participant, remove_participant and hang_up"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    async def play_media(
        self,
        play_source: PlaySource | Sequence[PlaySource],
        play_to: Literal["all"] = "all",
        *,
        loop: bool = False,
        operation_context: str | None = None,
    ) -> MediaOperationResponse:
        """Play one audio file to the call (PlayAudio); a PlayAudioResult event follows."""
        if play_to != "all":
            raise ValueError("the 2021 API plays to the whole call: leave play_to out")
        return await self.play_audio(
            _audio_url(play_source), loop=loop, operation_context=operation_context
        )

    async def play_media_to_all(
        self,
        play_source: PlaySource | Sequence[PlaySource],
        *,
        loop: bool = False,
        operation_context: str | None = None,
    ) -> MediaOperationResponse:
        """:meth:`play_media` to everyone."""
        return await self.play_media(play_source, loop=loop, operation_context=operation_context)

    async def cancel_all_media_operations(
        self, *, operation_context: str | None = None
    ) -> MediaOperationResponse | None:
        """Stop the running play (CancelMediaProcessing)."""
        return await self.cancel_media_processing(operation_context=operation_context)

    async def add_participant(
        self,
        target_participant: Identifier | str,
        *,
        operation_context: str | None = None,
        source_caller_id_number: Identifier | str | None = None,
    ) -> None:
        """Invite a participant; an InviteParticipantResult event reports the outcome."""
        await self.invite_participants(
            [target_participant], operation_context=operation_context,
            alternate_caller_id=source_caller_id_number,
        )

    async def hang_up(self, is_for_everyone: bool = True) -> None:
        """End the call (the 2021 API's Hangup ends it for everyone)."""
        await self.hangup()

    # -- the seed's names ------------------------------------------------------------------

    async def hangup(self) -> None:
        """End this call for everyone (Hangup)."""
        await self._pipeline.send("hang_up", "POST", f"{self._path}/Hangup", repeatable=True)

    async def play_audio(
        self,
        audio_file_uri: str,
        *,
        loop: bool = False,
        operation_context: str | None = None,
        resource_id: str | None = None,
    ) -> MediaOperationResponse:
        """Play a WAV (mono, 16-bit, 16 kHz) to the call; a PlayAudioResult event follows."""
        ids: dict[str, Any] = (
            {"audio_file_id": resource_id} if self.api_version == PREVIEW_2021
            else {"resource_id": resource_id}
        )
        body = PlayAudioRequest(audio_file_uri=audio_file_uri, loop=loop,
                                operation_context=operation_context, **ids)
        response = await self._pipeline.send("play_media", "POST", f"{self._path}/PlayAudio",
                                             body, repeatable=True)
        return parse(MediaOperationResponse, response)

    async def cancel_media_processing(
        self, *, operation_context: str | None = None
    ) -> MediaOperationResponse | None:
        """Stop the running play; it ends with a PlayAudioResult (code 400, subcode 8508)."""
        body = CancelMediaProcessingRequest(operation_context=operation_context)
        response = await self._pipeline.send(
            "cancel_all_media_operations", "POST", f"{self._path}/CancelMediaProcessing", body,
            repeatable=True,
        )
        if not response.content.strip():
            return None
        return parse(MediaOperationResponse, response)

    async def invite_participants(
        self,
        participants: Sequence[Identifier | str],
        *,
        operation_context: str | None = None,
        alternate_caller_id: Identifier | str | None = None,
    ) -> None:
        """Invite ``participants``; an InviteParticipantResult event reports the outcome."""
        body = InviteParticipantsRequest(
            participants=[identifier(p) for p in participants],
            operation_context=operation_context,
            alternate_caller_id=optional_identifier(alternate_caller_id),
        )
        await self._pipeline.send("add_participant", "POST", f"{self._path}/participants", body,
                                  repeatable=True)

    async def remove_participant(self, participant_id: str) -> None:
        """Remove a participant by the ``ParticipantId`` of a ParticipantsUpdated event."""
        path = f"{self._path}/participants/{segment(participant_id, 'participant_id')}"
        await self._pipeline.send("remove_participant", "DELETE", path)
