"""TokenIssuer: the key set it publishes, the tokens it signs, rotation, and what it never shows."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from callbacks.emulator.tokens import (
    DEFAULT_ISSUER,
    JWKS_PATH,
    OPENID_CONFIGURATION_PATH,
    TokenIssuer,
    jwk_thumbprint,
)

AUDIENCE = "0f0e0d0c-1111-2222-3333-444455556666"
NOW = 1_700_000_000


@pytest.fixture(scope="module")
def issuer() -> TokenIssuer:
    return TokenIssuer()


def _b64url_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def _verify(token: str, issuer: TokenIssuer) -> dict[str, object]:
    keys = {k["kid"]: jwt.PyJWK(k) for k in issuer.jwks()["keys"]}
    kid = jwt.get_unverified_header(token)["kid"]
    return jwt.decode(
        token,
        keys[kid].key,
        algorithms=["RS256"],
        audience=AUDIENCE,
        issuer=issuer.issuer,
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )


def test_jwks_publishes_only_the_public_rsa_key(issuer: TokenIssuer) -> None:
    (key,) = issuer.jwks()["keys"]
    assert set(key) == {"kty", "use", "alg", "kid", "n", "e"}
    assert (key["kty"], key["use"], key["alg"], key["kid"]) == ("RSA", "sig", "RS256", issuer.kid)
    assert _b64url_int(key["e"]) == 65537
    assert _b64url_int(key["n"]).bit_length() == 2048
    # The default kid is the RFC 7638 thumbprint of exactly this public key.
    assert issuer.kid == jwk_thumbprint(key)


def test_thumbprint_matches_rfc7638_example() -> None:
    # RFC 7638 section 3.1.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
        "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
        "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    assert jwk_thumbprint({"kty": "RSA", "n": n, "e": "AQAB"}) == (
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    )


def test_issue_makes_a_fresh_rs256_token_with_every_claim(issuer: TokenIssuer) -> None:
    first = issuer.issue(AUDIENCE, now=NOW)
    second = issuer.issue(AUDIENCE, now=NOW)
    header = jwt.get_unverified_header(first)
    assert header["alg"] == "RS256"
    assert header["kid"] == issuer.kid
    claims = _verify(first, issuer)
    assert claims["iss"] == DEFAULT_ISSUER
    assert claims["aud"] == AUDIENCE
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (NOW, NOW, NOW + 300)
    assert claims["jti"] != _verify(second, issuer)["jti"]
    assert first != second


def test_issue_honours_lifetime_and_defaults_to_now(issuer: TokenIssuer) -> None:
    claims = _verify(issuer.issue(AUDIENCE, lifetime=60), issuer)
    assert isinstance(claims["iat"], int)
    assert claims["exp"] == claims["iat"] + 60


def test_sign_uses_the_current_key_and_extra_headers(issuer: TokenIssuer) -> None:
    token = issuer.sign({"iss": "x", "aud": AUDIENCE}, headers={"kid": "other"})
    assert jwt.get_unverified_header(token)["kid"] == "other"


def test_openid_configuration_points_at_the_key_set(issuer: TokenIssuer) -> None:
    config = issuer.openid_configuration("http://127.0.0.1:8500/")
    assert config["issuer"] == DEFAULT_ISSUER
    assert config["jwks_uri"] == "http://127.0.0.1:8500/calling/keys"
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]
    assert JWKS_PATH == "/calling/keys"
    assert OPENID_CONFIGURATION_PATH == "/calling/.well-known/acsopenidconfiguration"


def test_rotation_publishes_a_new_kid_and_keeps_old_tokens_verifiable() -> None:
    issuer = TokenIssuer("https://emulator.local", kid="k1")
    old_token = issuer.issue(AUDIENCE, now=NOW)
    new_kid = issuer.rotate()
    assert new_kid != "k1"
    assert issuer.kid == new_kid
    assert issuer.kids == ["k1", new_kid]
    assert jwt.get_unverified_header(issuer.issue(AUDIENCE))["kid"] == new_kid
    assert _verify(old_token, issuer)["iss"] == "https://emulator.local"

    issuer.rotate(kid="k3", keep_previous=False)
    assert [k["kid"] for k in issuer.jwks()["keys"]] == ["k3"]
    with pytest.raises(ValueError, match="already in use"):
        issuer.rotate(kid="k3")


def test_bad_arguments_are_clear_errors(issuer: TokenIssuer) -> None:
    with pytest.raises(ValueError, match="at least 2048"):
        TokenIssuer(key_size=1024)
    with pytest.raises(ValueError, match="issuer"):
        TokenIssuer("")
    with pytest.raises(ValueError, match="audience"):
        issuer.issue("")
    with pytest.raises(ValueError, match="lifetime"):
        issuer.issue(AUDIENCE, lifetime=0)


def test_private_key_never_shows(issuer: TokenIssuer) -> None:
    numbers = issuer._keys[-1].private_key.private_numbers()
    pem = issuer._keys[-1].private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    shown = repr(issuer) + json.dumps(issuer.jwks()) + json.dumps(
        issuer.openid_configuration("http://x")
    )
    assert issuer.kid in repr(issuer)
    assert b"PRIVATE KEY" in pem
    assert "PRIVATE" not in shown
    assert str(numbers.d) not in shown
    assert '"d"' not in json.dumps(issuer.jwks())
