"""The GA call, participant and recording models: each recorded sample parses to its class and
fields."""

from __future__ import annotations

import json

from callbacks.events import (
    Dialect,
    IdentifierKind,
    MoveParticipantFailed,
    MoveParticipantSucceeded,
    StartRecordingFailed,
    parse_events,
)
from tests.support.samples import sample_bytes, sample_json

CC = "421f0b00-8e5a-4a69-9a0b-2b5a3c1e5e10"
FROM_CALL = "5b2e1c00-9f6b-4b7a-8b1c-3c6b4d2f6f21"


def test_move_participant_succeeded_names_who_moved_and_the_call_they_left() -> None:
    [event] = parse_events(sample_bytes("ga", "MoveParticipantSucceeded"))
    assert isinstance(event, MoveParticipantSucceeded)
    assert event.dialect is Dialect.GA
    assert event.call_id == CC
    assert event.operation_context == "move-to-agent"
    assert event.data.from_call == FROM_CALL
    assert event.data.participant is not None
    assert event.data.participant.kind is IdentifierKind.PHONE_NUMBER
    assert event.data.participant.phone_number == "+14251001000"
    assert event.data.result_info is not None
    assert (event.data.result_info.code, event.data.result_info.subcode) == (200, 0)


def test_move_participant_failed_keeps_its_result_and_the_participant() -> None:
    [event] = parse_events(sample_bytes("ga", "MoveParticipantFailed"))
    assert isinstance(event, MoveParticipantFailed)
    assert event.data.from_call == FROM_CALL
    assert event.data.participant is not None
    assert event.data.participant.raw_id == "4:+14251001000"
    assert event.data.result_info is not None
    assert (event.data.result_info.code, event.data.result_info.subcode) == (400, 8500)
    assert event.data.result_info.message == "Moving the participant failed."


def test_start_recording_failed_carries_the_recording_id() -> None:
    [event] = parse_events(sample_bytes("ga", "StartRecordingFailed"))
    assert isinstance(event, StartRecordingFailed)
    assert event.call_id == CC
    assert event.subject == "calling/recordings/aHR0cHM6Ly9hcGk/recordingId/rec-4"
    assert event.data.recording_id == "rec-4"
    assert event.data.server_call_id == "aHR0cHM6Ly9hcGk"
    assert event.data.result_info is not None
    assert event.data.result_info.code == 400


def test_start_recording_failed_without_a_call_connection_still_parses() -> None:
    """Recording is started by server call id, so the failure may name no call connection."""
    [element] = sample_json("ga", "StartRecordingFailed")
    del element["data"]["callConnectionId"]
    [event] = parse_events(json.dumps(element).encode())
    assert isinstance(event, StartRecordingFailed)
    assert event.call_id is None
    assert event.data.server_call_id == "aHR0cHM6Ly9hcGk"


def test_extra_data_keys_and_the_older_result_name_are_tolerated() -> None:
    """Some deliveries carry ``type``/``eventSource`` inside data, or say ``resultInfo``."""
    [element] = sample_json("ga", "MoveParticipantFailed")
    data = element["data"]
    data["resultInfo"] = data.pop("resultInformation")
    data.update(type="MoveParticipantFailed", eventSource=element["source"], newField=[1])
    [event] = parse_events(json.dumps(element).encode())
    assert isinstance(event, MoveParticipantFailed)
    assert (event.result_code, event.result_subcode) == (400, 8500)
    assert event.data.from_call == FROM_CALL
