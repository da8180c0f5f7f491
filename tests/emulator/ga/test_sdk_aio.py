"""Microsoft's aio client (aiohttp) drives the same first-tier operations over plain http."""

from __future__ import annotations

import asyncio

from azure.communication.callautomation import (
    CommunicationUserIdentifier,
    FileSource,
    PhoneNumberIdentifier,
    RecognizeInputType,
)
from azure.communication.callautomation.aio import CallAutomationClient
from azure.core.credentials import AzureKeyCredential

from tests.support.ga_harness import Served

ALICE = PhoneNumberIdentifier("+14251001000")
BOB = CommunicationUserIdentifier("8:acs:resource_bob")


async def test_the_aio_client_runs_a_call_from_create_to_hang_up(served: Served) -> None:
    served.use_scenario({"callees": [{"match": ALICE.raw_id, "recognize": [{"tones": "7"}]}]})
    receiver = served.receiver
    async with CallAutomationClient(served.url, AzureKeyCredential(served.key_b64)) as client:
        created = await client.create_call(ALICE, receiver.callback_url, operation_context="aio")
        call_id = created.call_connection_id
        await asyncio.to_thread(receiver.wait_types, call_id, "CallConnected")
        connection = client.get_call_connection(call_id)
        assert (await connection.get_call_properties()).call_connection_state == "connected"
        await connection.play_media(FileSource("https://example.com/hi.wav"),
                                    operation_context="hi")
        await connection.start_recognizing_media(
            RecognizeInputType.DTMF, ALICE, dtmf_max_tones_to_collect=1, operation_context="menu"
        )
        added = await connection.add_participant(BOB, operation_context="add")
        participants = [p.identifier.raw_id async for p in connection.list_participants()]
        assert ALICE.raw_id in participants
        recording = await client.start_recording(server_call_id=created.server_call_id)
        await asyncio.to_thread(
            receiver.wait_all, call_id, "PlayCompleted", "RecognizeCompleted",
            "AddParticipantSucceeded", "RecordingStateChanged",
        )
        assert (await client.get_recording_properties(recording.recording_id)).recording_state \
            == "active"
        await connection.hang_up(is_for_everyone=True)
        await asyncio.to_thread(receiver.wait_types, call_id, "CallDisconnected")
    assert added.invitation_id
    recognized = receiver.event(call_id, "RecognizeCompleted")
    assert recognized["dtmfResult"]["tones"] == ["seven"]
    assert receiver.event(call_id, "CallConnected")["operationContext"] == "aio"
