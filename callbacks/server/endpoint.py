"""``POST /api/callbacks[/{context}]``: authenticate, read, check, parse, submit, answer.

This is the service's hot path, so it is a plain ASGI endpoint: :class:`ReceiverApp` hands it
the request ahead of Starlette's middleware and router, which cost more per request than parsing
the event does. Everything else (OPTIONS, a wrong method, other paths, a ``root_path``) goes
through Starlette as usual, and an error raised here is answered by the same exception handlers
as everywhere else (``callbacks.server.app.EXCEPTION_HANDLERS``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers, QueryParams
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from callbacks.events.base import Event
from callbacks.events.parse import parse_events
from callbacks.events.types import SubscriptionValidationEvent
from callbacks.server.auth import Authenticator
from callbacks.server.deadline import deadline
from callbacks.server.intake import Intake
from callbacks.server.limits import Limits, check_json
from callbacks.server.metrics import Metrics
from callbacks.store.records import Receipt

log = logging.getLogger("callbacks.app")

CALLBACKS_PATH = "/api/callbacks"
_CONTEXT_PREFIX = CALLBACKS_PATH + "/"

_JSON_TYPES = (
    "application/json",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
)

# The rest of a refused body is not worth reading: closing is cheaper than draining it.
_CLOSE = {"connection": "close"}

ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


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


def _too_large(limit: int) -> ApiError:
    message = f"request body is larger than {limit} bytes"
    return ApiError(413, "body_too_large", message, headers=_CLOSE)


async def read_body(receive: Receive, content_length: str | None, limits: Limits) -> bytes:
    """The body: 413 as soon as it passes the size limit, 408 if it arrives too slowly."""
    limit = limits.body_bytes
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        with deadline(limits.read_timeout):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    raise ClientDisconnect()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise ApiError(
            408,
            "request_timeout",
            f"the request body did not arrive within {limits.read_timeout:g} s",
            headers=_CLOSE,
        ) from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _validation_response(events: Sequence[Event]) -> Response | None:
    """Event Grid's subscription handshake, answered 200 with the validation code.

    Event Grid sends it alone; beside other events it is refused, since answering the
    handshake would acknowledge events that were never logged."""
    for event in events:
        if isinstance(event, SubscriptionValidationEvent):
            if len(events) > 1:
                raise ApiError(
                    400, "invalid_event",
                    "a SubscriptionValidationEvent comes alone, not with other events",
                )
            log.info("answered the Event Grid subscription validation handshake")
            return JSONResponse({"validationResponse": event.data.validation_code})
    return None


def callback_context(path: str) -> tuple[bool, str | None]:
    """(whether ``path`` is a callbacks URL, its path context)."""
    if path == CALLBACKS_PATH:
        return True, None
    if path.startswith(_CONTEXT_PREFIX):
        context = path[len(_CONTEXT_PREFIX):]
        if context and "/" not in context:
            return True, context
    return False, None


_JSON_HEADERS = [(b"content-type", b"application/json")]
_NO_QUERY = QueryParams(b"")


def _query(query_string: bytes) -> QueryParams:
    """The query's parameters; one shared (immutable) empty set for the usual URL without a
    query, which saves ~1.4 us of the ~75 us a request costs (``timeit``)."""
    return QueryParams(query_string) if query_string else _NO_QUERY


class CallbackEndpoint:
    """Receives callback posts; answers ``{"accepted", "duplicates"}`` once ``intake`` has them."""

    def __init__(
        self,
        intake: Intake,
        authenticator: Authenticator,
        limits: Limits,
        metrics: Metrics,
        errors: Mapping[Any, ErrorHandler],
    ) -> None:
        self._intake = intake
        self._authenticator = authenticator
        self._limits = limits
        self._metrics = metrics
        self._errors = errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one POST (the ASGI fast path)."""
        try:
            context = scope.get("path_params", {}).get("context")
            result = await self._accept(
                Headers(scope=scope), _query(scope["query_string"]), receive, context
            )
        except Exception as exc:
            response = await self._error_response(Request(scope, receive), exc)
            await response(scope, receive, send)
            return
        if isinstance(result, Response):
            await result(scope, receive, send)
            return
        body = b'{"accepted":%d,"duplicates":%d}' % (result.accepted, result.duplicates)
        await send({
            "type": "http.response.start",
            "status": 200,
            "headers": [*_JSON_HEADERS, (b"content-length", b"%d" % len(body))],
        })
        await send({"type": "http.response.body", "body": body})

    async def respond(self, request: Request) -> Response:
        """Answer one POST routed by Starlette (errors go to its exception handlers)."""
        result = await self._accept(
            request.headers, request.query_params, request.receive,
            request.path_params.get("context"),
        )
        if isinstance(result, Response):
            return result
        return JSONResponse({"accepted": result.accepted, "duplicates": result.duplicates})

    async def _accept(
        self, headers: Headers, query: QueryParams, receive: Receive, context: str | None
    ) -> Receipt | Response:
        await self._authenticator.authenticate(headers, query)
        if not _is_json(headers.get("content-type", "")):
            raise ApiError(
                415, "unsupported_media_type", "callbacks must be sent as application/json"
            )
        limits = self._limits
        body = await read_body(receive, headers.get("content-length"), limits)
        # Refused on the raw bytes, a hostile shape (or count) never reaches the parser.
        check_json(
            body, max_depth=limits.depth, max_string=limits.string_bytes, max_events=limits.events
        )
        events = parse_events(body)
        if len(events) > limits.events:  # a body the byte scan does not count (after a BOM)
            raise ApiError(
                413, "too_many_events", f"a request may carry at most {limits.events} events"
            )
        handshake = _validation_response(events)
        if handshake is not None:
            return handshake
        receipt = await self._intake.submit(events, context)
        self._metrics.received(events, receipt)
        return receipt

    async def _error_response(self, request: Request, exc: Exception) -> Response:
        for kind in type(exc).__mro__:
            handler = self._errors.get(kind)
            if handler is not None:
                return await handler(request, exc)
        raise exc  # not reached: the table has a handler for Exception


class ReceiverApp(Starlette):
    """Starlette, with callback posts sent straight to their :class:`CallbackEndpoint`."""

    def __init__(self, *, endpoint: CallbackEndpoint, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection or lifespan."""
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            matched, context = callback_context(scope["path"])
            if matched:
                scope["app"] = self
                scope["path_params"] = {"context": context} if context else {}
                await self.endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
