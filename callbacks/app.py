"""The Starlette app: the callback endpoint, the Event Grid handshakes, health.

A thin adapter over the sans-I/O core: authenticate, read the body under a size limit and a
deadline, check its shape (:mod:`callbacks.limits`), parse, hand the events to the
:class:`~callbacks.intake.Intake`, answer. This is the only module that maps errors to HTTP (the
``exception_handlers`` table at the bottom). ``GET /openapi.json`` describes all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callbacks.auth import Authenticator, AuthError
from callbacks.event_types import SubscriptionValidationEvent
from callbacks.events import Event, EventParseError, parse_events
from callbacks.intake import Intake, IntakeUnavailable
from callbacks.limits import DEFAULT_BODY_LIMIT as DEFAULT_BODY_LIMIT
from callbacks.limits import DEFAULT_MAX_EVENTS as DEFAULT_MAX_EVENTS
from callbacks.limits import BodyRejected, Limits, StringTooLong, check_json
from callbacks.logs import Throttle
from callbacks.metrics import Metrics
from callbacks.openapi import OPENAPI_PATH, openapi_document

if TYPE_CHECKING:
    from callbacks.flows_api import FlowStarter

log = logging.getLogger("callbacks.app")

_JSON_TYPES = (
    "application/json",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
)


class ApiError(Exception):
    """An error answered as ``{"code", "message"}`` with an HTTP status."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type in _JSON_TYPES or media_type.endswith("+json")


# The rest of a refused body is not worth reading: closing is cheaper than draining it.
_CLOSE = {"connection": "close"}


def _too_large(limit: int) -> ApiError:
    message = f"request body is larger than {limit} bytes"
    return ApiError(413, "body_too_large", message, headers=_CLOSE)


async def _read_body(request: Request, limits: Limits) -> bytes:
    """The body: 413 as soon as it passes the size limit, 408 if it arrives too slowly."""
    limit = limits.body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    # What asyncio.timeout does at a third of its cost (~2 us, not ~7 us, a request on uvloop):
    # a timer that cancels this task, and uncancel() to tell its cancellation from any other.
    task = asyncio.current_task()
    assert task is not None
    cancelling = task.cancelling()
    expired: list[bool] = []

    def expire() -> None:
        expired.append(True)
        task.cancel()

    deadline = asyncio.get_running_loop().call_later(limits.read_timeout, expire)
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except asyncio.CancelledError:
        if expired and task.uncancel() <= cancelling:
            raise ApiError(
                408,
                "request_timeout",
                f"the request body did not arrive within {limits.read_timeout:g} s",
                headers=_CLOSE,
            ) from None
        raise
    finally:
        deadline.cancel()
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
    flows: FlowStarter | None = None,
    metrics: Metrics | None = None,
) -> Starlette:
    """Build the receiver app; ``resources`` are extra async contexts held for its lifetime.

    ``metrics`` (served at ``GET /metrics``) should be the one the intake and the REST client
    count into; by default the app has its own, counting what the endpoint sees.
    """
    limits = limits or Limits()
    metrics = metrics if metrics is not None else Metrics()
    document = openapi_document(limits)

    async def receive_callbacks(request: Request) -> Response:
        await authenticator.authenticate(request.headers, request.query_params)
        content_type = request.headers.get("content-type", "")
        if not _is_json(content_type):
            raise ApiError(
                415, "unsupported_media_type", "callbacks must be sent as application/json"
            )
        body = await _read_body(request, limits)
        # Refused on the raw bytes, a hostile shape never reaches the parser.
        check_json(body, max_depth=limits.depth, max_string=limits.string_bytes)
        events = parse_events(body)
        if len(events) > limits.events:
            raise ApiError(
                413, "too_many_events", f"a request may carry at most {limits.events} events"
            )
        handshake = _validation_response(events)
        if handshake is not None:
            return handshake
        receipt = await intake.submit(events, request.path_params.get("context"))
        metrics.received(events, receipt)
        return JSONResponse({"accepted": receipt.accepted, "duplicates": receipt.duplicates})

    async def webhook_handshake(request: Request) -> Response:
        # CloudEvents-schema Event Grid subscriptions validate with OPTIONS instead of an event.
        origin = request.headers.get("webhook-request-origin")
        headers = {"Allow": "POST, OPTIONS"}
        if origin is not None:
            headers["WebHook-Allowed-Origin"] = origin
            headers["WebHook-Allowed-Rate"] = "*"
        return Response(status_code=200, headers=headers)

    async def callbacks(request: Request) -> Response:
        # One route per path, so a 405 on it lists both methods in its Allow header.
        if request.method == "OPTIONS":
            return await webhook_handshake(request)
        return await receive_callbacks(request)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if await intake.ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable"}, status_code=503)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def prometheus(request: Request) -> Response:
        body, content_type = await metrics.exposition(request.headers.get("accept"))
        return Response(body, headers={"content-type": content_type})

    async def start_flow(request: Request) -> Response:
        if flows is None:
            raise ApiError(401, "flows_disabled", "the flows API is off on this server")
        flows.authenticate(request.headers.get("authorization"))
        body = await _read_body(request, limits)
        started = await flows.start(
            request.path_params["flow"], body, request.headers.get("idempotency-key")
        )
        return JSONResponse(started, status_code=202)

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
        Route("/api/callbacks", callbacks, methods=["POST", "OPTIONS"]),
        Route("/api/callbacks/{context}", callbacks, methods=["POST", "OPTIONS"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route(OPENAPI_PATH, openapi, methods=["GET"]),
        Route("/api/flows/{flow}", start_flow, methods=["POST"]),
        Route("/metrics", prometheus, methods=["GET"]),
    ]
    handlers = {kind: _counted(handler, metrics) for kind, handler in EXCEPTION_HANDLERS.items()}
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)


class ErrorResponse(JSONResponse):
    """An error answer ``{"code", "message"}``; ``code`` is kept for the metrics."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__({"code": code, "message": message}, status_code=status, headers=headers)
        self.code = code


_Handler = Callable[[Request, Exception], Awaitable[Response]]


def _counted(handler: _Handler, metrics: Metrics) -> _Handler:
    """``handler``, counting each error answer it gives by status and code."""

    async def answer(request: Request, exc: Exception) -> Response:
        response = await handler(request, exc)
        metrics.rejected(response.status_code, getattr(response, "code", "http_error"))
        return response

    return answer


def _error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    return ErrorResponse(status, code, message, headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _error(exc.status, exc.code, exc.message, exc.headers)


async def _body_rejected(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BodyRejected)
    return _error(413 if isinstance(exc, StringTooLong) else 400, exc.code, exc.message)


async def _auth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    log.warning("rejected callback on %s: %s", request.url.path, exc.code)
    return _error(401, exc.code, exc.message)


async def _parse_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EventParseError)
    return _error(400, "invalid_event", exc.message)


_UNAVAILABLE_LINES = Throttle(5.0)  # an outage would otherwise log every request


async def _unavailable(request: Request, exc: Exception) -> Response:
    held = _UNAVAILABLE_LINES()
    if held is not None:
        more = f" ({held} more 503s since the last line)" if held else ""
        log.error("event log unavailable, answering 503: %s%s", exc, more)
    return _error(503, "unavailable", "the event log cannot accept events now; retry later")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return _error(exc.status_code, code, str(exc.detail), exc.headers)


async def _client_gone(request: Request, exc: Exception) -> Response:
    log.info("client disconnected before its body was read; nothing accepted")
    return _error(400, "client_disconnected", "the request body was not received in full")


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s", request.url.path)
    return _error(500, "internal_error", "internal error; the event was not accepted")


EXCEPTION_HANDLERS: dict[int | type[Exception], _Handler]
EXCEPTION_HANDLERS = {
    ApiError: _api_error,
    BodyRejected: _body_rejected,
    AuthError: _auth_error,
    EventParseError: _parse_error,
    IntakeUnavailable: _unavailable,
    HTTPException: _http_error,
    ClientDisconnect: _client_gone,
    Exception: _unexpected,
}
