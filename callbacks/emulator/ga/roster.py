"""Operations on the participants of a GA call: add, cancel an add, remove, move, mute,
transfer, hold and unhold, send DTMF.

Each checks the call is up and the participants named are in it (404/8522 otherwise), acts,
and posts its events with the request's ``operationContext``, to the request's
``operationCallbackUri`` when it gave one:

- add: the invitee rings as its script says; AddParticipantSucceeded + ParticipantsUpdated, or
  AddParticipantFailed (603 declined, 486 busy, 487/10004 no answer within
  ``invitationTimeoutInSeconds``, default the ring timeout);
- cancel an add: CancelAddParticipantSucceeded and AddParticipantFailed (487/8542) while it
  rings, CancelAddParticipantFailed once it was answered or failed;
- remove: RemoveParticipantSucceeded + ParticipantsUpdated (the call ends with the last one);
- move: each participant leaves the other call (ParticipantsUpdated there) and joins this one:
  MoveParticipantSucceeded (or MoveParticipantFailed when it is not in the other call);
- transfer: the target rings; on its answer CallTransferAccepted and this leg's
  CallDisconnected, otherwise CallTransferFailed;
- mute, hold, unhold: ParticipantsUpdated (hold with music: HoldAudioStarted, then
  HoldAudioCompleted on unhold);
- send DTMF: SendDtmfTonesCompleted once every tone went, SendDtmfTonesFailed if the target
  left first.
"""

from __future__ import annotations

import uuid

from callbacks.emulator.errors import BadRequest, NotFound
from callbacks.emulator.ga import codes, ringing
from callbacks.emulator.ga.connection import Connection, ConnectionState
from callbacks.emulator.ga.media_schemas import HoldBody, ParticipantBody, SendDtmfBody
from callbacks.emulator.ga.party import Party, PartyState, Role
from callbacks.emulator.ga.schemas import (
    AddBody,
    CancelAddBody,
    MoveBody,
    MuteBody,
    RemoveBody,
    TransferBody,
)
from callbacks.emulator.ga.wire import identifier_ga
from callbacks.emulator.scenario import Scenario


def add(call: Connection, body: AddBody, scenario: Scenario) -> Party:
    """Ring a new participant; its answer or refusal is posted later."""
    call.require_connected()
    identifier = body.participant_to_add
    if any(p.identifier == identifier and (p.ringing or p.connected) for p in call.parties):
        raise BadRequest(f"participantToAdd: {identifier.raw_id} is already in the call")
    party = Party(
        identifier, scenario.script_for(identifier), Role.INVITEE,
        invitation_id=str(uuid.uuid4()), operation_context=body.operation_context,
        callback_uri=body.operation_callback_uri,
    )
    timeout = body.invitation_timeout
    ringing.ring(call, party, None if timeout is None else timeout * call.config.timeout_scale)
    return party


def cancel_add(call: Connection, body: CancelAddBody) -> None:
    """Stop ringing an invitee."""
    call.require_connected()
    party = next((p for p in call.parties if p.invitation_id == body.invitation_id), None)
    if party is None:
        raise NotFound(
            f"invitationId: no invitation {body.invitation_id} in this call", code="8522"
        )
    fields = {"invitationId": body.invitation_id}
    context, url = body.operation_context, body.operation_callback_uri
    if not party.ringing:
        result = codes.Result(400, 8523, f"The invitation is no longer ringing ({party.state}).")
        call.emit("CancelAddParticipantFailed", fields, operation_context=context, result=result,
                  url=url)
        return
    call.emit("CancelAddParticipantSucceeded", fields, operation_context=context,
              result=codes.COMPLETED, url=url)
    ringing.refused(call, party, PartyState.CANCELED, codes.INVITATION_CANCELED)


def remove(call: Connection, body: RemoveBody) -> None:
    """Take a participant out of the call."""
    call.require_connected()
    party = call.party(body.participant_to_remove, field="participantToRemove")
    call.emit(
        "RemoveParticipantSucceeded", {"participant": party.identifier_wire()},
        operation_context=body.operation_context, result=codes.COMPLETED,
        url=body.operation_callback_uri,
    )
    call.leave(party, PartyState.REMOVED)


def move(call: Connection, source: Connection, body: MoveBody) -> None:
    """Move participants of ``source`` into ``call``."""
    call.require_connected()
    if source is call:
        raise BadRequest("fromCall: a call cannot move participants from itself")
    source.require_connected()
    context, url = body.operation_context, body.operation_callback_uri
    fields = {"fromCall": body.from_call}
    moved = False
    for identifier in body.target_participants:
        party = next(
            (p for p in source.parties if p.connected and p.identifier == identifier), None
        )
        wire = {**fields, "participant": identifier_ga(identifier)}
        if party is None:
            call.emit("MoveParticipantFailed", wire, operation_context=context,
                      result=codes.NOT_IN_CALL, url=url)
            continue
        source.leave(party, PartyState.MOVED)
        arrived = Party(identifier, party.script, Role.MOVED_IN, PartyState.CONNECTED,
                        muted=party.muted)
        call.parties.append(arrived)
        call.emit("MoveParticipantSucceeded", wire, operation_context=context,
                  result=codes.COMPLETED, url=url)
        moved = True
    if moved:
        call.participants_updated()


def mute(call: Connection, body: MuteBody) -> None:
    """Mute one participant."""
    call.require_connected()
    party = call.party(body.target_participants[0], field="targetParticipants[0]")
    if not party.muted:
        party.muted = True
        call.participants_updated()


def transfer(call: Connection, body: TransferBody, scenario: Scenario) -> None:
    """Ring the transfer target on behalf of the transferee."""
    call.require_connected()
    if call.state is ConnectionState.TRANSFERRING:
        raise BadRequest("a transfer is already in progress in this call", code="8607")
    connected = [p for p in call.parties if p.connected]
    if body.transferee is not None:
        transferee = call.party(body.transferee, field="transferee").identifier
    elif len(connected) == 1:
        transferee = connected[0].identifier
    else:
        raise BadRequest("transferee: required when the call has more than one participant")
    target = body.target_participant
    call.state = ConnectionState.TRANSFERRING
    party = Party(
        target, scenario.script_for(target), Role.TRANSFER_TARGET,
        operation_context=body.operation_context, callback_uri=body.operation_callback_uri,
        transferee=transferee,
    )
    ringing.ring(call, party)


def hold(call: Connection, body: HoldBody) -> None:
    """Put a participant on hold, with music if the request gives a source."""
    call.require_connected()
    party = call.party(body.target_participant, field="targetParticipant")
    source = body.play_source
    if source is not None and source.needs_cognitive_services:
        call.require_cognitive_services()
    if party.on_hold:
        return
    party.on_hold = True
    call.participants_updated()
    if source is not None:
        call.emit("HoldAudioStarted", {}, operation_context=body.operation_context,
                  result=codes.STARTED, url=body.operation_callback_uri)
        party.holding_music = True


def unhold(call: Connection, body: ParticipantBody) -> None:
    """Take a participant off hold."""
    call.require_connected()
    party = call.party(body.target_participant, field="targetParticipant")
    if not party.on_hold:
        return
    party.on_hold = False
    if party.holding_music:
        party.holding_music = False
        call.emit("HoldAudioCompleted", {}, operation_context=body.operation_context,
                  result=codes.COMPLETED, url=body.operation_callback_uri)
    call.participants_updated()


def send_dtmf(call: Connection, body: SendDtmfBody) -> None:
    """Send tones to a participant; the outcome is posted once they all went."""
    call.require_connected()
    party = call.party(body.target_participant, field="targetParticipant")
    context, url = body.operation_context, body.operation_callback_uri

    def sent() -> None:
        if party.connected:
            call.emit("SendDtmfTonesCompleted", {}, operation_context=context,
                      result=codes.COMPLETED, url=url)
        else:
            call.emit("SendDtmfTonesFailed", {}, operation_context=context,
                      result=codes.NOT_IN_CALL, url=url)

    call.timers.later(len(body.tones) * call.config.tone_interval, sent, "dtmf")
