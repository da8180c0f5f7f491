"""Callback authentication: who may post events to the endpoint.

Modes, chosen by configuration: ``secret`` (a shared secret in the callbackUri's query, the
default), ``jwt`` (the service's bearer token, see :mod:`callbacks.server.jwt`), ``jwt+secret``
(both) and ``none`` (explicit). Every failure raises :class:`AuthError`, which the endpoint
answers with 401 ``{"code", "message"}``; messages never echo what the caller sent. When the
request cannot be judged at all (the service's signing keys cannot be fetched), the answer is
:class:`AuthUnavailable`, 503: a server-side outage, which senders retry, not a verdict on their
credentials.

Event Grid deliveries (incoming calls, recording files: every request Event Grid sends carries
the ``aeg-event-type`` header) never carry the Call Automation JWT: Event Grid authenticates a
webhook by a secret in its URL. :class:`EventGridAware` therefore authenticates them by the
query secret in every mode, and everything else as the mode says.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from typing import Protocol

log = logging.getLogger("callbacks.auth")

SECRET_PARAM = "secret"


class AuthError(Exception):
    """A request failed authentication: HTTP 401 with this code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class AuthUnavailable(Exception):
    """Authentication cannot be decided now (no signing keys): HTTP 503 with this code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Authenticator(Protocol):
    """Decides whether a callback request comes from the service."""

    async def authenticate(self, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
        """Return if the request is authentic; raise :class:`AuthError` otherwise, or
        :class:`AuthUnavailable` if that cannot be decided now."""

    async def start(self) -> None:
        """Open clients or warm caches (called in the app's lifespan)."""

    async def stop(self) -> None:
        """Release what ``start`` opened."""


class _NoLifecycle:
    async def start(self) -> None:
        """Nothing to open."""

    async def stop(self) -> None:
        """Nothing to close."""


class SecretAuthenticator(_NoLifecycle):
    """Requires ``?secret=<value>`` on the callback URL, compared in constant time."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the callback secret must not be empty")
        self._secret = secret.encode()

    def __repr__(self) -> str:
        return "SecretAuthenticator(secret=***)"

    async def authenticate(self, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
        """Check the query secret."""
        given = query.get(SECRET_PARAM)
        if given is None:
            raise AuthError("missing_secret", "the callback URL carries no secret")
        if not hmac.compare_digest(given.encode(), self._secret):
            raise AuthError("wrong_secret", "the callback secret does not match")


class NoAuthenticator(_NoLifecycle):
    """Accepts every request: only for local development, chosen explicitly."""

    async def authenticate(self, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
        """Accept."""


class AllOf:
    """Requires every authenticator to pass (``jwt+secret``)."""

    def __init__(self, *authenticators: Authenticator) -> None:
        self._authenticators = authenticators

    async def authenticate(self, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
        """Run each in order; the first failure is the answer."""
        for authenticator in self._authenticators:
            await authenticator.authenticate(headers, query)

    async def start(self) -> None:
        """Start each."""
        for authenticator in self._authenticators:
            await authenticator.start()

    async def stop(self) -> None:
        """Stop each."""
        for authenticator in self._authenticators:
            await authenticator.stop()


EVENT_GRID_HEADER = "aeg-event-type"
"""Sent by Event Grid on every delivery (``Notification``, ``SubscriptionValidation``)."""


class EventGridAware:
    """Event Grid deliveries by the query secret; every other request by ``callbacks``."""

    def __init__(self, callbacks: Authenticator, event_grid: Authenticator | None) -> None:
        """``event_grid`` is None when no secret is configured: Event Grid is then refused."""
        self._callbacks = callbacks
        self._event_grid = event_grid

    async def authenticate(self, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
        """Pick the check by who sends the request."""
        if headers.get(EVENT_GRID_HEADER) is None:
            await self._callbacks.authenticate(headers, query)
        elif self._event_grid is None:
            raise AuthError(
                "secret_required",
                "Event Grid deliveries are authenticated by the ?secret= of their URL, and this "
                "receiver has no callback secret configured",
            )
        else:
            await self._event_grid.authenticate(headers, query)

    async def start(self) -> None:
        """Start both."""
        await self._callbacks.start()
        if self._event_grid is not None:
            await self._event_grid.start()

    async def stop(self) -> None:
        """Stop both."""
        await self._callbacks.stop()
        if self._event_grid is not None:
            await self._event_grid.stop()
