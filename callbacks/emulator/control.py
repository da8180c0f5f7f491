"""The control API under ``/emulator``: drive calls by hand and read what happened.

No HMAC; JSON in and out; errors ``{"code", "message"}``. Routes (documented in
``docs/emulator.md``): calls and their state, pressing tones, answering, hanging up, the request
and callback logs, repeatability counts, faults, the scenario, waiting for idle, and reset.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from callbacks.emulator.calls import Call
from callbacks.emulator.emulator import Emulator
from callbacks.emulator.errors import BadRequest, EmulatorError, error_response
from callbacks.emulator.journal import redact_url
from callbacks.emulator.participants import LegState
from callbacks.emulator.scenario import parse_scenario
from callbacks.emulator.schemas import parse_body
from callbacks.emulator.tones import parse_tones


class Who(BaseModel):
    """A control request acting as one participant (the GA control routes share it)."""

    model_config = ConfigDict(extra="forbid")

    participant: str | None = None
    """A participant id, raw id, phone number or ACS user id; None: the first one that fits."""


class Tones(Who):
    """Tones a participant presses."""

    tones: list[str]
    """``"12#"`` or ``["tone1", "pound"]``, as wire names once validated."""

    @field_validator("tones", mode="before")
    @classmethod
    def _wire_names(cls, value: Any) -> list[str]:
        if not isinstance(value, str | list):
            raise ValueError("tones must be a string like '12#' or a list of tone names")
        return parse_tones(value)


class _Forced(BaseModel):
    model_config = ConfigDict(extra="forbid")

    statuses: list[int] = Field(min_length=1)


def call_json(call: Call) -> dict[str, Any]:
    """A call as the control API shows it (the callback URL's secret masked)."""
    return {
        "call_id": call.id,
        "state": call.state.value,
        "conversation_id": call.conversation_id,
        "subject": call.subject,
        "callback_uri": redact_url(call.callback_uri),
        "requested_call_events": sorted(call.requested_events),
        "dtmf_requested": call.dtmf_requested,
        "created_at": call.created_at.isoformat().replace("+00:00", "Z"),
        "participants": [p.to_json() for p in call.participants],
        "plays": [p.to_json() for p in call.plays],
    }


Endpoint = Callable[[Request, Emulator], Awaitable[Response]]


def _endpoint(handler: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request, request.app.state.emulator)
        except EmulatorError as exc:
            return error_response(exc)

    return endpoint


async def healthz(request: Request, emulator: Emulator) -> Response:
    """``GET /emulator/healthz``."""
    return JSONResponse({"status": "ok", "calls": len(emulator.calls)})


async def list_calls(request: Request, emulator: Emulator) -> Response:
    """``GET /emulator/calls``."""
    return JSONResponse({"calls": [call_json(c) for c in emulator.calls.values()]})


async def show_call(request: Request, emulator: Emulator) -> Response:
    """``GET /emulator/calls/{call_id}``."""
    return JSONResponse(call_json(emulator.call(request.path_params["call_id"])))


async def press_tones(request: Request, emulator: Emulator) -> Response:
    """``POST /emulator/calls/{call_id}/tones`` ``{"tones", "participant"?}``."""
    call = emulator.call(request.path_params["call_id"])
    body = parse_body(Tones, await request.body())
    participant = call.find(body.participant, LegState.CONNECTED)
    posted = call.press(participant, body.tones)
    return JSONResponse(
        {"tones": body.tones, "participant_id": participant.participant_id, "posted": posted},
        status_code=202,
    )


async def answer(request: Request, emulator: Emulator) -> Response:
    """``POST /emulator/calls/{call_id}/answer`` ``{"participant"?}``: a ringing callee picks up."""
    call = emulator.call(request.path_params["call_id"])
    body = parse_body(Who, await request.body(), allow_empty=True)
    participant = call.find(body.participant, LegState.RINGING)
    call.answer(participant)
    return JSONResponse(call_json(call))


async def hang_up(request: Request, emulator: Emulator) -> Response:
    """``POST /emulator/calls/{call_id}/hangup`` ``{"participant"?}``: one callee, or everyone."""
    call = emulator.call(request.path_params["call_id"])
    body = parse_body(Who, await request.body(), allow_empty=True)
    if body.participant is None:
        call.hang_up()
    else:
        call.leave(call.find(body.participant, LegState.CONNECTED))
    return JSONResponse(call_json(call))


async def requests_log(request: Request, emulator: Emulator) -> Response:
    """``GET /emulator/requests[?call=ID]``."""
    call_id = request.query_params.get("call")
    records = [r for r in emulator.journal.requests if call_id in (None, r.call_id)]
    return JSONResponse({"requests": [r.to_json() for r in records]})


async def callbacks_log(request: Request, emulator: Emulator) -> Response:
    """``GET /emulator/callbacks[?call=ID][&type=ShortType][&status=...]``."""
    query = request.query_params
    call_id, event_type, status = query.get("call"), query.get("type"), query.get("status")
    records = [
        r
        for r in emulator.journal.callbacks
        if call_id in (None, r.call_id)
        and event_type in (None, r.event_type)
        and status in (None, r.status)
    ]
    return JSONResponse({"callbacks": [r.to_json() for r in records]})


async def repeatability(request: Request, emulator: Emulator) -> Response:
    """``GET /emulator/repeatability``: executions per repeatability id."""
    return JSONResponse({"executions": dict(emulator.repeatability.executions)})


def _faults_json(emulator: Emulator) -> dict[str, Any]:
    return {**dataclasses.asdict(emulator.faults.config), "forced": emulator.faults.forced}


async def get_faults(request: Request, emulator: Emulator) -> Response:
    """``GET /emulator/faults``."""
    return JSONResponse(_faults_json(emulator))


class _FaultChanges(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    rate_429: float | None = None
    rate_500: float | None = None
    retry_after: int | None = None
    latency: float | None = None
    latency_jitter: float | None = None
    duplicate_rate: float | None = None
    reorder_rate: float | None = None
    reorder_delay: float | None = None
    seed: int | None = None


async def put_faults(request: Request, emulator: Emulator) -> Response:
    """``PUT /emulator/faults``: change the fields given, keep the others."""
    changes = parse_body(_FaultChanges, await request.body()).model_dump(exclude_unset=True)
    if any(value is None for name, value in changes.items() if name != "seed"):
        raise BadRequest("faults: only seed may be null")
    try:
        emulator.faults.configure(dataclasses.replace(emulator.faults.config, **changes))
    except ValueError as exc:
        raise BadRequest(f"faults: {exc}") from None
    return JSONResponse(_faults_json(emulator))


class _AnyObject(BaseModel):
    model_config = ConfigDict(extra="allow")


async def force_faults(request: Request, emulator: Emulator) -> Response:
    """``POST /emulator/faults/next`` ``{"statuses": [429, 500]}``: fail the next requests."""
    body = parse_body(_Forced, await request.body())
    try:
        emulator.faults.force(body.statuses)
    except ValueError as exc:
        raise BadRequest(f"statuses: {exc}") from None
    return JSONResponse(_faults_json(emulator))


async def get_scenario(request: Request, emulator: Emulator) -> Response:
    """``GET /emulator/scenario``."""
    return JSONResponse(emulator.scenario.model_dump(mode="json"))


async def put_scenario(request: Request, emulator: Emulator) -> Response:
    """``PUT /emulator/scenario``: replace the scenario for calls and invites from now on."""
    data = parse_body(_AnyObject, await request.body()).model_extra or {}
    try:
        emulator.scenario = parse_scenario(data)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return JSONResponse(emulator.scenario.model_dump(mode="json"))


async def wait_idle(request: Request, emulator: Emulator) -> Response:
    """``GET /emulator/idle?timeout=S``: 200 once no callback is pending, 504 after ``S``."""
    raw = request.query_params.get("timeout", "10")
    try:
        timeout = float(raw)
    except ValueError:
        raise BadRequest("timeout: expected a number of seconds") from None
    if not 0 <= timeout <= 300:
        raise BadRequest("timeout: expected 0 to 300 seconds")
    try:
        async with asyncio.timeout(timeout):
            await emulator.delivery.wait_idle()
    except TimeoutError:
        return JSONResponse(
            {"code": "Timeout", "message": f"callbacks still pending after {timeout} s"}, 504
        )
    return JSONResponse({"idle": True})


async def reset(request: Request, emulator: Emulator) -> Response:
    """``POST /emulator/reset``: back to the state at start (configured scenario and faults)."""
    await emulator.reset()
    return JSONResponse({"reset": True})


def control_routes() -> list[BaseRoute]:
    """The control API's routes."""
    table: list[tuple[str, Endpoint, str]] = [
        ("/emulator/healthz", healthz, "GET"),
        ("/emulator/calls", list_calls, "GET"),
        ("/emulator/calls/{call_id}", show_call, "GET"),
        ("/emulator/calls/{call_id}/tones", press_tones, "POST"),
        ("/emulator/calls/{call_id}/answer", answer, "POST"),
        ("/emulator/calls/{call_id}/hangup", hang_up, "POST"),
        ("/emulator/requests", requests_log, "GET"),
        ("/emulator/callbacks", callbacks_log, "GET"),
        ("/emulator/repeatability", repeatability, "GET"),
        ("/emulator/faults", get_faults, "GET"),
        ("/emulator/faults", put_faults, "PUT"),
        ("/emulator/faults/next", force_faults, "POST"),
        ("/emulator/scenario", get_scenario, "GET"),
        ("/emulator/scenario", put_scenario, "PUT"),
        ("/emulator/idle", wait_idle, "GET"),
        ("/emulator/reset", reset, "POST"),
    ]
    return [Route(path, _endpoint(handler), methods=[method]) for path, handler, method in table]
