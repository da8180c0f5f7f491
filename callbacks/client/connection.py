"""The REST client bound to one call, as handlers see it through ``ctx.call``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from callbacks.client.models import MediaOperationResponse
from callbacks.identifiers import Identifier

if TYPE_CHECKING:
    from callbacks.client.automation import CallAutomationClient


class CallConnection:
    """The client bound to one call: the operations without their ``call_id`` argument."""

    __slots__ = ("call_id", "client")

    def __init__(self, client: CallAutomationClient, call_id: str) -> None:
        if not isinstance(call_id, str) or not call_id:
            raise ValueError("call_id must be a non-empty string")
        self.client = client
        self.call_id = call_id

    def __repr__(self) -> str:
        return f"CallConnection(call_id={self.call_id!r}, client={self.client!r})"

    async def hangup(self) -> None:
        """End this call for everyone."""
        await self.client.hangup(self.call_id)

    async def play_audio(
        self,
        audio_file_uri: str,
        *,
        loop: bool = False,
        operation_context: str | None = None,
        resource_id: str | None = None,
    ) -> MediaOperationResponse:
        """Play a WAV to this call (see :meth:`CallAutomationClient.play_audio`)."""
        return await self.client.play_audio(
            self.call_id, audio_file_uri, loop=loop,
            operation_context=operation_context, resource_id=resource_id,
        )

    async def cancel_media_processing(
        self, *, operation_context: str | None = None
    ) -> MediaOperationResponse | None:
        """Stop the media operation running in this call."""
        return await self.client.cancel_media_processing(
            self.call_id, operation_context=operation_context
        )

    async def invite_participants(
        self,
        participants: Sequence[Identifier | str],
        *,
        operation_context: str | None = None,
        alternate_caller_id: Identifier | str | None = None,
    ) -> None:
        """Invite ``participants`` into this call."""
        await self.client.invite_participants(
            self.call_id, participants,
            operation_context=operation_context, alternate_caller_id=alternate_caller_id,
        )

    async def remove_participant(self, participant_id: str) -> None:
        """Remove a participant of this call."""
        await self.client.remove_participant(self.call_id, participant_id)
