"""The Starlette app: the callback endpoint, the Event Grid handshakes, health.

A thin adapter over the sans-I/O core: authenticate, read the body under a limit, parse,
hand the events to the :class:`~callbacks.intake.Intake`, answer. This is the only module that
maps errors to HTTP (the ``exception_handlers`` table at the bottom).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callbacks.auth import Authenticator, AuthError
from callbacks.event_types import SubscriptionValidationEvent
from callbacks.events import Event, EventParseError, parse_events
from callbacks.intake import Intake, IntakeUnavailable

log = logging.getLogger("callbacks.app")

DEFAULT_BODY_LIMIT = 1024 * 1024
DEFAULT_MAX_EVENTS = 1000
_JSON_TYPES = (
    "application/json",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
)


@dataclass(frozen=True, slots=True)
class Limits:
    """What one callback request may carry."""

    body_bytes: int = DEFAULT_BODY_LIMIT
    events: int = DEFAULT_MAX_EVENTS


class ApiError(Exception):
    """An error answered as ``{"code", "message"}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type in _JSON_TYPES or media_type.endswith("+json")


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes ``limit`` (not after reading it all)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "body_too_large", f"request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _validation_response(events: Sequence[Event]) -> Response | None:
    """Event Grid's subscription handshake, answered 200 with the validation code."""
    for event in events:
        if isinstance(event, SubscriptionValidationEvent):
            log.info("answered the Event Grid subscription validation handshake")
            return JSONResponse({"validationResponse": event.data.validation_code})
    return None


def create_app(
    intake: Intake,
    authenticator: Authenticator,
    *,
    limits: Limits | None = None,
    resources: Sequence[Callable[[], contextlib.AbstractAsyncContextManager[object]]] = (),
) -> Starlette:
    """Build the receiver app; ``resources`` are extra async contexts held for its lifetime."""
    limits = limits or Limits()

    async def receive_callbacks(request: Request) -> Response:
        await authenticator.authenticate(request.headers, request.query_params)
        content_type = request.headers.get("content-type", "")
        if not _is_json(content_type):
            raise ApiError(
                415, "unsupported_media_type", "callbacks must be sent as application/json"
            )
        body = await _read_body(request, limits.body_bytes)
        events = parse_events(body)
        if len(events) > limits.events:
            raise ApiError(
                413, "too_many_events", f"a request may carry at most {limits.events} events"
            )
        handshake = _validation_response(events)
        if handshake is not None:
            return handshake
        receipt = await intake.submit(events, request.path_params.get("context"))
        return JSONResponse({"accepted": receipt.accepted, "duplicates": receipt.duplicates})

    async def webhook_handshake(request: Request) -> Response:
        # CloudEvents-schema Event Grid subscriptions validate with OPTIONS instead of an event.
        origin = request.headers.get("webhook-request-origin")
        headers = {"Allow": "POST, OPTIONS"}
        if origin is not None:
            headers["WebHook-Allowed-Origin"] = origin
            headers["WebHook-Allowed-Rate"] = "*"
        return Response(status_code=200, headers=headers)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if await intake.ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable"}, status_code=503)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for resource in resources:
                await stack.enter_async_context(resource())
            await authenticator.start()
            stack.push_async_callback(authenticator.stop)
            await intake.start()
            stack.push_async_callback(intake.stop)
            yield

    routes = [
        Route("/api/callbacks", receive_callbacks, methods=["POST"]),
        Route("/api/callbacks/{context}", receive_callbacks, methods=["POST"]),
        Route("/api/callbacks", webhook_handshake, methods=["OPTIONS"]),
        Route("/api/callbacks/{context}", webhook_handshake, methods=["OPTIONS"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=EXCEPTION_HANDLERS)


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"code": code, "message": message}, status_code=status)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _error(exc.status, exc.code, exc.message)


async def _auth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    log.warning("rejected callback on %s: %s", request.url.path, exc.code)
    return _error(401, exc.code, exc.message)


async def _parse_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EventParseError)
    return _error(400, "invalid_event", exc.message)


async def _unavailable(request: Request, exc: Exception) -> Response:
    log.error("event log unavailable, answering 503: %s", exc)
    return _error(503, "unavailable", "the event log cannot accept events now; retry later")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return _error(exc.status_code, code, str(exc.detail))


async def _client_gone(request: Request, exc: Exception) -> Response:
    log.info("client disconnected before its body was read; nothing accepted")
    return _error(400, "client_disconnected", "the request body was not received in full")


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s", request.url.path)
    return _error(500, "internal_error", "internal error; the event was not accepted")


EXCEPTION_HANDLERS: dict[int | type[Exception], Callable[[Request, Exception], Awaitable[Response]]]
EXCEPTION_HANDLERS = {
    ApiError: _api_error,
    AuthError: _auth_error,
    EventParseError: _parse_error,
    IntakeUnavailable: _unavailable,
    HTTPException: _http_error,
    ClientDisconnect: _client_gone,
    Exception: _unexpected,
}
