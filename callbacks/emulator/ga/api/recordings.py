"""GA recording operations: start, get, stop, pause, resume."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from callbacks.emulator.ga.recording import Recording
from callbacks.emulator.ga.schemas import StartRecordingBody
from callbacks.emulator.pipeline import Exchange
from callbacks.emulator.schemas import parse_body


def _recording(ex: Exchange) -> Recording:
    return ex.emulator.ga.recording(str(ex.request.path_params["recording_id"]))


def start(ex: Exchange) -> Response:
    """``POST /calling/recordings``: 200 ``{recordingId, recordingState, recordingKind}``."""
    recording = ex.emulator.ga.start_recording(parse_body(StartRecordingBody, ex.body))
    ex.record.call_id = recording.connection.id
    return JSONResponse(recording.to_wire())


def get(ex: Exchange) -> Response:
    """``GET /calling/recordings/{recordingId}``: 200."""
    return JSONResponse(_recording(ex).to_wire())


def stop(ex: Exchange) -> Response:
    """``DELETE /calling/recordings/{recordingId}``: 204; RecordingStateChanged inactive."""
    _recording(ex).stop()
    return Response(status_code=204)


def pause(ex: Exchange) -> Response:
    """``POST /calling/recordings/{recordingId}:pause``: 202; RecordingStateChanged inactive."""
    recording = _recording(ex)
    if recording.state == "active":
        recording.change("inactive")
    return Response(status_code=202)


def resume(ex: Exchange) -> Response:
    """``POST /calling/recordings/{recordingId}:resume``: 202; RecordingStateChanged active."""
    recording = _recording(ex)
    if recording.state == "inactive":
        recording.change("active")
    return Response(status_code=202)
