"""Ringing a participant of a GA call, and what its answer, refusal or silence posts.

A rung participant follows its script's ``answer``: ``true`` picks up after ``answer_after``
(default the emulator's answer delay); ``"busy"`` and ``"decline"`` refuse after it (486 /
603); ``false`` lets it ring until the timeout (487/10004). What follows depends on why it
was rung:

- a target of create-call: the first answer connects the call (CallConnected, then
  ParticipantsUpdated); when every target refused, CreateCallFailed and CallDisconnected;
- an invitee: AddParticipantSucceeded + ParticipantsUpdated, or AddParticipantFailed;
- a transfer target: CallTransferAccepted and this leg's CallDisconnected, or
  CallTransferFailed (the call stays up).
"""

from __future__ import annotations

from functools import partial

from callbacks.emulator.ga import codes
from callbacks.emulator.ga.codes import Result
from callbacks.emulator.ga.connection import Connection, ConnectionState
from callbacks.emulator.ga.party import Party, PartyState, Role
from callbacks.emulator.ga.wire import identifier_ga


def ring(call: Connection, party: Party, timeout: float | None = None) -> None:
    """Ring ``party`` in ``call``: it answers, refuses or lets it ring, as its script says."""
    call.parties.append(party)
    script = party.script
    delay = call.config.answer_delay if script.answer_after is None else script.answer_after
    if script.answer is True:
        call.timers.later(delay, partial(answered, call, party), "answer")
    elif script.answer:
        busy = script.answer == "busy"
        state = PartyState.BUSY if busy else PartyState.DECLINED
        refusal = partial(refused, call, party, state, codes.BUSY if busy else codes.DECLINED)
        call.timers.later(delay, refusal, "refuse")
    ring_for = call.config.ring_timeout if timeout is None else timeout
    no_answer = partial(refused, call, party, PartyState.NO_ANSWER, codes.NO_ANSWER)
    call.timers.later(ring_for, no_answer, "ring")


def answered(call: Connection, party: Party) -> None:
    """``party`` picks up (its script's timer, or the control API)."""
    if call.ended or not party.ringing:
        return
    party.state = PartyState.CONNECTED
    if party.role is Role.TRANSFER_TARGET:
        _transferred(call, party)
        return
    if party.role is Role.INVITEE:
        call.emit(
            "AddParticipantSucceeded", {"participant": party.identifier_wire()},
            operation_context=party.operation_context, result=codes.COMPLETED,
            url=party.callback_uri,
        )
    if call.state is ConnectionState.CONNECTING:
        call.connect_now()
    else:
        call.participants_updated()
    call.follow_script(party)


def refused(call: Connection, party: Party, state: PartyState, result: Result) -> None:
    """``party`` declined, was busy, did not answer in time, or its invitation was cancelled."""
    if call.ended or not party.ringing:
        return
    party.state = state
    if party.role is Role.INVITEE:
        call.emit(
            "AddParticipantFailed", {"participant": party.identifier_wire()},
            operation_context=party.operation_context, result=result, url=party.callback_uri,
        )
    elif party.role is Role.TRANSFER_TARGET:
        call.state = ConnectionState.CONNECTED
        call.emit(
            "CallTransferFailed", {}, operation_context=party.operation_context,
            result=result, url=party.callback_uri,
        )
    elif call.state is ConnectionState.CONNECTING and not any(
        p.ringing or p.connected for p in call.parties
    ):
        call.emit(
            "CreateCallFailed", {}, operation_context=call.setup.operation_context, result=result
        )
        call.end(result)


def _transferred(call: Connection, target: Party) -> None:
    transferee = target.transferee
    call.state = ConnectionState.TRANSFER_ACCEPTED
    call.emit(
        "CallTransferAccepted",
        {
            "transferTarget": target.identifier_wire(),
            "transferee": identifier_ga(transferee) if transferee else None,
        },
        operation_context=target.operation_context, result=codes.COMPLETED,
        url=target.callback_uri,
    )
    call.end(codes.TRANSFERRED)
