"""The Event Grid and multi-dialect models: RecordingFileStatusUpdated's fields."""

from __future__ import annotations

from datetime import UTC, datetime

from callbacks.events import Dialect, RecordingFileStatusUpdated, parse_events
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
