"""The emulator's Starlette application: REST API, control API, and the shared HTTP client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from callbacks.emulator.config import EmulatorConfig
from callbacks.emulator.control import control_routes
from callbacks.emulator.emulator import Emulator
from callbacks.emulator.errors import (
    EmulatorError,
    MethodNotAllowed,
    NotFound,
    error_response,
    ga_error_response,
)
from callbacks.emulator.ga.api.control import ga_control_routes
from callbacks.emulator.ga.api.routes import ga_routes
from callbacks.emulator.rest import rest_routes
from callbacks.emulator.signing import key_routes, token_control_routes
from callbacks.emulator.tokens import TokenIssuer

GA_PATHS = ("/calling/callConnections", "/calling/recordings")


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing errors (unknown path, wrong method) in the shape of the API the path belongs to:
    ``{"error": {"code", "message"}}`` under the GA paths, ``{"code", "message"}`` elsewhere."""
    assert isinstance(exc, HTTPException)
    error: EmulatorError
    if exc.status_code == 404:
        error = NotFound(f"no such resource: {request.url.path}")
    elif exc.status_code == 405:
        error = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
    else:
        error = EmulatorError(str(exc.detail))
        error.status = exc.status_code
        error.code = "HttpError"
    if request.url.path.startswith(GA_PATHS):
        return ga_error_response(error)
    return error_response(error)


def create_emulator(
    config: EmulatorConfig,
    *,
    callback_transport: httpx2.AsyncBaseTransport | None = None,
    tokens: TokenIssuer | None = None,
) -> Starlette:
    """The emulator as an ASGI app; its state is ``app.state.emulator`` (an :class:`Emulator`).

    ``callback_transport`` replaces the network for callbacks (tests pass a MockTransport);
    ``tokens`` signs callbacks with keys of the caller's (default: a fresh key pair), and its
    issuer must be ``config.token_issuer``.
    """
    emulator = Emulator(config, tokens=tokens)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx2.AsyncClient(
            transport=callback_transport,
            timeout=config.delivery.timeout,
            follow_redirects=False,
            trust_env=False,
        ) as client:
            emulator.start(client)
            try:
                yield
            finally:
                await emulator.stop()

    app = Starlette(
        routes=[
            *rest_routes(),
            *ga_routes(),
            *key_routes(),
            *control_routes(),
            *ga_control_routes(),
            *token_control_routes(),
        ],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    return app


def emulator_of(app: Starlette) -> Emulator:
    """The :class:`Emulator` behind an app made by :func:`create_emulator`."""
    emulator = app.state.emulator
    if not isinstance(emulator, Emulator):
        raise TypeError("this app was not made by create_emulator")
    return emulator
