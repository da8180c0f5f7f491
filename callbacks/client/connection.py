"""One call's operations: Microsoft's ``CallConnectionClient``, ours :class:`CallConnection`.

Get one from :meth:`CallAutomationClient.get_call_connection
<callbacks.client.automation.CallAutomationClient.get_call_connection>`; a handler's is
``ctx.call``. The call's state and participants are here, its media (play, recognize, DTMF,
hold, streaming, transcription) in :class:`~callbacks.client.media.CallMedia`, which this class
extends. Method and keyword names are the SDK's. Operations the service de-duplicates (hang up
for everyone, transfer, add, remove, cancel add, move, mute) carry the repeatability pair.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from callbacks.client.media import CallMedia
from callbacks.client.models import (
    AddParticipantResult,
    CallConnectionProperties,
    CallParticipant,
    CancelAddParticipantOperationResult,
    MoveParticipantsResult,
    MuteParticipantResult,
    ParticipantsPage,
    RemoveParticipantResult,
    TransferCallResult,
)
from callbacks.client.pipeline import parse, segment
from callbacks.identifiers import Identifier, identifier, phone_number


def _custom_context(
    sip_headers: Mapping[str, str] | None, voip_headers: Mapping[str, str] | None
) -> dict[str, Any] | None:
    if not sip_headers and not voip_headers:
        return None
    context: dict[str, Any] = {}
    if voip_headers is not None:
        context["voipHeaders"] = dict(voip_headers)
    if sip_headers is not None:
        context["sipHeaders"] = dict(sip_headers)
    return context


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


class CallConnection(CallMedia):
    """The operations of one call of GA Call Automation."""

    __slots__ = ()

    async def get_call_properties(self) -> CallConnectionProperties:
        """The call's current properties."""
        response = await self._pipeline.send("get_call_properties", "GET", self._path)
        return parse(CallConnectionProperties, response)

    async def hang_up(self, is_for_everyone: bool) -> None:
        """Leave the call (``False``), or end it for every participant (``True``)."""
        if is_for_everyone:
            await self._pipeline.send("hang_up", "POST", f"{self._path}:terminate",
                                      repeatable=True)
        else:
            await self._pipeline.send("hang_up", "DELETE", self._path)

    async def list_participants(self) -> list[CallParticipant]:
        """Every participant of the call (all pages)."""
        participants: list[CallParticipant] = []
        path = f"{self._path}/participants"
        while True:
            page = parse(ParticipantsPage,
                         await self._pipeline.send("list_participants", "GET", path))
            participants.extend(page.value)
            if not page.next_link:
                return participants
            path = self._next_page(page.next_link)

    def _next_page(self, link: str) -> str:
        endpoint = self._pipeline.endpoint
        path = link[len(endpoint):] if link.startswith(endpoint) else link
        return path.partition("?")[0]

    async def get_participant(self, target_participant: Identifier | str) -> CallParticipant:
        """One participant of the call."""
        raw_id = segment(identifier(target_participant).raw_id, "target_participant")
        response = await self._pipeline.send(
            "get_participant", "GET", f"{self._path}/participants/{raw_id}"
        )
        return parse(CallParticipant, response)

    async def add_participant(
        self,
        target_participant: Identifier | str,
        *,
        invitation_timeout: int | None = None,
        operation_context: str | None = None,
        source_caller_id_number: Identifier | str | None = None,
        source_display_name: str | None = None,
        operation_callback_url: str | None = None,
        sip_headers: Mapping[str, str] | None = None,
        voip_headers: Mapping[str, str] | None = None,
    ) -> AddParticipantResult:
        """Invite a participant; AddParticipantSucceeded or AddParticipantFailed follows."""
        body = _compact({
            "sourceCallerIdNumber": phone_number(source_caller_id_number),
            "sourceDisplayName": source_display_name,
            "participantToAdd": identifier(target_participant).to_wire(),
            "invitationTimeoutInSeconds": invitation_timeout,
            "operationContext": operation_context,
            "operationCallbackUri": operation_callback_url,
            "customCallingContext": _custom_context(sip_headers, voip_headers),
        })
        response = await self._pipeline.send(
            "add_participant", "POST", f"{self._path}/participants:add", body, repeatable=True
        )
        return parse(AddParticipantResult, response)

    async def remove_participant(
        self,
        target_participant: Identifier | str,
        *,
        operation_context: str | None = None,
        operation_callback_url: str | None = None,
    ) -> RemoveParticipantResult:
        """Remove a participant; RemoveParticipantSucceeded or ...Failed follows."""
        body = _compact({
            "participantToRemove": identifier(target_participant).to_wire(),
            "operationContext": operation_context,
            "operationCallbackUri": operation_callback_url,
        })
        response = await self._pipeline.send(
            "remove_participant", "POST", f"{self._path}/participants:remove", body,
            repeatable=True,
        )
        return parse(RemoveParticipantResult, response)

    async def cancel_add_participant_operation(
        self,
        invitation_id: str,
        *,
        operation_context: str | None = None,
        operation_callback_url: str | None = None,
    ) -> CancelAddParticipantOperationResult:
        """Withdraw an invitation still ringing; CancelAddParticipantSucceeded follows."""
        body = _compact({"invitationId": invitation_id, "operationContext": operation_context,
                         "operationCallbackUri": operation_callback_url})
        response = await self._pipeline.send(
            "cancel_add_participant_operation", "POST",
            f"{self._path}/participants:cancelAddParticipant", body, repeatable=True,
        )
        return parse(CancelAddParticipantOperationResult, response)

    async def move_participants(
        self,
        target_participants: Sequence[Identifier | str],
        from_call_id: str,
        *,
        operation_context: str | None = None,
        operation_callback_url: str | None = None,
    ) -> MoveParticipantsResult:
        """Move participants of another call (``from_call_id``) into this one."""
        body = _compact({
            "targetParticipants": [identifier(p).to_wire() for p in target_participants],
            "operationContext": operation_context,
            "fromCall": from_call_id,
            "operationCallbackUri": operation_callback_url,
        })
        response = await self._pipeline.send(
            "move_participants", "POST", f"{self._path}/participants:moveHere", body,
            repeatable=True,
        )
        return parse(MoveParticipantsResult, response)

    async def mute_participant(
        self, target_participant: Identifier | str, *, operation_context: str | None = None
    ) -> MuteParticipantResult:
        """Mute a participant."""
        body = _compact({"targetParticipants": [identifier(target_participant).to_wire()],
                         "operationContext": operation_context})
        response = await self._pipeline.send(
            "mute_participant", "POST", f"{self._path}/participants:mute", body, repeatable=True
        )
        return parse(MuteParticipantResult, response)

    async def transfer_call_to_participant(
        self,
        target_participant: Identifier | str,
        *,
        operation_context: str | None = None,
        operation_callback_url: str | None = None,
        transferee: Identifier | str | None = None,
        sip_headers: Mapping[str, str] | None = None,
        voip_headers: Mapping[str, str] | None = None,
        source_caller_id_number: Identifier | str | None = None,
    ) -> TransferCallResult:
        """Transfer the call; CallTransferAccepted (this leg then ends) or ...Failed follows."""
        body = _compact({
            "targetParticipant": identifier(target_participant).to_wire(),
            "operationContext": operation_context,
            "operationCallbackUri": operation_callback_url,
            "transferee": _wire(transferee),
            "customCallingContext": _custom_context(sip_headers, voip_headers),
            "sourceCallerIdNumber": phone_number(source_caller_id_number),
        })
        response = await self._pipeline.send(
            "transfer_call_to_participant", "POST", f"{self._path}:transferToParticipant", body,
            repeatable=True,
        )
        return parse(TransferCallResult, response)


def _wire(value: Identifier | str | None) -> dict[str, Any] | None:
    return None if value is None else identifier(value).to_wire()
