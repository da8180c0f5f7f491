"""The seed's REST operations, under the seed's paths and the 2021 specification's.

Seed form: ``/calls``, ``/calls/{callId}/Hangup|PlayAudio|CancelMediaProcessing``,
``/calls/{callId}/participants[/{participantId}]``; create-call answers 200.
2021 form: the same under ``/calling`` with ``?api-version=2021-04-15-preview1``; create-call
answers 201 and requires ``source``. Action names match case-insensitively.

Every request goes through :func:`callbacks.emulator.pipeline.serve`; every operation of this
API honours ``Repeatability-Request-ID``.
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from callbacks.emulator.errors import BadRequest, NotFound
from callbacks.emulator.pipeline import Exchange, Form, Operation, serve
from callbacks.emulator.schemas import (
    CancelMediaBody,
    CreateCallBody,
    EmptyBody,
    InviteBody,
    PlayAudioBody,
    parse_body,
)

ACCEPTED_INFO = {"code": 202, "subcode": 0, "message": "Action is accepted."}


def _accepted() -> Response:
    # the seed answers 202 with a JSON content type and no body
    return Response(b"", 202, media_type="application/json")


def create_call(ex: Exchange) -> Response:
    """``POST /calls``: 200 (seed) or 201 (2021) ``{"callLegId"}``; the targets start ringing."""
    body = parse_body(CreateCallBody, ex.body)
    if ex.form is Form.SPEC_2021 and body.source is None:
        raise BadRequest("source: field required")
    call = ex.emulator.create_call(body)
    ex.record.call_id = call.id
    status = 201 if ex.form is Form.SPEC_2021 else 200
    return JSONResponse({"callLegId": call.id}, status_code=status)


def hang_up(ex: Exchange) -> Response:
    """``POST /calls/{callId}/Hangup``: 202; the call ends for everyone."""
    call = ex.emulator.call(ex.call_id)
    parse_body(EmptyBody, ex.body, allow_empty=True)
    call.hang_up()
    return _accepted()


def play_audio(ex: Exchange) -> Response:
    """``POST /calls/{callId}/PlayAudio``: 202 ``{"id", "status": "notStarted", ...}``."""
    call = ex.emulator.call(ex.call_id)
    body = parse_body(PlayAudioBody, ex.body)
    ex.record.operation_context = body.operation_context
    play = call.play(body.audio_file_uri, body.loop, body.operation_context)
    return JSONResponse(
        {
            "id": play.id,
            "status": "notStarted",
            "operationContext": body.operation_context,
            "resultInfo": ACCEPTED_INFO,
        },
        status_code=202,
    )


def cancel_media(ex: Exchange) -> Response:
    """``POST /calls/{callId}/CancelMediaProcessing``: 202; running prompts end with 400/8508."""
    call = ex.emulator.call(ex.call_id)
    body = parse_body(CancelMediaBody, ex.body, allow_empty=True)
    ex.record.operation_context = body.operation_context
    call.cancel_media()
    return JSONResponse(
        {
            "id": str(uuid.uuid4()),
            "status": "notStarted",
            "operationContext": body.operation_context,
            "resultInfo": ACCEPTED_INFO,
        },
        status_code=202,
    )


def invite(ex: Exchange) -> Response:
    """``POST /calls/{callId}/participants``: 202; each invitee rings."""
    call = ex.emulator.call(ex.call_id)
    body = parse_body(InviteBody, ex.body)
    ex.record.operation_context = body.operation_context
    call.invite(body.participants, body.operation_context)
    return _accepted()


def remove(ex: Exchange) -> Response:
    """``DELETE /calls/{callId}/participants/{participantId}``: 202; ParticipantsUpdated follows."""
    call = ex.emulator.call(ex.call_id)
    call.remove(str(ex.request.path_params["participant_id"]))
    return _accepted()


def _unknown(ex: Exchange) -> Response:
    raise NotFound(f"no such operation: {ex.request.url.path}")


_CALL_ACTIONS: dict[str, tuple[str, Operation]] = {
    "hangup": ("hang_up", hang_up),
    "playaudio": ("play_audio", play_audio),
    "cancelmediaprocessing": ("cancel_media_processing", cancel_media),
    "participants": ("invite_participants", invite),
}


def _endpoints(form: Form) -> list[BaseRoute]:
    async def create(request: Request) -> Response:
        return await serve(request, "create_call", create_call, form)

    async def call_action(request: Request) -> Response:
        action = str(request.path_params["action"]).lower()
        name, operation = _CALL_ACTIONS.get(action, ("unknown", _unknown))
        return await serve(request, name, operation, form)

    async def participant(request: Request) -> Response:
        if str(request.path_params["collection"]).lower() != "participants":
            return await serve(request, "unknown", _unknown, form)
        return await serve(request, "remove_participant", remove, form)

    prefix = "/calling" if form is Form.SPEC_2021 else ""
    return [
        Route(f"{prefix}/calls", create, methods=["POST"]),
        Route(f"{prefix}/calls/{{call_id}}/{{action}}", call_action, methods=["POST"]),
        Route(
            f"{prefix}/calls/{{call_id}}/{{collection}}/{{participant_id}}",
            participant,
            methods=["DELETE"],
        ),
    ]


def rest_routes() -> list[BaseRoute]:
    """The REST API's routes, in both path forms."""
    return [*_endpoints(Form.SEED), *_endpoints(Form.SPEC_2021)]
