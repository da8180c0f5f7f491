"""Callback authentication by JWT bearer token, as Call Automation signs its callbacks today.

Every callback carries ``Authorization: Bearer <JWT>``: RS256, issued by
``https://acscallautomation.communication.azure.com`` for the ACS resource id as audience, valid
for five minutes, signed by a key from the service's JWKS (see :mod:`callbacks.server.jwks`).

Checks, in order, each failure an :class:`~callbacks.server.auth.AuthError` with its own code::

    missing_token        no Authorization header, or "Bearer" without a token
    unsupported_scheme   an Authorization scheme other than Bearer
    malformed_token      not a compact JWS (three base64url segments of JSON), or too long
    unsupported_algorithm  header alg is not RS256 (none, HS*, ES*, ... are never accepted)
    unknown_key          no kid, or a kid the key set does not have even after a refresh
    bad_signature        the signature does not verify with the named key
    missing_claim        exp, iss or aud absent
    invalid_claims       a time claim that is not a number, or an unreadable claim
    wrong_issuer / wrong_audience / token_expired / token_not_yet_valid

A token whose key cannot be had (the key endpoint is down or too slow, see
:mod:`callbacks.server.jwks`) is not rejected: it raises
:class:`~callbacks.server.auth.AuthUnavailable` ``keys_unavailable``, answered 503, which
senders retry.

Neither the messages nor the log lines ever contain the token or any part of it; the log line
carries the code and the kid (a public key name, trimmed and escaped since the sender chose it).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import jwt

from callbacks.server.auth import AuthError, AuthUnavailable
from callbacks.server.jwks import DEFAULT_JWKS_URL, JwksCache, KeysUnavailable
from callbacks.server.logs import Throttle

DEFAULT_ISSUER = "https://acscallautomation.communication.azure.com"
"""The ``iss`` of the tokens Call Automation signs its callbacks with."""

__all__ = [
    "DEFAULT_ISSUER",
    "DEFAULT_JWKS_URL",
    "JwksCache",
    "JwtAuthenticator",
]

ALGORITHM = "RS256"
MAX_TOKEN_LENGTH = 8192

log = logging.getLogger("callbacks.auth.jwt")

# Failures worth an operator's attention (forgery, misconfiguration); the rest are routine.
_WARNING_CODES = frozenset(
    {
        "unsupported_algorithm",
        "bad_signature",
        "wrong_issuer",
        "wrong_audience",
        "unknown_key",
    }
)

_REQUIRED_CLAIMS = ("exp", "iss", "aud")

# Most specific first: InvalidSignatureError is a DecodeError.
_DECODE_FAILURES: tuple[tuple[type[Exception], str, str], ...] = (
    (jwt.InvalidSignatureError, "bad_signature", "the token's signature does not verify"),
    (jwt.InvalidIssuerError, "wrong_issuer", "the token was issued by an unexpected issuer"),
    (jwt.InvalidAudienceError, "wrong_audience", "the token is meant for another audience"),
    (jwt.InvalidAlgorithmError, "unsupported_algorithm", "the token must be signed with RS256"),
    (jwt.DecodeError, "malformed_token", "the bearer token is not a well-formed JWT"),
)


def _decode_failure(exc: Exception) -> tuple[str, str]:
    for kind, code, message in _DECODE_FAILURES:
        if isinstance(exc, kind):
            return code, message
    return "invalid_claims", "the token's claims could not be verified"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    # Starlette's Headers are case-insensitive; a plain dict may not be.
    for key, item in headers.items():
        if key.lower() == name:
            return item
    return None


def _loggable_kid(kid: object) -> str:
    if not isinstance(kid, str):
        return "-"
    return repr(kid[:64])


def _time_claim(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AuthError("invalid_claims", f"the token's '{name}' claim is not a NumericDate")
    return float(value)


class JwtAuthenticator:
    """Verifies the ``Authorization: Bearer`` JWT Call Automation puts on each callback."""

    def __init__(
        self,
        jwks: JwksCache,
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str,
        leeway: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(audience, str) or not audience.strip():
            raise ValueError(
                "JWT audience is required: set it to the ACS resource id "
                "(--jwt-audience or CALLBACKS_JWT_AUDIENCE)"
            )
        if not isinstance(issuer, str) or not issuer.strip():
            raise ValueError("JWT issuer must be a non-empty string")
        if leeway < 0:
            raise ValueError("JWT leeway must not be negative")
        self._jwks = jwks
        self._issuer = issuer
        self._audience = audience
        self._leeway = float(leeway)
        self._clock = clock
        self._unavailable_lines = Throttle(5.0)  # a key outage would otherwise log every request

    def __repr__(self) -> str:
        return f"JwtAuthenticator(issuer={self._issuer!r}, audience={self._audience!r})"

    async def start(self) -> None:
        """Warm the key cache (a failure is logged and retried on first use)."""
        await self._jwks.start()

    async def stop(self) -> None:
        """Close the key cache."""
        await self._jwks.stop()

    async def authenticate(self, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
        """Accept the request or raise AuthError; the query string plays no part here."""
        header: dict[str, Any] = {}
        try:
            token = self._bearer_token(headers)
            header = self._unverified_header(token)
            await self._verify(token, self._check_header(header))
        except AuthError as exc:
            level = logging.WARNING if exc.code in _WARNING_CODES else logging.INFO
            kid = _loggable_kid(header.get("kid"))
            log.log(level, "callback token rejected: %s (kid=%s)", exc.code, kid)
            raise
        except AuthUnavailable as exc:
            held = self._unavailable_lines()
            if held is not None:
                more = f" ({held} more since the last line)" if held else ""
                log.warning("callback token not verified, answering 503: %s%s", exc, more)
            raise

    @staticmethod
    def _bearer_token(headers: Mapping[str, str]) -> str:
        value = (_header(headers, "authorization") or "").strip()
        if not value:
            raise AuthError("missing_token", "no Authorization header: a Bearer token is required")
        scheme, *rest = value.split(None, 1)
        if scheme.lower() != "bearer":
            raise AuthError(
                "unsupported_scheme", "the Authorization header must use the Bearer scheme"
            )
        token = rest[0].strip() if rest else ""
        if not token:
            raise AuthError("missing_token", "the Bearer Authorization header carries no token")
        if len(token) > MAX_TOKEN_LENGTH or not token.isascii() or any(c.isspace() for c in token):
            raise AuthError("malformed_token", "the bearer token is not a well-formed JWT")
        return token

    @staticmethod
    def _unverified_header(token: str) -> dict[str, Any]:
        if token.count(".") != 2:
            raise AuthError("malformed_token", "the bearer token is not a compact JWS")
        try:
            return jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError, TypeError):
            raise AuthError("malformed_token", "the bearer token's header is unreadable") from None

    @staticmethod
    def _check_header(header: Mapping[str, Any]) -> str:
        alg = header.get("alg")
        if alg != ALGORITHM:
            raise AuthError("unsupported_algorithm", "the token must be signed with RS256")
        if "crit" in header or "b64" in header:
            # RFC 7515 4.1.11: extensions we do not implement must make the token invalid.
            raise AuthError("malformed_token", "the token uses unsupported header extensions")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("unknown_key", "the token names no signing key (kid)")
        return kid

    async def _verify(self, token: str, kid: str) -> None:
        try:
            key = await self._jwks.get_key(kid)
        except KeysUnavailable as exc:
            raise AuthUnavailable(
                "keys_unavailable", f"the signing keys are unavailable ({exc}); retry later"
            ) from None
        if key is None:
            raise AuthError("unknown_key", "the token's signing key is not in the key set")
        claims = self._decode(token, key)
        self._check_times(claims)

    def _decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        try:
            # Time claims are checked below against the injected clock, not PyJWT's.
            return jwt.decode(
                token,
                key.key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": list(_REQUIRED_CLAIMS),
                },
            )
        except jwt.MissingRequiredClaimError as exc:
            claim = exc.claim if exc.claim in _REQUIRED_CLAIMS else "a required"
            raise AuthError("missing_claim", f"the token lacks the '{claim}' claim") from None
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError) as exc:
            code, message = _decode_failure(exc)
            raise AuthError(code, message) from None

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock()
        exp = _time_claim(claims, "exp")
        nbf = _time_claim(claims, "nbf")
        iat = _time_claim(claims, "iat")
        if exp is None:
            raise AuthError("missing_claim", "the token lacks the 'exp' claim")
        if now - self._leeway >= exp:
            raise AuthError("token_expired", "the token has expired")
        if nbf is not None and now + self._leeway < nbf:
            raise AuthError("token_not_yet_valid", "the token is not valid yet (nbf)")
        if iat is not None and now + self._leeway < iat:
            raise AuthError("token_not_yet_valid", "the token was issued in the future (iat)")
