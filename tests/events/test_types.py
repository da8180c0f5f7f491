"""The Event Grid and multi-dialect models: RecordingFileStatusUpdated's fields, and
ParticipantsUpdated's participants in every dialect."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from callbacks.events import (
    Dialect,
    IdentifierKind,
    ParticipantsUpdated,
    RecordingFileStatusUpdated,
    parse_events,
)
from tests.support.samples import sample_bytes

STORAGE = "https://us-storage.asm.skype.com/v1/objects/0-eus-d2-3cca2175891f21c6c9a5975a12c0141c"


def test_recording_file_status_updated_is_an_event_grid_event_with_its_chunks() -> None:
    [event] = parse_events(sample_bytes("eventgrid", "RecordingFileStatusUpdated"))
    assert isinstance(event, RecordingFileStatusUpdated)
    assert event.dialect is Dialect.EVENT_GRID
    assert event.call_id is None
    assert event.subject is not None and event.subject.endswith("/serverCallId/aHR0cHM6Ly9hcGk")
    data = event.data
    assert data.recording_start_time == datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    assert data.recording_duration_ms == 61500
    assert (data.recording_content_type, data.recording_channel_type) == ("Audio", "Mixed")
    assert data.recording_format_type == "Wav"
    assert data.session_end_reason == "CallEnded"
    [chunk] = data.recording_storage_info.recording_chunks
    assert chunk.index == 0
    assert chunk.end_reason == "SessionEnded"
    assert chunk.content_location == STORAGE + "/content/audio"
    assert chunk.metadata_location == STORAGE + "/content/acsmetadata"
    assert chunk.delete_location == STORAGE


ACS_USER = "8:acs:1bdaa2b9-9507-4542-bb64-a7b22c00a8d4_00000009-1234-5678-9abc-def012345678"


@pytest.mark.parametrize(
    ("dialect", "raw_ids"),
    [
        ("preview2021", [ACS_USER, "4:+14251001000"]),
        ("callingserver", [ACS_USER]),
        ("ga", [ACS_USER, "4:+14251001000"]),
    ],
)
def test_participants_and_their_identifiers_read_the_same_in_every_dialect(
    dialect: str, raw_ids: list[str]
) -> None:
    [event] = parse_events(sample_bytes(dialect, "ParticipantsUpdated"))
    assert isinstance(event, ParticipantsUpdated)
    assert event.participants == event.data.participants
    assert [p.identifier for p in event.participants] == event.identifiers
    assert [identifier.raw_id for identifier in event.identifiers] == raw_ids
    assert event.identifiers == event.data.identifiers
    assert event.identifiers[0].kind is IdentifierKind.COMMUNICATION_USER
    if len(raw_ids) > 1:
        assert event.identifiers[1].phone_number == "+14251001000"
        assert event.participants[1].is_muted is True
