"""The Starlette app: the callback endpoint, the Event Grid handshakes, health.

A thin adapter over the sans-I/O core. The callback endpoint itself (authenticate, read the body
under a size limit and a deadline, check its shape, parse, hand the events to the
:class:`~callbacks.server.intake.Intake`, answer) is :mod:`callbacks.server.endpoint`. This is the
only module that maps errors to HTTP (the ``exception_handlers`` table at the bottom). ``GET
/openapi.json`` describes all of it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from callbacks.events.parse import EventParseError
from callbacks.server.auth import Authenticator, AuthError, AuthUnavailable
from callbacks.server.endpoint import CALLBACKS_PATH, CallbackEndpoint, ReceiverApp, read_body
from callbacks.server.endpoint import ApiError as ApiError
from callbacks.server.intake import Intake, IntakeUnavailable
from callbacks.server.limits import DEFAULT_BODY_LIMIT as DEFAULT_BODY_LIMIT
from callbacks.server.limits import DEFAULT_MAX_EVENTS as DEFAULT_MAX_EVENTS
from callbacks.server.limits import BodyRejected, Limits
from callbacks.server.logs import Throttle
from callbacks.server.metrics import Metrics
from callbacks.server.openapi import OPENAPI_PATH, openapi_document

if TYPE_CHECKING:
    from callbacks.server.console import Console
    from callbacks.server.flows import FlowStarter

log = logging.getLogger("callbacks.app")


def create_app(
    intake: Intake,
    authenticator: Authenticator,
    *,
    limits: Limits | None = None,
    resources: Sequence[Callable[[], contextlib.AbstractAsyncContextManager[object]]] = (),
    flows: FlowStarter | None = None,
    metrics: Metrics | None = None,
    console: Console | None = None,
) -> Starlette:
    """Build the receiver app; ``resources`` are extra async contexts held for its lifetime.

    With a ``console``, ``/console`` serves it and ``GET /`` redirects there.

    ``metrics`` (served at ``GET /metrics``) should be the one the intake and the REST client
    count into; by default the app has its own, counting what the endpoint sees.
    """
    limits = limits or Limits()
    metrics = metrics if metrics is not None else Metrics()
    document = openapi_document(limits)
    handlers = {kind: _counted(handler, metrics) for kind, handler in EXCEPTION_HANDLERS.items()}
    endpoint = CallbackEndpoint(intake, authenticator, limits, metrics, handlers)

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
        return await endpoint.respond(request)

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
        body = await read_body(request.receive, request.headers.get("content-length"), limits)
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

    routes: list[BaseRoute] = [
        Route(CALLBACKS_PATH, callbacks, methods=["POST", "OPTIONS"]),
        Route(CALLBACKS_PATH + "/{context}", callbacks, methods=["POST", "OPTIONS"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route(OPENAPI_PATH, openapi, methods=["GET"]),
        Route("/api/flows/{flow}", start_flow, methods=["POST"]),
        Route("/metrics", prometheus, methods=["GET"]),
    ]
    if console is not None:
        routes += console.routes
    app = ReceiverApp(
        endpoint=endpoint, routes=routes, lifespan=lifespan, exception_handlers=handlers
    )
    app.state.console = console
    return app


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
    return _error(exc.status, exc.code, exc.message)


async def _auth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    log.warning("rejected callback on %s: %s", request.url.path, exc.code)
    return _error(401, exc.code, exc.message)


async def _auth_unavailable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthUnavailable)
    return _error(503, exc.code, exc.message)


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
    AuthUnavailable: _auth_unavailable,
    EventParseError: _parse_error,
    IntakeUnavailable: _unavailable,
    HTTPException: _http_error,
    ClientDisconnect: _client_gone,
    Exception: _unexpected,
}
