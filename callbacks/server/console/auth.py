"""Who may see the console: a session cookie from the login form, or the API key as a bearer.

Sessions are stateless, so any replica that has the same ``--api-key`` accepts them: the cookie
holds ``<expiry>.<nonce>`` and its HMAC-SHA256 under a key derived from the API key (never the
key itself). Changing the API key ends every session. The cookie is HttpOnly, SameSite=Strict,
scoped to ``/console`` (and Secure over https).

A POST made with the cookie (retry, log out) must carry the session's CSRF token, an HMAC of the
session token under the same key: a form field, or the ``X-CSRF-Token`` header. A page of
another site cannot read it, so it cannot forge the POST. Scripts use ``Authorization: Bearer
<api key>`` instead, which a browser never sends by itself, and need no token. Keys and tokens
are compared in constant time and never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

COOKIE = "callbacks_console"
SESSION_SECONDS = 12 * 3600
"""How long a login lasts."""
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
_DERIVE = b"acs-callbacks console session v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class Access:
    """How a request is authenticated: by its session (with its CSRF token) or a bearer key."""

    session: str | None
    """The session token (cookie); None for a bearer."""
    csrf: str
    """The token a cookie-authenticated POST must echo ("" for a bearer)."""


class ConsoleAuth:
    """Sessions and bearer checks for one API key."""

    def __init__(self, api_key: str, *, clock: Callable[[], float] = time.time) -> None:
        self._api_key = api_key.encode("utf-8")
        self._key = hmac.new(self._api_key, _DERIVE, hashlib.sha256).digest()
        self._clock = clock

    def __repr__(self) -> str:
        return "ConsoleAuth(<key>)"

    def key_matches(self, given: str) -> bool:
        """Whether ``given`` is the API key."""
        return hmac.compare_digest(given.encode("utf-8"), self._api_key)

    def new_session(self) -> str:
        """A session token valid for :data:`SESSION_SECONDS`."""
        payload = f"{int(self._clock()) + SESSION_SECONDS}.{secrets.token_hex(8)}"
        return f"{payload}.{_b64(self._sign(payload))}"

    def session_valid(self, token: str) -> bool:
        """Whether ``token`` is a session this key signed that has not expired."""
        payload, _, signature = token.rpartition(".")
        expires, _, _nonce = payload.partition(".")
        if not payload or not expires.isdigit() or len(token) > 200:
            return False
        if not hmac.compare_digest(signature, _b64(self._sign(payload))):
            return False
        return int(expires) > self._clock()

    def csrf_for(self, session: str) -> str:
        """The CSRF token of a session."""
        return _b64(self._sign("csrf|" + session))

    def access(self, cookies: Mapping[str, str], authorization: str | None) -> Access | None:
        """How the request is authenticated, or None if it is not."""
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.lower() == "bearer" and given.strip():
            return Access(None, "") if self.key_matches(given.strip()) else None
        session = cookies.get(COOKIE)
        if session and self.session_valid(session):
            return Access(session, self.csrf_for(session))
        return None

    def csrf_ok(self, access: Access, given: str | None) -> bool:
        """Whether a POST with ``access`` may change anything (bearers need no token)."""
        if access.session is None:
            return True
        return given is not None and hmac.compare_digest(given, access.csrf)

    def _sign(self, text: str) -> bytes:
        return hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).digest()
