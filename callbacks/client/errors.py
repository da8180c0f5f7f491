"""What a failed Call Automation REST call raises.

The tree (catch the narrowest class that changes what the handler does)::

    CallAutomationError            any failed REST call: .status .code .message .request_id
    ├── ClientError                a 4xx the service answered (408, 409, ... after retries)
    │   ├── BadRequest             400: the request is wrong; retrying it will not help
    │   ├── Unauthorized           401 / 403: bad key, bad signature or clock skew
    │   ├── CallNotFound           404: the call (or participant) is gone, e.g. already hung up
    │   └── Throttled              429 after every retry; .retry_after when the service said
    ├── ServerError                5xx after every retry
    ├── NoResponse                 no HTTP answer: connection refused, timeout (.status is None)
    └── InvalidResponse            a 2xx whose body is not the documented shape

:func:`call_gone` tells the answers that mean the call has ended or never existed from the
rest: the one place that knows them.

Messages carry the method, path, status, the service's ``code``/``message`` and the request id
(``x-ms-client-request-id``, ``x-ms-request-id`` or our ``Repeatability-Request-ID``), never a
header value that authenticates.
"""

from __future__ import annotations

import json
import re

import httpx2

_REQUEST_ID_HEADERS = ("x-ms-client-request-id", "x-ms-request-id", "repeatability-request-id")
_SNIPPET = 200
_TAGS = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_GONE_CODES = frozenset({"CallEnded", "CallNotFound"})
"""The ``code`` of a 400 that says the call has ended (the call is gone, not the request bad)."""


class CallAutomationError(Exception):
    """A REST call to Call Automation failed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.method = method
        self.path = path
        super().__init__(self._describe())

    def _describe(self) -> str:
        head = f"{self.method} {self.path}".strip()
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        code = f" {self.code}" if self.code else ""
        rid = f" (request id {self.request_id})" if self.request_id else ""
        return f"{head}: {status}{code}: {self.message}{rid}" if head else (
            f"{status}{code}: {self.message}{rid}"
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


class ClientError(CallAutomationError):
    """The service rejected the request with a 4xx."""


class BadRequest(ClientError):
    """400: the request is malformed or not valid in the call's state."""


class Unauthorized(ClientError):
    """401 or 403: the signature, the key or the clock is wrong."""


class CallNotFound(ClientError):
    """404: the call or participant does not exist (any more)."""


class Throttled(ClientError):
    """429 that outlasted the retries; ``retry_after`` is the service's hint in seconds."""

    retry_after: float | None = None


class ServerError(CallAutomationError):
    """5xx that outlasted the retries."""


class NoResponse(CallAutomationError):
    """No HTTP answer arrived (connection error or timeout) within the retries."""


class InvalidResponse(CallAutomationError):
    """A 2xx answer whose body is not what the API documents."""


def error_class(status: int) -> type[CallAutomationError]:
    """The exception class for an HTTP status (the one status mapping of the client)."""
    if status == 400:
        return BadRequest
    if status in (401, 403):
        return Unauthorized
    if status == 404:
        return CallNotFound
    if status == 429:
        return Throttled
    if 400 <= status < 500:
        return ClientError
    if status >= 500:
        return ServerError
    return CallAutomationError


def call_gone(error: CallAutomationError) -> bool:
    """Whether ``error`` says the call has ended or does not exist: nothing done on it can
    succeed any more, so retrying is pointless (404, or a 400 ``CallEnded``)."""
    return isinstance(error, CallNotFound) or (
        isinstance(error, BadRequest) and error.code in _GONE_CODES
    )


def request_id_of(response: httpx2.Response) -> str | None:
    """The first request id found in the response's headers, then in the request's."""
    for headers in (response.headers, response.request.headers):
        for name in _REQUEST_ID_HEADERS:
            value = headers.get(name)
            if value:
                return value
    return None


def request_path(request: httpx2.Request) -> str:
    """The request's path as sent, without the query (for messages and logs)."""
    return request.url.raw_path.decode("ascii").partition("?")[0]


def _code_and_message(response: httpx2.Response) -> tuple[str | None, str]:
    """Read ``{"code", "message"}`` (or ``{"error": {...}}``); otherwise describe the body."""
    reason = response.reason_phrase or "error"
    body = response.content
    if not body.strip():
        return None, f"{reason} (empty body)"
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict):
        inner = data.get("error")
        source = inner if isinstance(inner, dict) else data
        code, message = source.get("code"), source.get("message")
        if isinstance(code, str | int) or isinstance(message, str):
            return (
                str(code) if isinstance(code, str | int) and code != "" else None,
                message if isinstance(message, str) and message else reason,
            )
    # Control characters would let a hostile body forge log lines.
    text = "".join(c if c.isprintable() else " " for c in body[:4096].decode("utf-8", "replace"))
    text = _SPACE.sub(" ", _TAGS.sub(" ", text)).strip()
    if len(text) > _SNIPPET:
        text = text[:_SNIPPET] + "..."
    if not text:
        return None, f"{reason} (body without text)"
    return None, reason if text.casefold() == reason.casefold() else f"{reason}: {text}"


def error_from_response(
    response: httpx2.Response, *, retry_after: float | None = None
) -> CallAutomationError:
    """Build the error a non-2xx ``response`` means."""
    code, message = _code_and_message(response)
    request = response.request
    error = error_class(response.status_code)(
        message,
        status=response.status_code,
        code=code,
        request_id=request_id_of(response),
        method=request.method,
        path=request_path(request),
    )
    if isinstance(error, Throttled):
        error.retry_after = retry_after
    return error
