"""The GA REST API's route table, under ``/calling`` next to the 2021 one.

Every ``{id}:action`` route is declared on its own: a pattern for ``{id}`` alone would also
match ``abc:play``. ``repeatable`` marks the operations the service de-duplicates by
``Repeatability-Request-ID`` (R in the reference): a repeat gets the first answer and no second
action. Play, recognize and the other operations execute every time, as on the service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from callbacks.emulator.errors import NotFound
from callbacks.emulator.ga.api import calls, media, participants, recordings
from callbacks.emulator.pipeline import Exchange, Form, Operation, serve

CALLS = "/calling/callConnections"
CALL = CALLS + "/{call_id}"
RECORDING = "/calling/recordings/{recording_id}"


def _unknown_action(ex: Exchange) -> Response:
    raise NotFound(f"no such operation: {ex.request.method} {ex.request.url.path}")


def _endpoint(name: str, operation: Operation, repeatable: bool) -> Callable[
    [Request], Awaitable[Response]
]:
    async def endpoint(request: Request) -> Response:
        return await serve(request, name, operation, Form.GA, repeatable=repeatable)

    return endpoint


# (method, path, journal name, operation, repeatable)
_TABLE: list[tuple[str, str, str, Operation, bool]] = [
    ("POST", CALLS, "create_call", calls.create_call, True),
    ("POST", CALLS + ":answer", "answer_call", calls.answer_call, True),
    ("POST", CALLS + ":redirect", "redirect_call", calls.redirect_call, True),
    ("POST", CALLS + ":reject", "reject_call", calls.reject_call, True),
    ("POST", CALLS + ":connect", "connect_call", calls.connect_call, True),
    ("POST", CALL + ":terminate", "terminate_call", calls.terminate, True),
    ("POST", CALL + ":transferToParticipant", "transfer_to_participant", calls.transfer, True),
    ("POST", CALL + ":play", "play", media.play, False),
    ("POST", CALL + ":recognize", "recognize", media.recognize, False),
    ("POST", CALL + ":cancelAllMediaOperations", "cancel_all_media_operations",
     media.cancel_all, False),
    ("POST", CALL + ":startContinuousDtmfRecognition", "start_continuous_dtmf_recognition",
     media.start_continuous_dtmf, False),
    ("POST", CALL + ":stopContinuousDtmfRecognition", "stop_continuous_dtmf_recognition",
     media.stop_continuous_dtmf, False),
    ("POST", CALL + ":sendDtmfTones", "send_dtmf_tones", media.send_dtmf, True),
    ("POST", CALL + ":hold", "hold", media.hold, False),
    ("POST", CALL + ":unhold", "unhold", media.unhold, False),
    ("POST", CALL + ":startMediaStreaming", "start_media_streaming",
     media.start_media_streaming, False),
    ("POST", CALL + ":stopMediaStreaming", "stop_media_streaming",
     media.stop_media_streaming, False),
    ("POST", CALL + ":startTranscription", "start_transcription",
     media.start_transcription, False),
    ("POST", CALL + ":stopTranscription", "stop_transcription", media.stop_transcription, False),
    ("POST", CALL + ":updateTranscription", "update_transcription",
     media.update_transcription, False),
    ("GET", CALL + "/participants", "list_participants", participants.list_participants, False),
    ("POST", CALL + "/participants:add", "add_participant", participants.add, True),
    ("POST", CALL + "/participants:remove", "remove_participant", participants.remove, True),
    ("POST", CALL + "/participants:cancelAddParticipant", "cancel_add_participant",
     participants.cancel_add, True),
    ("POST", CALL + "/participants:moveHere", "move_participants", participants.move_here, True),
    ("POST", CALL + "/participants:mute", "mute_participant", participants.mute, True),
    ("GET", CALL + "/participants/{raw_id}", "get_participant", participants.get_participant,
     False),
    ("GET", CALL, "get_call", calls.get_call, False),
    ("DELETE", CALL, "hang_up", calls.hang_up, False),
    # an unknown ":action" would match the two above and be answered 405; it is a 404
    ("POST", CALL, "unknown", _unknown_action, False),
    ("POST", "/calling/recordings", "start_recording", recordings.start, True),
    ("POST", RECORDING + ":pause", "pause_recording", recordings.pause, False),
    ("POST", RECORDING + ":resume", "resume_recording", recordings.resume, False),
    ("GET", RECORDING, "get_recording", recordings.get, False),
    ("DELETE", RECORDING, "stop_recording", recordings.stop, False),
    ("POST", RECORDING, "unknown", _unknown_action, False),
]

REPEATABLE = frozenset(name for _, _, name, _, repeatable in _TABLE if repeatable)
"""Journal names of the operations the service de-duplicates."""


def ga_routes() -> list[BaseRoute]:
    """Every GA operation's route."""
    return [
        Route(path, _endpoint(name, operation, repeatable), methods=[method])
        for method, path, name, operation, repeatable in _TABLE
    ]
