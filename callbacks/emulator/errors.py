"""The emulator's error tree and its one mapping to HTTP answers.

::

    EmulatorError (status, code, message)
    ├── BadRequest          400  a body, header or query parameter is wrong (the message names it)
    ├── Unauthorized        401  missing or wrong HMAC signature, body hash or date
    ├── NotFound            404  unknown call, participant or route
    ├── MethodNotAllowed    405
    ├── Conflict            409  a repeatability id reused for a different request
    ├── PayloadTooLarge     413
    └── InjectedFault       429 / 500 / 503 answered on purpose (faults), with Retry-After

The 2021 API answers ``{"code", "message"}``; the GA API ``{"error": {"code", "message"}}``
(:func:`ga_error_response`) with the service's numeric subcode as the code where one fits
(``8522`` not found, ``8523`` invalid argument, ``7509`` HMAC validation failed).

Messages never carry a secret: no key, signature, connection string or callback query.
"""

from __future__ import annotations

from starlette.responses import JSONResponse


class EmulatorError(Exception):
    """An error answered to the caller as ``{"code", "message"}`` with ``status``."""

    status = 500
    code = "InternalServerError"
    ga_code: str | None = None
    """The GA API's code for this kind of error, unless the raiser gave one."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
            self.ga_code = code

    def headers(self) -> dict[str, str]:
        """Extra response headers (Retry-After for throttling)."""
        return {}


class ClientGone(EmulatorError):
    """The caller disconnected before its body arrived: nothing was executed (journal: 499)."""

    status = 499
    code = "ClientClosedRequest"


class BadRequest(EmulatorError):
    """400: the request is malformed; the message names the field."""

    status = 400
    code = "BadRequest"
    ga_code = "8523"


class Unauthorized(EmulatorError):
    """401: authentication failed."""

    status = 401
    code = "Unauthorized"
    ga_code = "7509"


class NotFound(EmulatorError):
    """404: no such call, participant or route."""

    status = 404
    code = "NotFound"
    ga_code = "8522"


class MethodNotAllowed(EmulatorError):
    """405: the path exists but not with this method."""

    status = 405
    code = "MethodNotAllowed"
    ga_code = "8520"


class Conflict(EmulatorError):
    """409: the request conflicts with an earlier one."""

    status = 409
    code = "Conflict"
    ga_code = "8519"


class PayloadTooLarge(EmulatorError):
    """413: the body is larger than the emulator accepts."""

    status = 413
    code = "PayloadTooLarge"


_FAULT_CODES = {429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}


class InjectedFault(EmulatorError):
    """A 429/500/503 answered on purpose; the action is not executed."""

    def __init__(self, status: int, retry_after: int) -> None:
        super().__init__(
            f"emulated fault: HTTP {status}; the request was not executed",
            code=_FAULT_CODES.get(status, "InternalServerError"),
        )
        self.status = status
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """Retry-After on throttling and unavailability, as the service sends it."""
        return {"Retry-After": str(self.retry_after)} if self.status in (429, 503) else {}


def error_response(error: EmulatorError) -> JSONResponse:
    """The HTTP answer for ``error``."""
    return JSONResponse(
        {"code": error.code, "message": error.message},
        status_code=error.status,
        headers=error.headers(),
    )


def ga_error_response(error: EmulatorError) -> JSONResponse:
    """The HTTP answer for ``error`` in the GA API's shape."""
    return JSONResponse(
        {"error": {"code": error.ga_code or error.code, "message": error.message}},
        status_code=error.status,
        headers=error.headers(),
    )
