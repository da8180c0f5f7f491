"""One call's operations: Microsoft's ``CallConnectionClient``, ours ``CallConnection``.

Get one from :meth:`CallAutomationClient.get_call_connection
<callbacks.client.automation.CallAutomationClient.get_call_connection>`; a handler's is
``ctx.call``. It sends through its client's pipeline (pool, signing, retries, repeatability ids).
"""

from __future__ import annotations

from collections.abc import Sequence

from callbacks.client.models import (
    CancelMediaProcessingRequest,
    InviteParticipantsRequest,
    MediaOperationResponse,
    PlayAudioRequest,
)
from callbacks.client.pipeline import Pipeline, parse, segment
from callbacks.identifiers import Identifier, identifier, optional_identifier


class CallConnection:
    """The operations of one call (the seed's call leg)."""

    __slots__ = ("_path", "_pipeline", "call_connection_id")

    def __init__(self, pipeline: Pipeline, call_connection_id: str) -> None:
        self._path = "/" + segment(call_connection_id, "call_connection_id")
        self._pipeline = pipeline
        self.call_connection_id = call_connection_id

    @property
    def call_id(self) -> str:
        """The call's id (the seed calls it the call leg id)."""
        return self.call_connection_id

    def __repr__(self) -> str:
        return (
            f"CallConnection(call_connection_id={self.call_connection_id!r}, "
            f"endpoint={self._pipeline.endpoint!r})"
        )

    async def hangup(self) -> None:
        """End this call for everyone."""
        await self._pipeline.send("POST", f"{self._path}/Hangup", None)

    async def play_audio(
        self,
        audio_file_uri: str,
        *,
        loop: bool = False,
        operation_context: str | None = None,
        resource_id: str | None = None,
    ) -> MediaOperationResponse:
        """Play a WAV (mono, 16-bit, 16 kHz) to the call; a PlayAudioResult event follows."""
        if self._pipeline.style == "2021":
            body = PlayAudioRequest(
                audio_file_uri=audio_file_uri, loop=loop,
                operation_context=operation_context, audio_file_id=resource_id,
            )
        else:
            body = PlayAudioRequest(
                audio_file_uri=audio_file_uri, loop=loop,
                operation_context=operation_context, resource_id=resource_id,
            )
        response = await self._pipeline.send("POST", f"{self._path}/PlayAudio", body)
        return parse(MediaOperationResponse, response)

    async def cancel_media_processing(
        self, *, operation_context: str | None = None
    ) -> MediaOperationResponse | None:
        """Stop the running play; it ends with a PlayAudioResult (code 400, subcode 8508)."""
        body = CancelMediaProcessingRequest(operation_context=operation_context)
        response = await self._pipeline.send("POST", f"{self._path}/CancelMediaProcessing", body)
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
        await self._pipeline.send("POST", f"{self._path}/participants", body)

    async def remove_participant(self, participant_id: str) -> None:
        """Remove a participant by the ``ParticipantId`` of a ParticipantsUpdated event."""
        path = f"{self._path}/participants/{segment(participant_id, 'participant_id')}"
        await self._pipeline.send("DELETE", path, None)
