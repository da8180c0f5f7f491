"""The control API's GA routes: ring the application, and drive or read GA calls by hand.

No HMAC; JSON in and out; errors ``{"code", "message"}`` like the rest of ``/emulator``.
A participant is named by raw id, phone number or ACS user id; omitted, the first that fits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from callbacks.emulator.control import Tones, Who
from callbacks.emulator.emulator import Emulator
from callbacks.emulator.errors import EmulatorError, error_response
from callbacks.emulator.ga import ringing
from callbacks.emulator.ga.party import PartyState
from callbacks.emulator.schemas import parse_body
from callbacks.identifiers import Identifier


class _Ring(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    caller: Identifier = Field(alias="from")
    callee: Identifier = Field(alias="to")
    caller_display_name: str = Field(default="", alias="callerDisplayName")

    @field_validator("caller", "callee", mode="before")
    @classmethod
    def _phone(cls, value: Any) -> Any:
        # "+14255550100" is a phone number, whose raw id is "4:+14255550100"
        if isinstance(value, str) and value.startswith("+"):
            return {"phoneNumber": {"value": value}}
        return value


class _Speech(Who):
    text: str = Field(min_length=1)


Endpoint = Callable[[Request, Emulator], Awaitable[Response]]


def _endpoint(handler: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request, request.app.state.emulator)
        except EmulatorError as exc:
            return error_response(exc)

    return endpoint


async def ring(request: Request, emulator: Emulator) -> Response:
    """``POST /emulator/incoming-calls`` ``{"from", "to", "callerDisplayName"?}``: 202."""
    body = parse_body(_Ring, await request.body())
    call = await emulator.ga.ring(body.caller, body.callee, body.caller_display_name)
    return JSONResponse(call.to_json(), status_code=202)


async def incoming_calls(request: Request, emulator: Emulator) -> Response:
    """``GET /emulator/incoming-calls``."""
    subscription = emulator.ga.subscription
    return JSONResponse(
        {
            "subscription": None if subscription is None else {
                "url": subscription.shown_url, "validated": subscription.validated,
            },
            "incoming_calls": [call.to_json() for call in emulator.ga.incoming.values()],
        }
    )


async def connections(request: Request, emulator: Emulator) -> Response:
    """``GET /emulator/connections``."""
    return JSONResponse({"connections": [c.to_json() for c in emulator.ga.connections.values()]})


async def connection(request: Request, emulator: Emulator) -> Response:
    """``GET /emulator/connections/{id}``."""
    return JSONResponse(emulator.ga.connection(request.path_params["call_id"]).to_json())


async def press(request: Request, emulator: Emulator) -> Response:
    """``POST /emulator/connections/{id}/tones`` ``{"tones", "participant"?}``: 202."""
    call = emulator.ga.connection(request.path_params["call_id"])
    body = parse_body(Tones, await request.body())
    party = call.find(body.participant, PartyState.CONNECTED)
    call.press(party, body.tones)
    return JSONResponse({"tones": body.tones, "participant": party.identifier.raw_id}, 202)


async def speak(request: Request, emulator: Emulator) -> Response:
    """``POST /emulator/connections/{id}/speech`` ``{"text", "participant"?}``: 202."""
    call = emulator.ga.connection(request.path_params["call_id"])
    body = parse_body(_Speech, await request.body())
    party = call.find(body.participant, PartyState.CONNECTED)
    call.media.speech(party, body.text)
    return JSONResponse({"text": body.text, "participant": party.identifier.raw_id}, 202)


async def answer(request: Request, emulator: Emulator) -> Response:
    """``POST /emulator/connections/{id}/answer`` ``{"participant"?}``: a ringing one picks up."""
    call = emulator.ga.connection(request.path_params["call_id"])
    body = parse_body(Who, await request.body(), allow_empty=True)
    ringing.answered(call, call.find(body.participant, PartyState.RINGING))
    return JSONResponse(call.to_json())


async def hang_up(request: Request, emulator: Emulator) -> Response:
    """``POST /emulator/connections/{id}/hangup`` ``{"participant"?}``: one participant hangs
    up; without one, every participant does (the call ends)."""
    call = emulator.ga.connection(request.path_params["call_id"])
    body = parse_body(Who, await request.body(), allow_empty=True)
    if body.participant is not None:
        call.leave(call.find(body.participant, PartyState.CONNECTED))
    else:
        for party in [p for p in call.parties if p.connected]:
            call.leave(party)
    return JSONResponse(call.to_json())


async def recordings(request: Request, emulator: Emulator) -> Response:
    """``GET /emulator/recordings``."""
    return JSONResponse({"recordings": [r.to_json() for r in emulator.ga.recordings.values()]})


def ga_control_routes() -> list[BaseRoute]:
    """The control API's GA routes."""
    table: list[tuple[str, Endpoint, str]] = [
        ("/emulator/incoming-calls", ring, "POST"),
        ("/emulator/incoming-calls", incoming_calls, "GET"),
        ("/emulator/connections", connections, "GET"),
        ("/emulator/connections/{call_id}", connection, "GET"),
        ("/emulator/connections/{call_id}/tones", press, "POST"),
        ("/emulator/connections/{call_id}/speech", speak, "POST"),
        ("/emulator/connections/{call_id}/answer", answer, "POST"),
        ("/emulator/connections/{call_id}/hangup", hang_up, "POST"),
        ("/emulator/recordings", recordings, "GET"),
    ]
    return [Route(path, _endpoint(handler), methods=[method]) for path, handler, method in table]
