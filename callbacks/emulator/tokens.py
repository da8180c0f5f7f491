"""A small RS256 token issuer: what Call Automation does to sign the callbacks it posts.

The local emulator signs every callback with a :class:`TokenIssuer` and serves its key set and
OpenID configuration at the real service's paths, so the receiver's JWT verification runs end
to end; tests use it to make valid tokens and to rotate keys. The private key never leaves the
object: it is not in ``repr``, ``jwks()`` or any message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

DEFAULT_ISSUER = "https://acscallautomation.communication.azure.com"
JWKS_PATH = "/calling/keys"
OPENID_CONFIGURATION_PATH = "/calling/.well-known/acsopenidconfiguration"
ALGORITHM = "RS256"
MIN_KEY_SIZE = 2048


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class _SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    def public_jwk(self) -> dict[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": ALGORITHM,
            "kid": self.kid,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
        }


def jwk_thumbprint(jwk: Mapping[str, str]) -> str:
    """RFC 7638 SHA-256 thumbprint of an RSA public JWK, base64url without padding."""
    canonical = json.dumps(
        {"e": jwk["e"], "kty": jwk["kty"], "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class TokenIssuer:
    """Holds RSA signing keys and issues short-lived RS256 callback tokens."""

    def __init__(
        self, issuer: str = DEFAULT_ISSUER, *, key_size: int = 2048, kid: str | None = None
    ) -> None:
        if not isinstance(issuer, str) or not issuer.strip():
            raise ValueError("token issuer must be a non-empty string")
        if key_size < MIN_KEY_SIZE:
            raise ValueError(f"RSA key size must be at least {MIN_KEY_SIZE} bits")
        self._issuer = issuer
        self._key_size = key_size
        # Newest last; older keys stay published so tokens signed before a rotation still verify.
        self._keys: list[_SigningKey] = [self._generate(kid)]

    def _generate(self, kid: str | None) -> _SigningKey:
        # Generation costs ~50-100 ms: done once per issuer and once per rotation, never per token.
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=self._key_size)
        if kid is None:
            kid = jwk_thumbprint(_SigningKey("", private_key).public_jwk())
        elif not isinstance(kid, str) or not kid:
            raise ValueError("kid must be a non-empty string")
        return _SigningKey(kid, private_key)

    def __repr__(self) -> str:
        return f"TokenIssuer(issuer={self._issuer!r}, kid={self.kid!r})"

    @property
    def issuer(self) -> str:
        """The ``iss`` claim of every token this issuer makes."""
        return self._issuer

    @property
    def kid(self) -> str:
        """The key id of the current signing key."""
        return self._keys[-1].kid

    @property
    def kids(self) -> list[str]:
        """Key ids of every published key, oldest first."""
        return [key.kid for key in self._keys]

    def rotate(self, *, kid: str | None = None, keep_previous: bool = True) -> str:
        """Switch to a freshly generated key and return its kid.

        With ``keep_previous`` the old public keys stay in :meth:`jwks`, as a real key set does
        during a rollover; without it only the new key is published.
        """
        new_key = self._generate(kid)
        if any(key.kid == new_key.kid for key in self._keys):
            raise ValueError("kid is already in use by this issuer")
        self._keys = [*self._keys, new_key] if keep_previous else [new_key]
        return new_key.kid

    def jwks(self) -> dict[str, Any]:
        """The public JSON Web Key Set, as served at ``/calling/keys``."""
        return {"keys": [key.public_jwk() for key in self._keys]}

    def openid_configuration(self, base_url: str) -> dict[str, Any]:
        """The OpenID configuration document served beside the key set under ``base_url``."""
        base = base_url.rstrip("/")
        return {
            "issuer": self._issuer,
            "jwks_uri": base + JWKS_PATH,
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "token_endpoint_auth_signing_alg_values_supported": [ALGORITHM],
        }

    def sign(self, claims: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None) -> str:
        """Sign arbitrary ``claims`` with the current key (RS256, ``kid`` header); for tests too."""
        key = self._keys[-1]
        all_headers = {"kid": key.kid, "typ": "JWT", **(headers or {})}
        return jwt.encode(dict(claims), key.private_key, algorithm=ALGORITHM, headers=all_headers)

    def issue(self, audience: str, *, lifetime: float = 300, now: float | None = None) -> str:
        """A fresh token for one callback: iss, aud, iat, nbf, exp and a unique jti."""
        if not isinstance(audience, str) or not audience:
            raise ValueError("token audience must be a non-empty string")
        if lifetime <= 0:
            raise ValueError("token lifetime must be positive")
        issued_at = int(time.time() if now is None else now)
        claims = {
            "iss": self._issuer,
            "aud": audience,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + int(lifetime),
            "jti": uuid.uuid4().hex,
        }
        return self.sign(claims)
