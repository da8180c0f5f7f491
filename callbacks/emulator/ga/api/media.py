"""GA media operations: play, recognize, cancel all, continuous DTMF, send DTMF, hold and unhold,
media streaming, transcription.

Text and SSML sources, and speech, speechOrDtmf and choices recognition, need the call to have
been created, answered or connected with a cognitive services endpoint: without one the
service answers 405/8522, and so does the emulator.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from callbacks.emulator.ga import roster
from callbacks.emulator.ga.api.calls import live_connection
from callbacks.emulator.ga.media_schemas import (
    HoldBody,
    ParticipantBody,
    PlayBody,
    RecognizeBody,
    SendDtmfBody,
    TranscriptionBody,
)
from callbacks.emulator.ga.schemas import OperationBody
from callbacks.emulator.pipeline import Exchange
from callbacks.emulator.schemas import parse_body

COGNITIVE_INPUTS = frozenset({"speech", "speechOrDtmf", "choices"})


def _accepted() -> Response:
    return Response(status_code=202)


def play(ex: Exchange) -> Response:
    """``POST .../{id}:play``: 202; PlayStarted, then PlayCompleted (or PlayFailed)."""
    body = parse_body(PlayBody, ex.body)
    ex.record.operation_context = body.operation_context
    connection = live_connection(ex)
    connection.require_connected()
    if any(source.needs_cognitive_services for source in body.play_sources):
        connection.require_cognitive_services()
    audience = [
        connection.party(who, field=f"playTo[{index}]").identifier
        for index, who in enumerate(body.play_to)
    ]
    connection.media.play(body, audience)
    return _accepted()


def recognize(ex: Exchange) -> Response:
    """``POST .../{id}:recognize``: 202; the prompt plays, then RecognizeCompleted or Failed."""
    body = parse_body(RecognizeBody, ex.body)
    ex.record.operation_context = body.operation_context
    connection = live_connection(ex)
    connection.require_connected()
    if body.input_type in COGNITIVE_INPUTS or any(
        prompt.needs_cognitive_services for prompt in body.prompts
    ):
        connection.require_cognitive_services()
    target = connection.party(
        body.options.target_participant, field="recognizeOptions.targetParticipant"
    )
    connection.media.recognize(body, target)
    return _accepted()


def cancel_all(ex: Exchange) -> Response:
    """``POST .../{id}:cancelAllMediaOperations``: 202; every operation ends cancelled."""
    parse_body(OperationBody, ex.body, allow_empty=True)
    connection = live_connection(ex)
    connection.require_connected()
    connection.media.cancel_all()
    return _accepted()


def start_continuous_dtmf(ex: Exchange) -> Response:
    """``POST .../{id}:startContinuousDtmfRecognition``: 200; each tone is reported."""
    body = parse_body(ParticipantBody, ex.body)
    connection = live_connection(ex)
    connection.require_connected()
    party = connection.party(body.target_participant, field="targetParticipant")
    connection.media.start_continuous(party, body.operation_context, body.operation_callback_uri)
    return Response(status_code=200)


def stop_continuous_dtmf(ex: Exchange) -> Response:
    """``POST .../{id}:stopContinuousDtmfRecognition``: 200; ...Stopped follows."""
    body = parse_body(ParticipantBody, ex.body)
    connection = live_connection(ex)
    connection.require_connected()
    party = connection.party(body.target_participant, field="targetParticipant")
    connection.media.stop_continuous(party, body.operation_context, body.operation_callback_uri)
    return Response(status_code=200)


def send_dtmf(ex: Exchange) -> Response:
    """``POST .../{id}:sendDtmfTones``: 202 ``{operationContext}``."""
    body = parse_body(SendDtmfBody, ex.body)
    ex.record.operation_context = body.operation_context
    roster.send_dtmf(live_connection(ex), body)
    return JSONResponse({"operationContext": body.operation_context}, status_code=202)


def hold(ex: Exchange) -> Response:
    """``POST .../{id}:hold``: 200."""
    roster.hold(live_connection(ex), parse_body(HoldBody, ex.body))
    return Response(status_code=200)


def unhold(ex: Exchange) -> Response:
    """``POST .../{id}:unhold``: 200."""
    roster.unhold(live_connection(ex), parse_body(ParticipantBody, ex.body))
    return Response(status_code=200)


def start_media_streaming(ex: Exchange) -> Response:
    """``POST .../{id}:startMediaStreaming``: 202; MediaStreamingStarted (or Failed)."""
    body = parse_body(OperationBody, ex.body, allow_empty=True)
    connection = live_connection(ex)
    connection.require_connected()
    connection.streams.start_streaming(body.operation_context, body.operation_callback_uri)
    return _accepted()


def stop_media_streaming(ex: Exchange) -> Response:
    """``POST .../{id}:stopMediaStreaming``: 202; MediaStreamingStopped."""
    body = parse_body(OperationBody, ex.body, allow_empty=True)
    connection = live_connection(ex)
    connection.require_connected()
    connection.streams.stop_streaming(body.operation_context, body.operation_callback_uri)
    return _accepted()


def start_transcription(ex: Exchange) -> Response:
    """``POST .../{id}:startTranscription``: 202; TranscriptionStarted (or Failed)."""
    body = parse_body(TranscriptionBody, ex.body, allow_empty=True)
    connection = live_connection(ex)
    connection.require_connected()
    connection.streams.start_transcription(
        body.locale, body.operation_context, body.operation_callback_uri
    )
    return _accepted()


def stop_transcription(ex: Exchange) -> Response:
    """``POST .../{id}:stopTranscription``: 202; TranscriptionStopped."""
    body = parse_body(TranscriptionBody, ex.body, allow_empty=True)
    connection = live_connection(ex)
    connection.require_connected()
    connection.streams.stop_transcription(body.operation_context, body.operation_callback_uri)
    return _accepted()


def update_transcription(ex: Exchange) -> Response:
    """``POST .../{id}:updateTranscription``: 202; TranscriptionUpdated."""
    body = parse_body(TranscriptionBody, ex.body, allow_empty=True)
    connection = live_connection(ex)
    connection.require_connected()
    connection.streams.update_transcription(
        body.locale, body.operation_context, body.operation_callback_uri
    )
    return _accepted()
