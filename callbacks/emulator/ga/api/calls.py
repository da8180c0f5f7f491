"""GA operations on call connections: create, answer, redirect, reject, connect, get, hang up,
terminate, transfer."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from callbacks.emulator.ga import codes, roster
from callbacks.emulator.ga.connection import Connection
from callbacks.emulator.ga.schemas import (
    AnswerBody,
    Body,
    ConnectBody,
    CreateCallBody,
    RedirectBody,
    RejectBody,
    TransferBody,
)
from callbacks.emulator.pipeline import Exchange
from callbacks.emulator.schemas import parse_body


def live_connection(ex: Exchange) -> Connection:
    """The connection of the ``{callConnectionId}`` path parameter, if it has not ended."""
    connection = ex.emulator.ga.connection(ex.call_id)
    if connection.ended:
        connection.require_connected()
    return connection


def _properties(ex: Exchange, connection: Connection, status: int) -> Response:
    ex.record.call_id = connection.id
    return JSONResponse(connection.properties(), status_code=status)


def create_call(ex: Exchange) -> Response:
    """``POST /calling/callConnections``: 201 properties; the targets start ringing."""
    body = parse_body(CreateCallBody, ex.body)
    ex.record.operation_context = body.operation_context
    return _properties(ex, ex.emulator.ga.create(body), 201)


def answer_call(ex: Exchange) -> Response:
    """``POST /calling/callConnections:answer``: 200 properties; CallConnected follows."""
    body = parse_body(AnswerBody, ex.body)
    ex.record.operation_context = body.operation_context
    return _properties(ex, ex.emulator.ga.answer(body), 200)


def connect_call(ex: Exchange) -> Response:
    """``POST /calling/callConnections:connect``: 200 properties."""
    body = parse_body(ConnectBody, ex.body)
    ex.record.operation_context = body.operation_context
    return _properties(ex, ex.emulator.ga.connect(body), 200)


def redirect_call(ex: Exchange) -> Response:
    """``POST /calling/callConnections:redirect``: 204."""
    ex.emulator.ga.redirect(parse_body(RedirectBody, ex.body))
    return Response(status_code=204)


def reject_call(ex: Exchange) -> Response:
    """``POST /calling/callConnections:reject``: 204."""
    ex.emulator.ga.reject(parse_body(RejectBody, ex.body))
    return Response(status_code=204)


def get_call(ex: Exchange) -> Response:
    """``GET /calling/callConnections/{id}``: 200 properties."""
    return JSONResponse(live_connection(ex).properties())


def hang_up(ex: Exchange) -> Response:
    """``DELETE /calling/callConnections/{id}``: 204; this leg leaves, CallDisconnected."""
    live_connection(ex).end(codes.ENDED_BY_APP)
    return Response(status_code=204)


def terminate(ex: Exchange) -> Response:
    """``POST /calling/callConnections/{id}:terminate``: 204; the call ends for everyone."""
    parse_body(Body, ex.body, allow_empty=True)
    live_connection(ex).end(codes.ENDED_BY_APP)
    return Response(status_code=204)


def transfer(ex: Exchange) -> Response:
    """``POST .../{id}:transferToParticipant``: 202; the target rings."""
    body = parse_body(TransferBody, ex.body)
    ex.record.operation_context = body.operation_context
    roster.transfer(live_connection(ex), body, ex.emulator.scenario)
    return JSONResponse({"operationContext": body.operation_context}, status_code=202)
