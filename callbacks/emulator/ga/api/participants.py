"""GA operations on participants: list, get, add, remove, cancel an add, move here, mute."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from callbacks.emulator.errors import NotFound
from callbacks.emulator.ga import roster
from callbacks.emulator.ga.api.calls import live_connection
from callbacks.emulator.ga.schemas import AddBody, CancelAddBody, MoveBody, MuteBody, RemoveBody
from callbacks.emulator.pipeline import Exchange
from callbacks.emulator.schemas import parse_body


def list_participants(ex: Exchange) -> Response:
    """``GET .../participants``: 200 ``{"value": [...], "nextLink": null}``."""
    connection = live_connection(ex)
    value = [p.wire() for p in connection.parties if p.connected]
    return JSONResponse({"value": value, "nextLink": None})


def get_participant(ex: Exchange) -> Response:
    """``GET .../participants/{rawId}``: 200 ``CallParticipant``."""
    connection = live_connection(ex)
    raw_id = str(ex.request.path_params["raw_id"])
    for party in connection.parties:
        if party.connected and party.identifier.raw_id == raw_id:
            return JSONResponse(party.wire())
    raise NotFound(f"participant {raw_id} is not in the call", code="8522")


def add(ex: Exchange) -> Response:
    """``POST .../participants:add``: 202 ``{participant, operationContext, invitationId}``."""
    body = parse_body(AddBody, ex.body)
    ex.record.operation_context = body.operation_context
    party = roster.add(live_connection(ex), body, ex.emulator.scenario)
    return JSONResponse(
        {
            "participant": party.wire(),
            "operationContext": body.operation_context,
            "invitationId": party.invitation_id,
        },
        status_code=202,
    )


def remove(ex: Exchange) -> Response:
    """``POST .../participants:remove``: 202 ``{operationContext}``."""
    body = parse_body(RemoveBody, ex.body)
    ex.record.operation_context = body.operation_context
    roster.remove(live_connection(ex), body)
    return JSONResponse({"operationContext": body.operation_context}, status_code=202)


def cancel_add(ex: Exchange) -> Response:
    """``POST .../participants:cancelAddParticipant``: 202 ``{invitationId, operationContext}``."""
    body = parse_body(CancelAddBody, ex.body)
    ex.record.operation_context = body.operation_context
    roster.cancel_add(live_connection(ex), body)
    return JSONResponse(
        {"invitationId": body.invitation_id, "operationContext": body.operation_context},
        status_code=202,
    )


def move_here(ex: Exchange) -> Response:
    """``POST .../participants:moveHere``: 202 ``{participants, operationContext, fromCall}``."""
    body = parse_body(MoveBody, ex.body)
    ex.record.operation_context = body.operation_context
    connection = live_connection(ex)
    source = ex.emulator.ga.connection(body.from_call)
    roster.move(connection, source, body)
    return JSONResponse(
        {
            "participants": [p.wire() for p in connection.parties if p.connected],
            "operationContext": body.operation_context,
            "fromCall": body.from_call,
        },
        status_code=202,
    )


def mute(ex: Exchange) -> Response:
    """``POST .../participants:mute``: 200 ``{operationContext}``."""
    body = parse_body(MuteBody, ex.body)
    ex.record.operation_context = body.operation_context
    roster.mute(live_connection(ex), body)
    return JSONResponse({"operationContext": body.operation_context})
