"""Callback tokens: every callback attempt carries a fresh RS256 JWT the receiver can verify."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import jwt
import pytest

from callbacks.emulator import EmulatorConfig, serve_emulator
from callbacks.emulator.config import DEFAULT_RESOURCE_ID
from callbacks.emulator.tokens import DEFAULT_ISSUER, TokenIssuer
from callbacks.server.auth import AuthError
from callbacks.server.jwt import JwksCache, JwtAuthenticator
from tests.support.emulator_harness import Env, Receiver, fast_config, running_env


def claims_of(authorization: str) -> dict[str, Any]:
    """The unverified claims of ``Bearer <token>``."""
    scheme, token = authorization.split(" ", 1)
    assert scheme == "Bearer"
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def kid_of(authorization: str) -> str:
    return str(jwt.get_unverified_header(authorization.split(" ", 1)[1])["kid"])


async def verifier(env: Env, *, issuer: str, audience: str) -> AsyncIterator[JwtAuthenticator]:
    cache = JwksCache(env.running.jwks_url, min_refresh_interval=0)
    auth = JwtAuthenticator(cache, issuer=issuer, audience=audience)
    await auth.start()
    try:
        yield auth
    finally:
        await auth.stop()


async def check(auth: JwtAuthenticator, authorization: str) -> None:
    await auth.authenticate({"authorization": authorization}, {})


async def test_every_callback_carries_a_fresh_token_the_served_keys_verify(env: Env) -> None:
    call_id = await env.established()
    await env.client.post(f"/calls/{call_id}/Hangup")
    # Establishing, Established, ParticipantsUpdated, Terminating, Terminated
    await env.receiver.wait_for(lambda r: len(env.receiver.of(call_id)) == 5)
    received = env.receiver.of(call_id)
    headers = [r.authorization for r in received]
    assert all(h.startswith("Bearer ") for h in headers)
    claims = [claims_of(h) for h in headers]
    assert len({c["jti"] for c in claims}) == len(claims)  # a token per callback
    for c in claims:
        assert (c["iss"], c["aud"]) == (DEFAULT_ISSUER, DEFAULT_RESOURCE_ID)
        assert c["exp"] - c["iat"] == 300 and c["nbf"] == c["iat"]
    async for auth in verifier(env, issuer=DEFAULT_ISSUER, audience=DEFAULT_RESOURCE_ID):
        for header in headers:
            await check(auth, header)
        with pytest.raises(AuthError) as refused:
            await check(auth, headers[0][:-4] + "AAAA")
        assert refused.value.code == "bad_signature"


async def test_a_retried_callback_gets_a_new_token_per_attempt(env: Env) -> None:
    env.receiver.answers.extend([503, 500])
    call_id = await env.create_call()
    await env.receiver.wait_types(call_id, "CallLegStateChanged")
    first_three = env.receiver.authorizations[:3]
    assert len(first_three) == 3
    assert len({claims_of(h)["jti"] for h in first_three}) == 3
    record = next(r for r in env.running.emulator.journal.callbacks if r.call_id == call_id)
    async with asyncio.timeout(5):
        while record.status != "delivered":  # noqa: ASYNC110 - journaled after the answer
            await asyncio.sleep(0.01)
    assert [a.status for a in record.attempts] == [503, 500, 200]


async def test_keys_and_openid_configuration_are_served_at_the_services_paths(env: Env) -> None:
    keys = (await env.control.get("/calling/keys")).json()
    config = (await env.control.get("/calling/.well-known/acsopenidconfiguration")).json()
    signer = env.running.emulator.signer
    assert [k["kid"] for k in keys["keys"]] == [signer.tokens.kid]
    assert {k["kty"] for k in keys["keys"]} == {"RSA"} and "d" not in keys["keys"][0]
    assert config["issuer"] == DEFAULT_ISSUER
    assert config["jwks_uri"] == env.running.jwks_url == env.running.url + "/calling/keys"
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]


async def test_the_control_api_shows_the_setup_and_counts_but_never_a_token(env: Env) -> None:
    call_id = await env.established()
    before = (await env.control.get("/emulator/tokens")).json()
    assert before["issuer"] == DEFAULT_ISSUER and before["audience"] == DEFAULT_RESOURCE_ID
    assert before["jwks_uri"] == env.running.jwks_url
    assert before["receiver_flags"] == env.running.receiver_flags
    assert before["receiver_flags"] == [
        "--auth", "jwt", "--jwks-url", env.running.jwks_url,
        "--jwt-issuer", DEFAULT_ISSUER, "--jwt-audience", DEFAULT_RESOURCE_ID,
    ]
    assert before["issued"] >= len(env.receiver.of(call_id)) >= 3
    await env.control.get("/calling/keys")
    after = (await env.control.get("/emulator/tokens")).json()
    assert after["key_fetches"] == before["key_fetches"] + 1
    tokens = [r.authorization.split(" ", 1)[1] for r in env.receiver.of(call_id)]
    shown = json.dumps(
        [
            after,
            (await env.control.get("/emulator/callbacks")).json(),
            (await env.control.get("/emulator/requests")).json(),
            (await env.control.get("/emulator/calls")).json(),
        ]
    )
    assert not any(token in shown or token.split(".")[2] in shown for token in tokens)


async def test_rotation_signs_with_the_new_key_and_keeps_or_drops_the_old(env: Env) -> None:
    signer = env.running.emulator.signer
    old = signer.tokens.kid
    rotated = await env.control.post("/emulator/tokens/rotate", json={})
    new = rotated.json()["current_kid"]
    assert rotated.status_code == 200 and new != old
    kids = [k["kid"] for k in (await env.control.get("/calling/keys")).json()["keys"]]
    assert kids == [old, new]
    call_id = await env.create_call()
    await env.receiver.wait_types(call_id, "CallLegStateChanged")
    assert kid_of(env.receiver.of(call_id)[0].authorization) == new
    dropped = await env.control.post("/emulator/tokens/rotate", json={"keep_previous": False})
    assert dropped.json()["kids"] == [dropped.json()["current_kid"]]
    bad = await env.control.post("/emulator/tokens/rotate", json={"keep_previous": "no"})
    assert bad.status_code == 400 and "keep_previous" in bad.json()["message"]


async def test_resource_id_and_issuer_are_configurable(receiver: Receiver) -> None:
    config = fast_config(resource_id="11111111-2222-3333-4444-555555555555",
                         token_issuer="http://emulator.test")
    async with running_env(config, receiver) as env:
        call_id = await env.create_call()
        await receiver.wait_types(call_id, "CallLegStateChanged")
        header = receiver.of(call_id)[0].authorization
        claims = claims_of(header)
        assert (claims["iss"], claims["aud"]) == (config.token_issuer, config.resource_id)
        assert env.running.receiver_flags[-4:] == [
            "--jwt-issuer", config.token_issuer, "--jwt-audience", config.resource_id
        ]
        async for auth in verifier(env, issuer=config.token_issuer, audience=config.resource_id):
            await check(auth, header)
        async for auth in verifier(env, issuer=DEFAULT_ISSUER, audience=config.resource_id):
            with pytest.raises(AuthError) as refused:
                await check(auth, header)
            assert refused.value.code == "wrong_issuer"


async def test_a_given_token_issuer_signs_and_must_match_the_configured_issuer(
    receiver: Receiver,
) -> None:
    tokens = TokenIssuer(DEFAULT_ISSUER, kid="test-kid")
    async with serve_emulator(fast_config(), tokens=tokens) as running:
        assert running.emulator.signer.tokens is tokens
        keys: Mapping[str, Any] = running.emulator.signer.jwks()
        assert [k["kid"] for k in keys["keys"]] == ["test-kid"]
    with pytest.raises(ValueError, match="issuer"):
        async with serve_emulator(fast_config(token_issuer="http://other"), tokens=tokens):
            pass


@pytest.mark.parametrize(
    ("field", "value"),
    [("resource_id", ""), ("resource_id", " x"), ("token_issuer", ""), ("token_lifetime", 0.5)],
)
def test_bad_token_settings_are_refused_by_name(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        EmulatorConfig(access_key=b"k", **{field: value})
