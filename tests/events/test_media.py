"""The GA media models: play, hold audio and transcription events parse to their class and
fields."""

from __future__ import annotations

import json

import pytest

from callbacks.events import (
    Event,
    HoldAudioCompleted,
    HoldAudioPaused,
    HoldAudioResumed,
    HoldAudioStarted,
    PlayPaused,
    PlayResumed,
    TranscriptionCallSummaryUpdated,
    parse_events,
)
from tests.support.samples import sample_bytes, sample_json

CC = "421f0b00-8e5a-4a69-9a0b-2b5a3c1e5e10"


@pytest.mark.parametrize(
    ("cls", "context"),
    [
        (PlayPaused, "ctx-1"),
        (PlayResumed, "ctx-1"),
        (HoldAudioStarted, "hold-caller"),
        (HoldAudioPaused, "hold-caller"),
        (HoldAudioResumed, "hold-caller"),
        (HoldAudioCompleted, "hold-caller"),
    ],
    ids=lambda value: getattr(value, "TYPE", value),
)
def test_play_and_hold_audio_events_parse_to_their_class(cls: type[Event], context: str) -> None:
    [event] = parse_events(sample_bytes("ga", cls.TYPE))
    assert type(event) is cls
    assert event.call_id == CC
    assert event.operation_context == context
    assert event.data.server_call_id == "aHR0cHM6Ly9hcGk"
    assert event.data.correlation_id == "b1c0e6a2-1111-4222-8333-444455556666"
    assert event.data.result_info.code == 200


def test_transcription_call_summary_updated_keeps_the_update() -> None:
    [event] = parse_events(sample_bytes("ga", "TranscriptionCallSummaryUpdated"))
    assert isinstance(event, TranscriptionCallSummaryUpdated)
    assert event.call_id == CC
    update = event.data.transcription_update
    assert update is not None
    assert update["transcriptionStatus"] == "transcriptionUpdated"
    assert update["transcriptionMessage"].startswith("The caller asked")


def test_a_call_summary_without_a_call_connection_still_parses() -> None:
    [element] = sample_json("ga", "TranscriptionCallSummaryUpdated")
    del element["data"]["callConnectionId"]
    [event] = parse_events(json.dumps(element).encode())
    assert isinstance(event, TranscriptionCallSummaryUpdated)
    assert event.call_id is None
