"""Microsoft's SDK (blocking client) drives GA calls and participants on the emulator.

The receiver reads every callback the way the official samples do, with CloudEvent.from_dict.
"""

from __future__ import annotations

import pytest
from azure.communication.callautomation import (
    CommunicationUserIdentifier,
    PhoneNumberIdentifier,
)
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from callbacks.events import parse_events
from tests.support.ga_harness import Served

ALICE = PhoneNumberIdentifier("+14251001000")
BOB = CommunicationUserIdentifier("8:acs:resource_bob")
CAROL = PhoneNumberIdentifier("+14251002000")


def test_create_call_connects_and_every_callback_carries_the_call_and_its_context(
    served: Served,
) -> None:
    client = served.client()
    created = client.create_call(ALICE, served.receiver.callback_url, operation_context="out-1")
    assert created.call_connection_state == "connecting"
    call_id = created.call_connection_id
    assert served.receiver.wait_types(call_id, "CallConnected", "ParticipantsUpdated")
    connected = served.receiver.event(call_id, "CallConnected")
    assert connected["operationContext"] == "out-1"
    assert connected["serverCallId"] == created.server_call_id
    assert connected["correlationId"] == created.correlation_id
    assert connected["resultInformation"]["code"] == 200
    for got in served.receiver.of(call_id):
        assert got.authorization.startswith("Bearer ")
        assert got.query == "secret=s3cr3t-value"
    connection = client.get_call_connection(call_id)
    properties = connection.get_call_properties()
    assert properties.call_connection_state == "connected"
    assert [t.raw_id for t in properties.targets] == [ALICE.raw_id]
    assert [p.identifier.raw_id for p in connection.list_participants()] == [ALICE.raw_id]
    assert connection.get_participant(ALICE).identifier.raw_id == ALICE.raw_id
    with pytest.raises(ResourceNotFoundError) as missing:
        connection.get_participant(BOB)
    assert missing.value.error is not None and missing.value.error.code == "8522"


def test_every_callback_is_one_cloud_event_our_own_parser_reads_too(served: Served) -> None:
    client = served.client()
    call_id = client.create_call(ALICE, served.receiver.callback_url).call_connection_id
    served.receiver.wait_types(call_id, "CallConnected", "ParticipantsUpdated")
    client.get_call_connection(call_id).hang_up(is_for_everyone=True)
    served.receiver.wait_types(call_id, "CallDisconnected")
    served.idle()
    for record in served.emulator.journal.callbacks:
        assert record.body.startswith(b"[{") and record.body.endswith(b"}]")
        [event] = parse_events(record.body)
        assert record.event_type == event.TYPE


def test_a_group_call_rings_every_target_and_the_old_method_warns(served: Served) -> None:
    client = served.client()
    created = client.create_call([ALICE, CAROL], served.receiver.callback_url)
    call_id = created.call_connection_id

    def both_in() -> bool:
        last = [g for g in served.receiver.of(call_id) if g.type == "ParticipantsUpdated"]
        return bool(last) and len(last[-1].data["participants"]) == 2

    served.receiver.wait(both_in)
    assert served.receiver.types(call_id).count("CallConnected") == 1
    with pytest.deprecated_call():
        group = client.create_group_call([BOB], served.receiver.callback_url)
    served.receiver.wait_types(group.call_connection_id, "CallConnected")


@pytest.mark.parametrize(
    ("answer", "code", "sub_code"),
    [("busy", 486, 560486), ("decline", 603, 0), (False, 487, 10004)],
)
def test_a_callee_that_is_busy_declines_or_never_answers_fails_the_call(
    served: Served, answer: object, code: int, sub_code: int
) -> None:
    served.use_scenario({"callees": [{"match": ALICE.raw_id, "answer": answer}]})
    client = served.client()
    call_id = client.create_call(ALICE, served.receiver.callback_url,
                                 operation_context="doomed").call_connection_id
    types = served.receiver.wait_types(call_id, "CreateCallFailed", "CallDisconnected")
    assert "CallConnected" not in types
    failed = served.receiver.event(call_id, "CreateCallFailed")
    assert failed["operationContext"] == "doomed"
    assert (failed["resultInformation"]["code"], failed["resultInformation"]["subCode"]) == (
        code, sub_code
    )


def test_participants_are_added_declined_cancelled_removed_and_muted(served: Served) -> None:
    served.use_scenario({"callees": [
        {"match": BOB.raw_id, "answer": True, "answer_after": 0.05},
        {"match": CAROL.raw_id, "answer": "decline"},
        {"match": "+14251003000", "answer": False},
    ]})
    client = served.client()
    call_id = client.create_call(ALICE, served.receiver.callback_url).call_connection_id
    served.receiver.wait_types(call_id, "CallConnected")
    connection = client.get_call_connection(call_id)

    added = connection.add_participant(BOB, operation_context="add-bob")
    assert added.invitation_id and added.operation_context == "add-bob"
    assert added.participant is not None and added.participant.identifier.raw_id == BOB.raw_id
    succeeded = served.receiver.event(call_id, "AddParticipantSucceeded")
    assert succeeded["operationContext"] == "add-bob"
    assert succeeded["participant"]["rawId"] == BOB.raw_id

    connection.add_participant(CAROL, operation_context="add-carol")
    failed = served.receiver.event(call_id, "AddParticipantFailed")
    assert failed["operationContext"] == "add-carol"
    assert failed["resultInformation"]["code"] == 603

    ringing = connection.add_participant(PhoneNumberIdentifier("+14251003000"))
    cancel = connection.cancel_add_participant_operation(
        ringing.invitation_id, operation_context="never-mind"
    )
    assert cancel.invitation_id == ringing.invitation_id
    cancelled = served.receiver.event(call_id, "CancelAddParticipantSucceeded")
    assert cancelled["invitationId"] == ringing.invitation_id
    assert cancelled["operationContext"] == "never-mind"

    connection.mute_participant(BOB, operation_context="hush")
    served.receiver.wait(lambda: any(
        g.type == "ParticipantsUpdated"
        and any(p["isMuted"] for p in g.data["participants"])
        for g in served.receiver.of(call_id)
    ))
    assert {p.identifier.raw_id: p.is_muted for p in connection.list_participants()} == {
        ALICE.raw_id: False, BOB.raw_id: True,
    }

    removed = connection.remove_participant(BOB, operation_context="bye-bob")
    assert removed.operation_context == "bye-bob"
    assert served.receiver.event(call_id, "RemoveParticipantSucceeded")["participant"][
        "rawId"] == BOB.raw_id
    assert [p.identifier.raw_id for p in connection.list_participants()] == [ALICE.raw_id]
    with pytest.raises(ResourceNotFoundError):
        connection.remove_participant(BOB)
    with pytest.raises(HttpResponseError) as twice:
        connection.add_participant(ALICE)
    assert twice.value.status_code == 400


def test_an_unanswered_invitation_fails_after_its_own_timeout(served: Served) -> None:
    served.use_scenario({"callees": [{"match": BOB.raw_id, "answer": False}]})
    client = served.client()
    call_id = client.create_call(ALICE, served.receiver.callback_url).call_connection_id
    served.receiver.wait_types(call_id, "CallConnected")
    client.get_call_connection(call_id).add_participant(BOB, invitation_timeout=2)
    failed = served.receiver.event(call_id, "AddParticipantFailed", )
    assert (failed["resultInformation"]["code"], failed["resultInformation"]["subCode"]) == (
        487, 10004
    )


def test_participants_move_from_another_call(served: Served) -> None:
    client = served.client()
    first = client.create_call(ALICE, served.receiver.callback_url).call_connection_id
    second = client.create_call(BOB, served.receiver.callback_url).call_connection_id
    served.receiver.wait_types(first, "CallConnected")
    served.receiver.wait_types(second, "CallConnected")
    result = client.get_call_connection(first).move_participants(
        [BOB, CAROL], second, operation_context="merge"
    )
    assert result.from_call == second
    assert result.participants is not None
    assert {p.identifier.raw_id for p in result.participants} == {ALICE.raw_id, BOB.raw_id}
    moved = served.receiver.event(first, "MoveParticipantSucceeded")
    assert (moved["participant"]["rawId"], moved["fromCall"]) == (BOB.raw_id, second)
    assert served.receiver.event(first, "MoveParticipantFailed")["participant"][
        "rawId"] == CAROL.raw_id
    # the other call lost its only participant, so it ended
    served.receiver.wait_types(second, "CallDisconnected")


def test_an_accepted_transfer_ends_our_leg_and_a_declined_one_fails(served: Served) -> None:
    served.use_scenario({"callees": [{"match": CAROL.raw_id, "answer": "decline"}]})
    client = served.client()
    call_id = client.create_call(ALICE, served.receiver.callback_url).call_connection_id
    served.receiver.wait_types(call_id, "CallConnected")
    connection = client.get_call_connection(call_id)
    declined = connection.transfer_call_to_participant(CAROL, operation_context="to-carol")
    assert declined.operation_context == "to-carol"
    failed = served.receiver.event(call_id, "CallTransferFailed")
    assert failed["operationContext"] == "to-carol"
    assert failed["resultInformation"]["code"] == 603

    connection.transfer_call_to_participant(BOB, operation_context="to-bob")
    types = served.receiver.wait_types(call_id, "CallTransferAccepted", "CallDisconnected")
    assert types[-1] == "CallDisconnected"
    accepted = served.receiver.event(call_id, "CallTransferAccepted")
    assert accepted["operationContext"] == "to-bob"
    assert accepted["transferTarget"]["rawId"] == BOB.raw_id
    assert accepted["transferee"]["rawId"] == ALICE.raw_id
    with pytest.raises(ResourceNotFoundError):
        connection.get_call_properties()


@pytest.mark.parametrize("everyone", [False, True])
def test_hang_up_disconnects_and_then_the_call_is_gone(served: Served, everyone: bool) -> None:
    client = served.client()
    call_id = client.create_call(ALICE, served.receiver.callback_url).call_connection_id
    served.receiver.wait_types(call_id, "CallConnected")
    connection = client.get_call_connection(call_id)
    connection.hang_up(is_for_everyone=everyone)
    served.receiver.wait_types(call_id, "CallDisconnected")
    served.idle()
    assert served.receiver.types(call_id)[-1] == "CallDisconnected"
    with pytest.raises(ResourceNotFoundError) as gone:
        connection.get_call_properties()
    assert gone.value.error is not None and gone.value.error.code == "8522"
    with pytest.raises(ResourceNotFoundError):
        connection.hang_up(is_for_everyone=True)


def test_a_callee_hanging_up_mid_prompt_ends_the_call(served: Served) -> None:
    served.use_scenario({"callees": [
        {"match": ALICE.raw_id, "hang_up": {"during_prompt": 1, "delay": 0.01}}
    ]})
    from azure.communication.callautomation import FileSource

    client = served.client()
    call_id = client.create_call(ALICE, served.receiver.callback_url).call_connection_id
    served.receiver.wait_types(call_id, "CallConnected")
    client.get_call_connection(call_id).play_media(
        FileSource("https://example.com/long.wav"), loop=True, operation_context="music"
    )
    types = served.receiver.wait_types(call_id, "PlayStarted", "CallDisconnected")
    served.idle()
    assert "PlayCompleted" not in types and types[-1] == "CallDisconnected"
    ended = served.receiver.event(call_id, "CallDisconnected")
    assert ended["resultInformation"]["subCode"] == 560000


def test_connect_joins_a_running_call_and_fails_for_an_unknown_one(served: Served) -> None:
    client = served.client()
    created = client.create_call(ALICE, served.receiver.callback_url)
    served.receiver.wait_types(created.call_connection_id, "CallConnected")
    joined = client.connect_call(
        served.receiver.callback_url, server_call_id=created.server_call_id,
        operation_context="join",
    )
    assert joined.server_call_id == created.server_call_id
    assert served.receiver.event(joined.call_connection_id, "CallConnected")[
        "operationContext"] == "join"
    participants = client.get_call_connection(joined.call_connection_id).list_participants()
    assert [p.identifier.raw_id for p in participants] == [ALICE.raw_id]

    lost = client.connect_call(served.receiver.callback_url, server_call_id="nowhere")
    failed = served.receiver.event(lost.call_connection_id, "ConnectFailed")
    assert failed["resultInformation"]["code"] == 404
    room = client.connect_call(served.receiver.callback_url, room_id="room-1")
    served.receiver.wait_types(room.call_connection_id, "CallConnected")


def test_operations_on_a_ringing_call_are_refused_as_not_established(served: Served) -> None:
    served.use_scenario({"default": {"answer": False}})
    client = served.client()
    call_id = client.create_call(ALICE, served.receiver.callback_url).call_connection_id
    with pytest.raises(HttpResponseError) as early:
        client.get_call_connection(call_id).add_participant(BOB)
    assert early.value.status_code == 400
    assert early.value.error is not None and early.value.error.code == "8501"
