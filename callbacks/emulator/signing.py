"""Callback tokens: the emulator signs every callback as today's Call Automation does.

Each attempt to post a callback carries ``Authorization: Bearer <JWT>``: a fresh RS256 token (iss,
aud = the resource id, iat, nbf, exp, jti) from one :class:`~callbacks.emulator.tokens.TokenIssuer`
per emulator. The public keys are served at the real service's paths, so a receiver verifies the
emulator's callbacks with the same code and only another key URL::

    GET /calling/keys                                   the JWKS
    GET /calling/.well-known/acsopenidconfiguration     issuer and jwks_uri

The control API shows the signing set-up at ``GET /emulator/tokens`` and rotates the key with
``POST /emulator/tokens/rotate``. Tokens never reach the journal, the control API or a log line.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from callbacks.emulator.errors import EmulatorError, error_response
from callbacks.emulator.schemas import parse_body
from callbacks.emulator.tokens import JWKS_PATH, OPENID_CONFIGURATION_PATH, TokenIssuer


def receiver_flags(url: str, issuer: str, resource_id: str) -> list[str]:
    """The ``callbacks serve`` options that verify callbacks of the emulator at ``url``."""
    return [
        "--auth", "jwt",
        "--jwks-url", url.rstrip("/") + JWKS_PATH,
        "--jwt-issuer", issuer,
        "--jwt-audience", resource_id,
    ]


class CallbackSigner:
    """Issues each callback attempt's bearer token and publishes the keys that verify it."""

    def __init__(
        self, issuer: str, resource_id: str, lifetime: float, *, tokens: TokenIssuer | None = None
    ) -> None:
        self.tokens = tokens or TokenIssuer(issuer)
        """The key holder; tests use it to rotate keys or sign tokens of their own."""
        if self.tokens.issuer != issuer:
            raise ValueError("the token issuer's iss differs from the configured issuer")
        self.resource_id = resource_id
        self.lifetime = lifetime
        self.issued = 0
        """Tokens issued so far (one per callback attempt)."""
        self.key_fetches = 0
        """How often the key set was served."""

    def __repr__(self) -> str:
        return f"CallbackSigner(issuer={self.issuer!r}, resource_id={self.resource_id!r})"

    @property
    def issuer(self) -> str:
        """The ``iss`` of every token."""
        return self.tokens.issuer

    def authorization(self) -> dict[str, str]:
        """The ``Authorization`` header of one callback attempt, with a token of its own."""
        token = self.tokens.issue(self.resource_id, lifetime=self.lifetime)
        self.issued += 1
        return {"Authorization": f"Bearer {token}"}

    def jwks(self) -> dict[str, Any]:
        """The public key set, counted as a fetch."""
        self.key_fetches += 1
        return self.tokens.jwks()

    def describe(self, base_url: str) -> dict[str, Any]:
        """What the control API shows: where the keys are, which kids, how many tokens."""
        base = base_url.rstrip("/")
        return {
            "issuer": self.issuer,
            "audience": self.resource_id,
            "lifetime": self.lifetime,
            "jwks_uri": base + JWKS_PATH,
            "openid_configuration": base + OPENID_CONFIGURATION_PATH,
            "kids": self.tokens.kids,
            "current_kid": self.tokens.kid,
            "issued": self.issued,
            "key_fetches": self.key_fetches,
            "receiver_flags": receiver_flags(base, self.issuer, self.resource_id),
        }


def _signer(request: Request) -> CallbackSigner:
    signer: CallbackSigner = request.app.state.emulator.signer
    return signer


def base_url(request: Request) -> str:
    """The emulator's base URL as the caller reached it (scheme, host, port)."""
    return str(request.base_url).rstrip("/")


async def jwks(request: Request) -> Response:
    """``GET /calling/keys``: the JSON Web Key Set of callback tokens."""
    return JSONResponse(_signer(request).jwks())


async def openid_configuration(request: Request) -> Response:
    """``GET /calling/.well-known/acsopenidconfiguration``."""
    return JSONResponse(_signer(request).tokens.openid_configuration(base_url(request)))


def key_routes() -> list[BaseRoute]:
    """The key set and OpenID configuration, at the real service's paths."""
    return [
        Route(JWKS_PATH, jwks, methods=["GET"]),
        Route(OPENID_CONFIGURATION_PATH, openid_configuration, methods=["GET"]),
    ]


class _Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    keep_previous: bool = True
    """Keep publishing the old key (a rollover), or drop it (a revocation)."""


async def show_tokens(request: Request) -> Response:
    """``GET /emulator/tokens``: issuer, audience, key URLs, kids, counts, receiver flags."""
    return JSONResponse(_signer(request).describe(base_url(request)))


async def rotate_key(request: Request) -> Response:
    """``POST /emulator/tokens/rotate`` ``{"keep_previous"?}``: sign with a new key from now on."""
    try:
        body = parse_body(_Rotation, await request.body(), allow_empty=True)
    except EmulatorError as exc:
        return error_response(exc)
    signer = _signer(request)
    signer.tokens.rotate(keep_previous=body.keep_previous)
    return JSONResponse(signer.describe(base_url(request)))


def token_control_routes() -> list[BaseRoute]:
    """The control API's routes about callback tokens."""
    return [
        Route("/emulator/tokens", show_tokens, methods=["GET"]),
        Route("/emulator/tokens/rotate", rotate_key, methods=["POST"]),
    ]
