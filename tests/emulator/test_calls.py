"""Simulated calls: the callbacks each operation produces, their shape, and their order."""

from __future__ import annotations

import asyncio
import json
import re
import uuid

from callbacks.events import UnknownEvent, parse_events
from tests.support.emulator_harness import (
    ALICE,
    AUDIO,
    BOB,
    CAROL,
    SECRET,
    Env,
    Receiver,
    fast_config,
    running_env,
)

EVENT_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
CANCELLED = {"Code": 400, "Subcode": 8508, "Message": "Action failed, the operation was cancelled."}


def state_of(event: dict[str, object]) -> object:
    data = event["data"]
    assert isinstance(data, dict)
    return data.get("CallState")


async def test_a_call_goes_establishing_established_participants_then_terminates(env: Env) -> None:
    call_id = await env.established()
    assert (await env.client.post(f"/calls/{call_id}/Hangup")).status_code == 202
    await env.receiver.wait_for(lambda _: len(env.receiver.of(call_id)) == 5)
    received = env.receiver.of(call_id)
    assert [r.type for r in received] == [
        "CallLegStateChanged",
        "CallLegStateChanged",
        "ParticipantsUpdated",
        "CallLegStateChanged",
        "CallLegStateChanged",
    ]
    states = [state_of(r.event) for r in received]
    assert states == ["Establishing", "Established", None, "Terminating", "Terminated"]
    establishing, established = received[0].event["data"], received[1].event["data"]
    assert establishing == {
        "ConversationId": None,
        "CallLegId": call_id,
        "CallState": "Establishing",
    }
    assert uuid.UUID(established["ConversationId"])
    participants = received[2].event["data"]["Participants"]
    assert participants == [
        {
            "Identifier": {
                "RawId": "8:acs:resource_alice",
                "CommunicationUser": {"Id": "8:acs:resource_alice"},
                "PhoneNumber": None,
                "MicrosoftTeamsUser": None,
            },
            "ParticipantId": participants[0]["ParticipantId"],
            "IsMuted": False,
        }
    ]


async def test_callbacks_have_the_2021_envelope_and_keep_the_secret(env: Env) -> None:
    call_id = await env.established()
    for received in env.receiver.of(call_id):
        event = received.event
        assert set(event) == {
            "id",
            "topic",
            "subject",
            "data",
            "eventType",
            "eventTime",
            "metadataVersion",
            "dataVersion",
        }
        assert uuid.UUID(event["id"])
        assert event["topic"] is None and event["metadataVersion"] is None
        assert event["eventType"].startswith("Microsoft.Communication.")
        assert EVENT_TIME.match(event["eventTime"])
        assert received.query == f"secret={SECRET}"
        assert received.content_type == "application/json"
    subjects = [r.event["subject"] for r in env.receiver.of(call_id)]
    assert subjects == [
        f"callLeg/{call_id}/callState",
        f"callLeg/{call_id}/callState",
        f"callLeg/{call_id}/participantsUpdated",
    ]


async def test_null_event_ids_when_configured(receiver: Receiver) -> None:
    async with running_env(fast_config(event_ids="null"), receiver) as env:
        call_id = await env.established()
        assert {r.event["id"] for r in receiver.of(call_id)} == {None}


async def test_every_callback_parses_as_a_typed_2021_event(env: Env) -> None:
    call_id = await env.established(requestedCallEvents=["dtmfReceived"])
    await env.client.post(f"/calls/{call_id}/PlayAudio", json={"audioFileUri": AUDIO})
    await env.client.post(f"/calls/{call_id}/participants", json={"participants": [BOB]})
    await env.control.post(f"/emulator/calls/{call_id}/tones", json={"tones": "1"})
    await env.receiver.wait_types(call_id, "PlayAudioResult")
    await env.receiver.wait_types(call_id, "InviteParticipantResult", "ParticipantsUpdated")
    await env.receiver.wait_types(call_id, "DtmfReceived")
    await env.client.post(f"/calls/{call_id}/Hangup")
    await env.running.emulator.delivery.wait_idle()
    for received in env.receiver.of(call_id):
        (event,) = parse_events(json.dumps(received.event).encode())
        assert not isinstance(event, UnknownEvent), received.type
        assert event.dialect == "preview2021"
        assert (event.type, event.call_id) == (received.type, call_id)


async def test_participants_updated_carries_the_full_list(env: Env) -> None:
    emulator = env.running.emulator
    emulator.scenario = emulator.scenario.model_validate(
        {"callees": [{"match": "+14251001000", "answer_after": 0.1}]}
    )
    call_id = await env.create_call(ALICE, BOB)
    await env.receiver.wait_types(call_id, "ParticipantsUpdated", "ParticipantsUpdated")
    updates = [r.event["data"] for r in env.receiver.of(call_id) if r.type == "ParticipantsUpdated"]
    raw_ids = [[p["Identifier"]["RawId"] for p in u["Participants"]] for u in updates]
    assert raw_ids == [["8:acs:resource_alice"], ["8:acs:resource_alice", "4:+14251001000"]]
    assert updates[1]["Participants"][1]["Identifier"]["PhoneNumber"] == {"Value": "+14251001000"}


async def test_a_prompt_completes_with_200_and_prompts_play_in_order(env: Env) -> None:
    call_id = await env.established()
    for context in ("first", "second"):
        body = {"audioFileUri": AUDIO, "operationContext": context}
        assert (await env.client.post(f"/calls/{call_id}/PlayAudio", json=body)).status_code == 202
    await env.receiver.wait_types(call_id, "PlayAudioResult", "PlayAudioResult")
    results = [r for r in env.receiver.of(call_id) if r.type == "PlayAudioResult"]
    assert [r.event["data"]["OperationContext"] for r in results] == ["first", "second"]
    for result in results:
        data = result.event["data"]
        assert data["Status"] == "Completed"
        assert data["ResultInfo"] == {
            "Code": 200,
            "Subcode": 0,
            "Message": "Action completed successfully.",
        }
        assert result.event["subject"] == f"callLeg/{call_id}/playAudio"
    # one at a time: the second ends a whole play duration after the first
    assert results[1].at - results[0].at >= 0.04


async def test_a_looping_prompt_plays_until_cancelled_then_ends_8508(env: Env) -> None:
    call_id = await env.established()
    body = {"audioFileUri": AUDIO, "loop": True, "operationContext": "hold-music"}
    await env.client.post(f"/calls/{call_id}/PlayAudio", json=body)
    await asyncio.sleep(0.2)  # four play durations
    assert "PlayAudioResult" not in env.receiver.types(call_id)
    cancel = {"operationContext": "cancel"}
    response = await env.client.post(f"/calls/{call_id}/CancelMediaProcessing", json=cancel)
    assert response.status_code == 202
    await env.receiver.wait_types(call_id, "PlayAudioResult")
    data = env.receiver.of(call_id)[-1].event["data"]
    assert data["Status"] == "Completed"
    assert data["ResultInfo"] == CANCELLED
    assert data["OperationContext"] == "hold-music"


async def test_cancel_also_ends_queued_prompts_with_8508(env: Env) -> None:
    call_id = await env.established()
    for context in ("loop", "queued"):
        body = {"audioFileUri": AUDIO, "loop": context == "loop", "operationContext": context}
        await env.client.post(f"/calls/{call_id}/PlayAudio", json=body)
    await env.client.post(f"/calls/{call_id}/CancelMediaProcessing", json={})
    await env.receiver.wait_types(call_id, "PlayAudioResult", "PlayAudioResult")
    results = [r.event["data"] for r in env.receiver.of(call_id) if r.type == "PlayAudioResult"]
    assert [(r["OperationContext"], r["ResultInfo"]["Subcode"]) for r in results] == [
        ("loop", 8508),
        ("queued", 8508),
    ]


async def test_a_looping_prompt_ends_silently_with_the_call(env: Env) -> None:
    call_id = await env.established()
    await env.client.post(f"/calls/{call_id}/PlayAudio", json={"audioFileUri": AUDIO, "loop": True})
    await env.client.post(f"/calls/{call_id}/Hangup")
    await asyncio.sleep(0.1)
    await env.running.emulator.delivery.wait_idle()
    types = env.receiver.types(call_id)
    assert "PlayAudioResult" not in types
    assert state_of(env.receiver.of(call_id)[-1].event) == "Terminated"


async def test_dtmf_is_posted_only_when_the_call_asked_for_it(env: Env) -> None:
    with_dtmf = await env.established(requestedCallEvents=["DTMFRECEIVED"])
    without = await env.established(requestedCallEvents=["participantsUpdated"])
    for call_id in (with_dtmf, without):
        response = await env.control.post(f"/emulator/calls/{call_id}/tones", json={"tones": "1#"})
        assert response.status_code == 202
    await env.receiver.wait_types(with_dtmf, "DtmfReceived", "DtmfReceived")
    await asyncio.sleep(0.05)
    await env.running.emulator.delivery.wait_idle()
    tones = [r.event["data"] for r in env.receiver.of(with_dtmf) if r.type == "DtmfReceived"]
    assert tones == [
        {"ToneInfo": {"SequenceId": 1, "Tone": "Tone1"}, "CallLegId": with_dtmf},
        {"ToneInfo": {"SequenceId": 2, "Tone": "Pound"}, "CallLegId": with_dtmf},
    ]
    assert env.receiver.of(with_dtmf)[-1].event["subject"] == f"callLeg/{with_dtmf}/dtmf"
    assert "DtmfReceived" not in env.receiver.types(without)


async def test_invite_then_answer_then_remove(env: Env) -> None:
    call_id = await env.established()
    body = {"participants": [CAROL], "operationContext": "agent"}
    await env.client.post(f"/calls/{call_id}/participants", json=body)
    await env.receiver.wait_types(call_id, "InviteParticipantResult", "ParticipantsUpdated")
    received = env.receiver.of(call_id)
    invite = received[-2].event["data"]
    assert invite["Status"] == "Completed"
    assert invite["OperationContext"] == "agent"
    assert [p["RawId"] for p in invite["Participants"]] == ["8:acs:resource_carol"]
    listed = received[-1].event["data"]["Participants"]
    assert [p["Identifier"]["RawId"] for p in listed] == [
        "8:acs:resource_alice",
        "8:acs:resource_carol",
    ]
    for participant in listed:
        await env.client.delete(f"/calls/{call_id}/participants/{participant['ParticipantId']}")
    await env.receiver.wait_for(
        lambda _: state_of(env.receiver.of(call_id)[-1].event) == "Terminated"
    )
    tail = [r.type for r in env.receiver.of(call_id)][-4:]
    assert tail == [
        "ParticipantsUpdated",
        "ParticipantsUpdated",
        "CallLegStateChanged",
        "CallLegStateChanged",
    ]
    updates = [r.event["data"]["Participants"] for r in env.receiver.of(call_id)[-4:-2]]
    assert [len(u) for u in updates] == [1, 0]


async def test_an_invitee_that_never_answers_fails_the_invite(receiver: Receiver) -> None:
    config = fast_config(ring_timeout=0.1)
    async with running_env(config, receiver) as env:
        env.running.emulator.scenario = env.running.emulator.scenario.model_validate(
            {"callees": [{"match": "+14251001000", "answer": False}]}
        )
        call_id = await env.established()
        body = {"participants": [BOB], "operationContext": "late"}
        await env.client.post(f"/calls/{call_id}/participants", json=body)
        await receiver.wait_types(call_id, "InviteParticipantResult")
        data = receiver.of(call_id)[-1].event["data"]
        assert (data["Status"], data["OperationContext"]) == ("Failed", "late")
        assert env.running.emulator.calls[call_id].active


async def test_nobody_answering_ends_the_call_without_establishing_it(receiver: Receiver) -> None:
    config = fast_config(ring_timeout=0.1)
    async with running_env(config, receiver) as env:
        env.running.emulator.scenario = env.running.emulator.scenario.model_validate(
            {"default": {"answer": False}}
        )
        call_id = await env.create_call(ALICE, BOB)
        await receiver.wait_for(lambda _: len(receiver.of(call_id)) == 3)
        assert [state_of(r.event) for r in receiver.of(call_id)] == [
            "Establishing",
            "Terminating",
            "Terminated",
        ]


async def test_hang_up_ends_the_call_for_everyone(env: Env) -> None:
    call_id = await env.create_call(ALICE, BOB)
    await env.receiver.wait_types(call_id, "ParticipantsUpdated", "ParticipantsUpdated")
    await env.client.post(f"/calls/{call_id}/Hangup")
    shown = (await env.control.get(f"/emulator/calls/{call_id}")).json()
    assert shown["state"] == "Terminated"
    assert {p["state"] for p in shown["participants"]} == {"left"}
