"""HMAC verification of every REST request, as the real service does it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx2
import pytest

from callbacks.client.hmac import HmacAuth
from tests.support.emulator_harness import ALICE, KEY, Env


def create_body(env: Env) -> bytes:
    body = {"targets": [ALICE], "callbackUri": env.receiver.callback_uri}
    return json.dumps(body).encode()


def signed(env: Env, path: str, body: bytes, key: bytes = KEY) -> httpx2.Request:
    """A request to the emulator signed with ``key``."""
    request = httpx2.Request("POST", env.running.url + path, content=body)
    HmacAuth(key).sign_request(request)
    return request


async def send(env: Env, request: httpx2.Request) -> httpx2.Response:
    async with httpx2.AsyncClient() as client:
        return await client.send(request)


async def assert_401(env: Env, response: httpx2.Response, message: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"code": "Unauthorized", "message": message}
    assert not env.running.emulator.calls, "an unauthenticated request must not act"
    assert env.running.emulator.journal.requests[-1].status == 401


async def test_a_correctly_signed_request_is_accepted(env: Env) -> None:
    response = await send(env, signed(env, "/calls", create_body(env)))
    assert response.status_code == 200
    assert len(env.running.emulator.calls) == 1


async def test_missing_authorization_is_401(env: Env) -> None:
    request = signed(env, "/calls", create_body(env))
    del request.headers["Authorization"]
    await assert_401(env, await send(env, request), "missing Authorization header")


@pytest.mark.parametrize(
    "value",
    [
        "Bearer abc",
        "HMAC-SHA256 Signature=abc",
        "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256",
        "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=",
    ],
)
async def test_malformed_authorization_is_401(env: Env, value: str) -> None:
    request = signed(env, "/calls", create_body(env))
    request.headers["Authorization"] = value
    response = await send(env, request)
    assert response.status_code == 401
    assert response.json()["message"].startswith("malformed Authorization header")


async def test_other_signed_headers_are_401(env: Env) -> None:
    request = signed(env, "/calls", create_body(env))
    signature = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    request.headers["Authorization"] = f"HMAC-SHA256 SignedHeaders=host&Signature={signature}"
    message = "SignedHeaders must be x-ms-date;host;x-ms-content-sha256"
    await assert_401(env, await send(env, request), message)


async def test_a_signature_made_with_another_key_is_401_and_not_echoed(env: Env) -> None:
    request = signed(env, "/calls", create_body(env), key=b"not the emulator's key")
    response = await send(env, request)
    await assert_401(env, response, "the request signature is not valid")
    signature = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    assert signature not in response.text


async def test_a_body_that_does_not_match_its_hash_is_401(env: Env) -> None:
    original = signed(env, "/calls", create_body(env))
    tampered_body = create_body(env).replace(b"alice", b"mallory")
    tampered = httpx2.Request("POST", original.url, content=tampered_body)
    for name in ("x-ms-date", "x-ms-content-sha256", "Authorization"):
        tampered.headers[name] = original.headers[name]
    message = "x-ms-content-sha256 does not match the body received"
    await assert_401(env, await send(env, tampered), message)


async def test_the_query_is_covered_by_the_signature(env: Env) -> None:
    original = signed(env, "/calls?x=1", create_body(env))
    moved = httpx2.Request("POST", env.running.url + "/calls?x=2", content=create_body(env))
    for name in ("x-ms-date", "x-ms-content-sha256", "Authorization"):
        moved.headers[name] = original.headers[name]
    await assert_401(env, await send(env, moved), "the request signature is not valid")


async def test_the_host_header_is_covered_by_the_signature(env: Env) -> None:
    request = signed(env, "/calls", create_body(env))
    request.headers["Host"] = "contoso.communication.azure.com"
    await assert_401(env, await send(env, request), "the request signature is not valid")


async def test_the_path_is_verified_as_received_percent_encoding_included(env: Env) -> None:
    # signed over the encoded target: a server verifying the decoded path would answer 401
    request = signed(env, "/calls/no%20such%3Acall/Hangup", b"")
    response = await send(env, request)
    assert response.status_code == 404
    assert response.json()["code"] == "CallNotFound"


@pytest.mark.parametrize("minutes", [-16, 16, -60 * 24])
async def test_a_date_more_than_15_minutes_off_is_401(env: Env, minutes: int) -> None:
    when = datetime.now(UTC) + timedelta(minutes=minutes)
    auth = HmacAuth(KEY, clock=lambda: when)
    async with httpx2.AsyncClient(base_url=env.running.url, auth=auth) as client:
        response = await client.post("/calls", content=create_body(env))
    message = "x-ms-date is more than 15 minutes off the service's clock"
    await assert_401(env, response, message)


@pytest.mark.parametrize("minutes", [-14, 14])
async def test_a_date_within_15_minutes_is_accepted(env: Env, minutes: int) -> None:
    when = datetime.now(UTC) + timedelta(minutes=minutes)
    auth = HmacAuth(KEY, clock=lambda: when)
    async with httpx2.AsyncClient(base_url=env.running.url, auth=auth) as client:
        response = await client.post("/calls", content=create_body(env))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("header", "value", "message"),
    [
        ("x-ms-date", None, "missing x-ms-date header"),
        ("x-ms-date", "yesterday", "malformed x-ms-date header: expected an RFC 1123 date"),
        ("x-ms-content-sha256", None, "missing x-ms-content-sha256 header"),
    ],
)
async def test_missing_or_malformed_signed_headers_are_401(
    env: Env, header: str, value: str | None, message: str
) -> None:
    request = signed(env, "/calls", create_body(env))
    if value is None:
        del request.headers[header]
    else:
        request.headers[header] = value
    await assert_401(env, await send(env, request), message)


async def test_every_operation_is_verified(env: Env) -> None:
    call_id = await env.established()
    async with httpx2.AsyncClient(base_url=env.running.url) as unsigned:
        for method, path in [
            ("POST", f"/calls/{call_id}/Hangup"),
            ("POST", f"/calls/{call_id}/PlayAudio"),
            ("POST", f"/calls/{call_id}/CancelMediaProcessing"),
            ("POST", f"/calls/{call_id}/participants"),
            ("DELETE", f"/calls/{call_id}/participants/x"),
            ("POST", f"/calling/calls/{call_id}/Hangup?api-version=2021-04-15-preview1"),
        ]:
            response = await unsigned.request(method, path)
            assert response.status_code == 401, path
    assert env.running.emulator.calls[call_id].active
