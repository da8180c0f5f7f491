"""JwtAuthenticator against a key set served through httpx2.MockTransport.

Valid tokens come from TokenIssuer; hostile ones are built by hand. The key endpoint counts its
requests so refresh rate limiting and coalescing are observable.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import traceback
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from callbacks.emulator.tokens import TokenIssuer
from callbacks.routing import Router
from callbacks.server.app import create_app
from callbacks.server.auth import AuthError, AuthUnavailable
from callbacks.server.jwt import DEFAULT_ISSUER, JwksCache, JwtAuthenticator
from callbacks.testing import InProcessIntake
from tests.support.samples import sample_bytes

AUDIENCE = "0f0e0d0c-1111-2222-3333-444455556666"
JWKS_URL = "https://keys.test/calling/keys"
T0 = 1_700_000_000.0
INTERVAL = 30.0


class Clock:
    """A settable clock shared by the authenticator (wall time) and the cache (monotonic)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class KeyServer:
    """Serves an issuer's JWKS; can be switched down, to 500, or held until released."""

    def __init__(self, issuer: TokenIssuer) -> None:
        self.issuer = issuer
        self.requests = 0
        self.mode = "ok"
        self.gate: asyncio.Event | None = None

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests += 1
        assert request.url == JWKS_URL
        if self.gate is not None:
            await self.gate.wait()
        if self.mode == "down":
            raise httpx2.ConnectError("connection refused", request=request)
        if self.mode == "500":
            return httpx2.Response(500, text="oops")
        return httpx2.Response(200, json=self.issuer.jwks())


@pytest.fixture(scope="module")
def shared_issuer() -> TokenIssuer:
    return TokenIssuer(kid="key-1")


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


def _make(server: KeyServer, clock: Clock) -> JwtAuthenticator:
    cache = JwksCache(
        JWKS_URL,
        transport=httpx2.MockTransport(server),
        ttl=3600,
        min_refresh_interval=INTERVAL,
        clock=clock,
    )
    return JwtAuthenticator(cache, audience=AUDIENCE, leeway=30, clock=clock)


@pytest.fixture
async def server(shared_issuer: TokenIssuer) -> KeyServer:
    return KeyServer(shared_issuer)


@pytest.fixture
async def auth(server: KeyServer, clock: Clock) -> AsyncIterator[JwtAuthenticator]:
    authenticator = _make(server, clock)
    await authenticator.start()
    yield authenticator
    await authenticator.stop()


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def rejected(auth: JwtAuthenticator, headers: dict[str, str]) -> AuthError:
    with pytest.raises(AuthError) as info:
        await auth.authenticate(headers, {})
    return info.value


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": DEFAULT_ISSUER,
        "aud": AUDIENCE,
        "iat": int(T0),
        "nbf": int(T0),
        "exp": int(T0) + 300,
        "jti": "j-1",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hand_made(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    head = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    return head + "." + b64(signature)


# --- the happy path and the time claims -------------------------------------------------------


async def test_valid_token_passes(auth: JwtAuthenticator, shared_issuer: TokenIssuer) -> None:
    await auth.authenticate(bearer(shared_issuer.issue(AUDIENCE, now=T0)), {})
    # Header names and the scheme are case-insensitive.
    token = shared_issuer.issue(AUDIENCE, now=T0)
    await auth.authenticate({"Authorization": f"bearer  {token} "}, {"secret": "ignored"})


async def test_expired_token(auth: JwtAuthenticator, shared_issuer: TokenIssuer) -> None:
    error = await rejected(auth, bearer(shared_issuer.issue(AUDIENCE, now=T0 - 400)))
    assert error.code == "token_expired"
    # Expired 10 s ago is inside the 30 s leeway.
    await auth.authenticate(bearer(shared_issuer.issue(AUDIENCE, now=T0 - 310)), {})


async def test_not_yet_valid_token(auth: JwtAuthenticator, shared_issuer: TokenIssuer) -> None:
    error = await rejected(auth, bearer(shared_issuer.issue(AUDIENCE, now=T0 + 120)))
    assert error.code == "token_not_yet_valid"
    await auth.authenticate(bearer(shared_issuer.issue(AUDIENCE, now=T0 + 20)), {})
    future_iat = shared_issuer.sign(claims(iat=int(T0) + 120, nbf=None))
    assert (await rejected(auth, bearer(future_iat))).code == "token_not_yet_valid"


async def test_wrong_issuer(auth: JwtAuthenticator, shared_issuer: TokenIssuer) -> None:
    token = shared_issuer.sign(claims(iss="https://evil.example"))
    assert (await rejected(auth, bearer(token))).code == "wrong_issuer"


async def test_wrong_audience(auth: JwtAuthenticator, shared_issuer: TokenIssuer) -> None:
    token = shared_issuer.issue("another-resource", now=T0)
    assert (await rejected(auth, bearer(token))).code == "wrong_audience"
    weird = shared_issuer.sign(claims(aud={"not": "a string"}))
    assert (await rejected(auth, bearer(weird))).code == "wrong_audience"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"exp": None}, "missing_claim"),
        ({"aud": None}, "missing_claim"),
        ({"iss": None}, "missing_claim"),
        ({"exp": "tomorrow"}, "invalid_claims"),
        ({"nbf": True}, "invalid_claims"),
        ({"iat": [1]}, "invalid_claims"),
    ],
)
async def test_missing_or_mistyped_claims(
    auth: JwtAuthenticator, shared_issuer: TokenIssuer, overrides: dict[str, Any], code: str
) -> None:
    error = await rejected(auth, bearer(shared_issuer.sign(claims(**overrides))))
    assert error.code == code


# --- keys: wrong key, rotation, rate limiting, coalescing -------------------------------------


async def test_wrong_key_with_the_same_kid(
    auth: JwtAuthenticator, server: KeyServer, shared_issuer: TokenIssuer
) -> None:
    impostor = TokenIssuer(kid=shared_issuer.kid)
    error = await rejected(auth, bearer(impostor.issue(AUDIENCE, now=T0)))
    assert error.code == "bad_signature"
    assert server.requests == 1  # a known kid with a bad signature is not a reason to refetch


async def test_unknown_kid_then_refresh_finds_the_rotated_key(clock: Clock) -> None:
    issuer = TokenIssuer(kid="old")
    server = KeyServer(issuer)
    auth = _make(server, clock)
    await auth.start()
    assert server.requests == 1
    issuer.rotate(kid="new")
    token = issuer.issue(AUDIENCE, now=T0)
    # Right after the start-up fetch, a refresh is rate-limited: the new kid is unknown.
    assert (await rejected(auth, bearer(token))).code == "unknown_key"
    assert server.requests == 1
    clock.now += INTERVAL
    await auth.authenticate(bearer(token), {})
    assert server.requests == 2
    await auth.authenticate(bearer(issuer.issue(AUDIENCE, now=T0)), {})
    assert server.requests == 2
    await auth.stop()


async def test_flood_of_unknown_kids_costs_one_fetch_per_interval(
    auth: JwtAuthenticator, server: KeyServer, shared_issuer: TokenIssuer, clock: Clock
) -> None:
    clock.now += INTERVAL
    for i in range(200):
        token = shared_issuer.sign(claims(), headers={"kid": f"bogus-{i}"})
        assert (await rejected(auth, bearer(token))).code == "unknown_key"
    assert server.requests == 2  # start-up + one refresh
    clock.now += INTERVAL - 1
    await rejected(auth, bearer(shared_issuer.sign(claims(), headers={"kid": "bogus-x"})))
    assert server.requests == 2
    clock.now += 1
    await rejected(auth, bearer(shared_issuer.sign(claims(), headers={"kid": "bogus-y"})))
    assert server.requests == 3
    # Known keys keep working throughout.
    await auth.authenticate(bearer(shared_issuer.issue(AUDIENCE, now=T0)), {})


async def test_concurrent_unknown_kid_requests_share_one_fetch(clock: Clock) -> None:
    issuer = TokenIssuer(kid="a")
    server = KeyServer(issuer)
    auth = _make(server, clock)
    await auth.start()
    issuer.rotate(kid="b")
    clock.now += INTERVAL
    server.gate = asyncio.Event()
    token = issuer.issue(AUDIENCE, now=T0)
    tasks = [asyncio.create_task(auth.authenticate(bearer(token), {})) for _ in range(25)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert server.requests == 2
    server.gate.set()
    await asyncio.gather(*tasks)
    assert server.requests == 2
    await auth.stop()


# --- algorithm confusion --------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_is_rejected(
    auth: JwtAuthenticator, shared_issuer: TokenIssuer, alg: str
) -> None:
    token = hand_made({"alg": alg, "typ": "JWT", "kid": shared_issuer.kid}, claims())
    assert (await rejected(auth, bearer(token))).code == "unsupported_algorithm"


def _public_pem(issuer: TokenIssuer) -> bytes:
    public_key = issuer._keys[-1].private_key.public_key()
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
async def test_hmac_signed_with_the_public_key_is_rejected(
    auth: JwtAuthenticator, shared_issuer: TokenIssuer, alg: str
) -> None:
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    header = {"alg": alg, "typ": "JWT", "kid": shared_issuer.kid}
    unsigned = hand_made(header, claims()).rsplit(".", 1)[0]
    mac = hmac.new(_public_pem(shared_issuer), unsigned.encode(), digest).digest()
    token = unsigned + "." + b64(mac)
    assert (await rejected(auth, bearer(token))).code == "unsupported_algorithm"
    # Claiming RS256 while carrying the HMAC does not help either.
    header["alg"] = "RS256"
    unsigned = hand_made(header, claims()).rsplit(".", 1)[0]
    mac = hmac.new(_public_pem(shared_issuer), unsigned.encode(), hashlib.sha256).digest()
    assert (await rejected(auth, bearer(unsigned + "." + b64(mac)))).code == "bad_signature"


@pytest.mark.parametrize("alg", ["RS512", "PS256", "ES256", "EdDSA", None, 256])
async def test_every_other_algorithm_is_rejected(
    auth: JwtAuthenticator, shared_issuer: TokenIssuer, alg: object
) -> None:
    token = hand_made({"alg": alg, "kid": shared_issuer.kid}, claims(), b"\x01" * 256)
    assert (await rejected(auth, bearer(token))).code == "unsupported_algorithm"


# --- malformed headers ----------------------------------------------------------------------


def _segments(*parts: bytes) -> str:
    return "Bearer " + ".".join(b64(p) for p in parts)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_token"),
        ({"authorization": ""}, "missing_token"),
        ({"authorization": "Bearer"}, "missing_token"),
        ({"authorization": "Bearer    "}, "missing_token"),
        ({"authorization": "Basic dXNlcjpwYXNz"}, "unsupported_scheme"),
        ({"authorization": "garbage"}, "unsupported_scheme"),
        ({"authorization": "Bearer abc"}, "malformed_token"),
        ({"authorization": "Bearer a.b"}, "malformed_token"),
        ({"authorization": "Bearer a.b.c.d"}, "malformed_token"),
        ({"authorization": "Bearer junk.junk.junk"}, "malformed_token"),
        ({"authorization": "Bearer !!!.???.###"}, "malformed_token"),
        ({"authorization": "Bearer a.b c.d"}, "malformed_token"),
        ({"authorization": "Bearer\ta.b.c"}, "malformed_token"),
        ({"authorization": "Bearer " + "x.y.z" * 4000}, "malformed_token"),
        ({"authorization": "Bearer é.é.é"}, "malformed_token"),
        ({"authorization": _segments(b"not json", b"{}", b"sig")}, "malformed_token"),
        ({"authorization": _segments(b"[1, 2]", b"{}", b"sig")}, "malformed_token"),
        # The signature is checked before the payload is even parsed.
        ({"authorization": _segments(b'{"alg": "RS256", "kid": "key-1"}', b"[]", b"s")},
         "bad_signature"),
        ({"authorization": _segments(b'{"alg": "RS256"}', b"{}", b"sig")}, "unknown_key"),
        ({"authorization": _segments(b'{"alg": "RS256", "kid": ""}', b"{}", b"sig")},
         "unknown_key"),
        ({"authorization": _segments(b'{"alg": "RS256", "kid": 7}', b"{}", b"sig")},
         "malformed_token"),
    ],
)
async def test_malformed_authorization(
    auth: JwtAuthenticator, headers: dict[str, str], code: str
) -> None:
    assert (await rejected(auth, headers)).code == code


@pytest.mark.parametrize(
    "extension", [{"crit": ["exp"], "exp": 1}, {"b64": False, "crit": ["b64"]}, {"crit": []}]
)
async def test_critical_header_extensions_are_refused(
    auth: JwtAuthenticator, shared_issuer: TokenIssuer, extension: dict[str, Any]
) -> None:
    token = shared_issuer.sign(claims(), headers=extension)
    assert (await rejected(auth, bearer(token))).code == "malformed_token"


@pytest.mark.parametrize("payload", [b"[]", b"\xff\xfe", b"not json", b'"a string"', b"{"])
async def test_validly_signed_payload_that_is_not_a_claims_object(
    auth: JwtAuthenticator, shared_issuer: TokenIssuer, payload: bytes
) -> None:
    key = shared_issuer._keys[-1].private_key
    token = jwt.api_jws.PyJWS().encode(
        payload, key, algorithm="RS256", headers={"kid": shared_issuer.kid}
    )
    assert (await rejected(auth, bearer(token))).code == "malformed_token"


# --- key endpoint outages -------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["down", "500"])
async def test_key_endpoint_down_with_a_warm_cache(
    auth: JwtAuthenticator,
    server: KeyServer,
    shared_issuer: TokenIssuer,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    failure: str,
) -> None:
    server.mode = failure
    clock.now += 7200  # past the ttl: every token would like a refresh
    with caplog.at_level(logging.WARNING, logger="callbacks.jwks"):
        for _ in range(3):
            await auth.authenticate(bearer(shared_issuer.issue(AUDIENCE, now=clock.now)), {})
            await asyncio.sleep(0)
            await asyncio.sleep(0)
    assert server.requests == 2  # one background attempt; retries wait for the interval
    assert "JWKS refresh from https://keys.test/calling/keys failed" in caplog.text
    assert "serving 1 cached" in caplog.text


@pytest.mark.parametrize("failure", ["down", "500"])
async def test_key_endpoint_down_with_a_cold_cache(
    server: KeyServer, shared_issuer: TokenIssuer, clock: Clock, failure: str
) -> None:
    server.mode = failure
    auth = _make(server, clock)
    await auth.start()  # a failed warm-up is not fatal
    token = shared_issuer.issue(AUDIENCE, now=T0)
    # Not a verdict on the sender's credentials: 503 (retried), not 401.
    with pytest.raises(AuthUnavailable) as info:
        await auth.authenticate(bearer(token), {})
    assert info.value.code == "keys_unavailable"
    assert server.requests == 1
    server.mode = "ok"
    clock.now += INTERVAL
    await auth.authenticate(bearer(shared_issuer.issue(AUDIENCE, now=clock.now)), {})
    assert server.requests == 2
    await auth.stop()


# --- configuration and secrecy --------------------------------------------------------------


def test_audience_is_required() -> None:
    cache = JwksCache(JWKS_URL)
    with pytest.raises(TypeError, match="audience"):
        JwtAuthenticator(cache)  # type: ignore[call-arg]
    for empty in ("", "  ", None):
        with pytest.raises(ValueError, match="audience is required"):
            JwtAuthenticator(cache, audience=empty)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="leeway"):
        JwtAuthenticator(cache, audience=AUDIENCE, leeway=-1)


async def test_no_failure_message_or_log_line_contains_the_token(
    auth: JwtAuthenticator,
    shared_issuer: TokenIssuer,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pem = _public_pem(shared_issuer)
    hs_unsigned = hand_made({"alg": "HS256", "kid": shared_issuer.kid}, claims()).rsplit(".", 1)[0]
    hs = hs_unsigned + "." + b64(hmac.new(pem, hs_unsigned.encode(), hashlib.sha256).digest())
    tokens = [
        shared_issuer.issue(AUDIENCE, now=T0 - 1000),
        shared_issuer.issue(AUDIENCE, now=T0 + 1000),
        shared_issuer.issue("someone-else", now=T0),
        shared_issuer.sign(claims(iss="https://evil.example")),
        shared_issuer.sign(claims(exp="soon")),
        shared_issuer.sign(claims(), headers={"kid": "never-heard-of-it"}),
        TokenIssuer(kid=shared_issuer.kid).issue(AUDIENCE, now=T0),
        hand_made({"alg": "none", "kid": shared_issuer.kid}, claims()),
        hs,
        "abc.def.ghi",
    ]
    with caplog.at_level(logging.DEBUG):
        errors = [await rejected(auth, bearer(token)) for token in tokens]
    assert [e.code for e in errors] == [
        "token_expired",
        "token_not_yet_valid",
        "wrong_audience",
        "wrong_issuer",
        "invalid_claims",
        "unknown_key",
        "bad_signature",
        "unsupported_algorithm",
        "unsupported_algorithm",
        "malformed_token",
    ]
    assert "kid='never-heard-of-it'" in caplog.text
    assert len([r for r in caplog.records if r.name == "callbacks.auth.jwt"]) == len(tokens)
    for token, error in zip(tokens, errors, strict=True):
        # A traceback someone logs must not carry it either (no chained PyJWT exception).
        rendered = "".join(traceback.format_exception(error))
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__
        for secret in [token, *[s for s in token.split(".") if len(s) > 3]]:
            assert secret not in str(error)
            assert secret not in error.message
            assert secret not in rendered
            assert secret not in caplog.text


async def test_the_endpoint_answers_503_when_keys_cannot_be_fetched_and_logs_it_sparingly(
    server: KeyServer, shared_issuer: TokenIssuer, clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A key endpoint outage is the receiver's problem: senders retry a 503, not all a 401."""
    server.mode = "down"
    app = create_app(InProcessIntake(Router(), lambda *args: None), _make(server, clock))
    token = shared_issuer.issue(AUDIENCE, now=T0)
    transport = httpx2.ASGITransport(app)
    with caplog.at_level(logging.INFO):
        async with app.router.lifespan_context(app), httpx2.AsyncClient(
            transport=transport, base_url="http://receiver"
        ) as http:
            answers = [
                await http.post("/api/callbacks", content=sample_bytes("ga", "CallConnected"),
                                headers={"content-type": "application/json", **bearer(token)})
                for _ in range(5)
            ]
    assert {a.status_code for a in answers} == {503}
    assert answers[0].json()["code"] == "keys_unavailable"
    assert answers[0].json()["message"].endswith("retry later")
    lines = [r for r in caplog.records if "answering 503" in r.getMessage()]
    assert len(lines) == 1  # the rest are counted in the next line, not repeated
    assert token not in caplog.text
