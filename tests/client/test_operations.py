"""Each REST operation on the wire: method, path (both forms), query, JSON body and headers."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest

from callbacks.client.automation import CallAutomationClient
from callbacks.client.errors import InvalidResponse, Unauthorized
from callbacks.client.hmac import EMPTY_CONTENT_HASH, content_hash, verify
from callbacks.client.retry import RetryPolicy
from callbacks.identifiers import CommunicationUserIdentifier, PhoneNumberIdentifier

KEY_B64 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
KEY = base64.b64decode(KEY_B64)
ENDPOINT = "https://contoso.communication.azure.com"
CONN = f"endpoint={ENDPOINT}/;accesskey={KEY_B64}"
FIXED = datetime(2024, 1, 1, tzinfo=UTC)
DATE = "Mon, 01 Jan 2024 00:00:00 GMT"
USER = "8:acs:11111111-2222-3333-4444-555555555555_00000000-0000-0000-0000-000000000001"
CALL = "7a1f0e00-0000-4000-8000-000000000001"

Answer = Callable[[httpx2.Request], httpx2.Response]


def snapshot(request: httpx2.Request) -> httpx2.Request:
    """A copy as sent: the client re-sends one request object, re-signed on each attempt."""
    return httpx2.Request(
        request.method, request.url, headers=request.headers.copy(), content=request.content
    )


class Recorder:
    """A MockTransport handler keeping every request and answering with ``answer``."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(snapshot(request))
        return self.answer(request)

    @property
    def only(self) -> httpx2.Request:
        assert len(self.requests) == 1
        return self.requests[0]


def make_client(answer: Answer, style: str = "seed") -> tuple[CallAutomationClient, Recorder]:
    recorder = Recorder(answer)
    client = CallAutomationClient.from_connection_string(
        CONN, api_style=style, transport=httpx2.MockTransport(recorder), clock=lambda: FIXED
    )
    return client, recorder


def answer(status: int, body: Any = None) -> Answer:
    return lambda request: httpx2.Response(status, json=body) if body is not None else (
        httpx2.Response(status)
    )


async def no_sleep(seconds: float) -> None:
    pass


def path_of(request: httpx2.Request) -> str:
    return request.url.raw_path.decode("ascii")


def assert_signed(request: httpx2.Request) -> None:
    """The request is signed so that the service (our emulator's check) accepts it."""
    assert request.headers["x-ms-date"] == DATE
    assert request.headers["x-ms-content-sha256"] == content_hash(request.content)
    assert verify(KEY, request.method, path_of(request), request.url.netloc.decode(),
                  request.headers, request.content)


def assert_repeatable(request: httpx2.Request) -> None:
    rid = request.headers["repeatability-request-id"]
    assert str(uuid.UUID(rid)) == rid
    assert request.headers["repeatability-first-sent"] == DATE


def body_of(request: httpx2.Request) -> Any:
    assert request.headers["content-type"] == "application/json"
    return json.loads(request.content)


STYLES = [("seed", "/calls", ""), ("2021", "/calling/calls", "?api-version=2021-04-15-preview1")]


@pytest.mark.parametrize(("style", "prefix", "query"), STYLES)
async def test_create_call(style: str, prefix: str, query: str) -> None:
    status = 201 if style == "2021" else 200
    client, rec = make_client(answer(status, {"callLegId": "leg-1", "extra": True}), style)
    async with client:
        result = await client.create_call(
            [PhoneNumberIdentifier("+14251001000"), "8:acs:target"],
            "https://app.example/api/callbacks?secret=s",
            source=CommunicationUserIdentifier(USER),
            source_caller_id_number=PhoneNumberIdentifier("+14255550100"),
        )
    assert result.call_leg_id == "leg-1"
    request = rec.only
    assert request.method == "POST"
    assert path_of(request) == prefix + query
    assert body_of(request) == {
        "source": {"rawId": USER, "communicationUser": {"id": USER}},
        "targets": [
            {"rawId": "4:+14251001000", "phoneNumber": {"value": "+14251001000"}},
            {"rawId": "8:acs:target", "communicationUser": {"id": "8:acs:target"}},
        ],
        "callbackUri": "https://app.example/api/callbacks?secret=s",
        "requestedModalities": ["audio"],
        "requestedCallEvents": ["participantsUpdated", "dtmfReceived"],
        "alternateCallerId": {"rawId": "4:+14255550100", "phoneNumber": {"value": "+14255550100"}},
    }
    assert request.headers["accept"] == "application/json"
    assert_signed(request)
    assert_repeatable(request)


async def test_create_call_leaves_out_unset_fields_and_takes_the_ga_name() -> None:
    client, rec = make_client(answer(200, {"callConnectionId": "conn-1"}))
    async with client:
        result = await client.create_call(USER, "https://cb", source=USER)
    assert result.call_leg_id == result.call_connection_id == "conn-1"
    body = body_of(rec.only)
    assert "subject" not in body and "alternateCallerId" not in body
    assert body["targets"] == [{"rawId": USER, "communicationUser": {"id": USER}}]
    with pytest.raises(ValueError, match="source"):
        await client.create_call(USER, "https://cb")


@pytest.mark.parametrize(("style", "prefix", "query"), STYLES)
async def test_hangup(style: str, prefix: str, query: str) -> None:
    client, rec = make_client(answer(202), style)
    async with client:
        await client.get_call_connection(CALL).hangup()
    request = rec.only
    assert (request.method, path_of(request)) == ("POST", f"{prefix}/{CALL}/Hangup{query}")
    assert request.content == b""
    assert request.headers["x-ms-content-sha256"] == EMPTY_CONTENT_HASH
    assert_signed(request)
    assert_repeatable(request)


PLAY_ANSWER = {
    "id": "op-1",
    "status": "notStarted",
    "operationContext": "greeting",
    "resultInfo": {"code": 202, "subcode": 0, "message": "Action is accepted."},
}


@pytest.mark.parametrize(
    ("style", "prefix", "query", "id_field"),
    [(*STYLES[0], "resourceId"), (*STYLES[1], "audioFileId")],
)
async def test_play_audio(style: str, prefix: str, query: str, id_field: str) -> None:
    client, rec = make_client(answer(202, PLAY_ANSWER), style)
    async with client:
        result = await client.get_call_connection(CALL).play_audio(
            "https://example.com/welcome.wav", loop=True,
            operation_context="greeting", resource_id="res-1",
        )
    assert result.id == "op-1"
    assert result.status == "notStarted"
    assert result.operation_context == "greeting"
    assert result.result_info is not None
    assert (result.result_info.code, result.result_info.subcode) == (202, 0)
    request = rec.only
    assert (request.method, path_of(request)) == ("POST", f"{prefix}/{CALL}/PlayAudio{query}")
    assert body_of(request) == {
        "audioFileUri": "https://example.com/welcome.wav",
        "loop": True,
        "operationContext": "greeting",
        id_field: "res-1",
    }
    assert_signed(request)
    assert_repeatable(request)


async def test_play_audio_defaults_send_loop_false_only() -> None:
    client, rec = make_client(answer(202, {"id": "op", "status": "running"}))
    async with client:
        result = await client.get_call_connection(CALL).play_audio("https://example.com/a.wav")
    assert result.result_info is None
    assert body_of(rec.only) == {"audioFileUri": "https://example.com/a.wav", "loop": False}


@pytest.mark.parametrize(("style", "prefix", "query"), STYLES)
async def test_cancel_media_processing(style: str, prefix: str, query: str) -> None:
    client, rec = make_client(answer(202, {**PLAY_ANSWER, "status": "completed"}), style)
    async with client:
        call = client.get_call_connection(CALL)
        result = await call.cancel_media_processing(operation_context="stop")
    assert result is not None and result.status == "completed"
    request = rec.only
    assert (request.method, path_of(request)) == (
        "POST", f"{prefix}/{CALL}/CancelMediaProcessing{query}"
    )
    assert body_of(request) == {"operationContext": "stop"}
    assert_signed(request)
    assert_repeatable(request)


async def test_cancel_media_processing_accepts_an_empty_202() -> None:
    client, rec = make_client(answer(202))
    async with client:
        assert await client.get_call_connection(CALL).cancel_media_processing() is None
    assert body_of(rec.only) == {}


@pytest.mark.parametrize(("style", "prefix", "query"), STYLES)
async def test_invite_participants(style: str, prefix: str, query: str) -> None:
    client, rec = make_client(answer(202), style)
    async with client:
        await client.get_call_connection(CALL).invite_participants(
            [CommunicationUserIdentifier(USER), PhoneNumberIdentifier("+14251001000")],
            operation_context="agent", alternate_caller_id="+14255550100",
        )
    request = rec.only
    assert (request.method, path_of(request)) == ("POST", f"{prefix}/{CALL}/participants{query}")
    body = body_of(request)
    assert body["participants"] == [
        {"rawId": USER, "communicationUser": {"id": USER}},
        {"rawId": "4:+14251001000", "phoneNumber": {"value": "+14251001000"}},
    ]
    assert body["operationContext"] == "agent"
    assert body["alternateCallerId"]["phoneNumber"] == {"value": "+14255550100"}
    assert_signed(request)
    assert_repeatable(request)


@pytest.mark.parametrize(("style", "prefix", "query"), STYLES)
async def test_remove_participant(style: str, prefix: str, query: str) -> None:
    client, rec = make_client(answer(202), style)
    async with client:
        await client.get_call_connection(CALL).remove_participant("part-9")
    request = rec.only
    assert (request.method, path_of(request)) == (
        "DELETE", f"{prefix}/{CALL}/participants/part-9{query}"
    )
    assert request.content == b""
    assert "repeatability-request-id" not in request.headers
    assert_signed(request)


async def test_path_segments_are_url_encoded() -> None:
    client, rec = make_client(answer(202))
    async with client:
        await client.get_call_connection("a/b c?d#e").remove_participant("p/../q")
        await client.get_call_connection("x%y").hangup()
    assert path_of(rec.requests[0]) == "/calls/a%2Fb%20c%3Fd%23e/participants/p%2F..%2Fq"
    assert path_of(rec.requests[1]) == "/calls/x%25y/Hangup"
    for request in rec.requests:
        assert_signed(request)


async def test_each_post_gets_a_fresh_id_without_an_attached_source() -> None:
    client, rec = make_client(answer(202))
    async with client:
        await client.get_call_connection(CALL).hangup()
        await client.get_call_connection(CALL).hangup()
    ids = {r.headers["repeatability-request-id"] for r in rec.requests}
    assert len(ids) == 2


async def test_views_share_the_pool_and_use_the_attached_ids() -> None:
    client, rec = make_client(answer(202, {"id": "op", "status": "running"}))
    counter = iter(range(100))
    ids = lambda: str(uuid.UUID(int=next(counter)))  # noqa: E731
    async with client:
        view = client.with_request_ids(ids)
        call = view.get_call_connection(CALL)
        await call.play_audio("https://example.com/a.wav", operation_context="x")
        await call.cancel_media_processing()
        await call.invite_participants([USER])
        await call.remove_participant("p1")
        await call.hangup()
        with pytest.raises(RuntimeError, match="owner"):
            await view.aclose()
    sent = [r.headers.get("repeatability-request-id") for r in rec.requests]
    assert sent == [str(uuid.UUID(int=i)) for i in range(3)] + [None, str(uuid.UUID(int=3))]
    assert [r.method for r in rec.requests] == ["POST", "POST", "POST", "DELETE", "POST"]


async def test_undocumented_success_body_is_a_clear_error() -> None:
    client, _ = make_client(lambda request: httpx2.Response(200, text="<html>ok</html>"))
    async with client:
        with pytest.raises(InvalidResponse, match="CallConnectionProperties") as info:
            await client.create_call([USER], "https://cb", source=USER)
        with pytest.raises(InvalidResponse, match="MediaOperationResponse"):
            await client.get_call_connection(CALL).play_audio("https://example.com/a.wav")
    assert info.value.status == 200
    assert info.value.request_id is not None


@pytest.mark.parametrize("bad", ["", None])
async def test_bad_arguments_are_value_errors(bad: Any) -> None:
    client, rec = make_client(answer(202))
    async with client:
        with pytest.raises(ValueError, match="call_connection_id"):
            await client.get_call_connection(bad).hangup()
        with pytest.raises(ValueError, match="participant_id"):
            await client.get_call_connection(CALL).remove_participant(bad)
        with pytest.raises(ValueError, match="call_connection_id"):
            client.get_call_connection(bad)
    assert rec.requests == []


def test_constructor_from_endpoint_and_key_in_both_forms() -> None:
    by_str = CallAutomationClient("http://127.0.0.1:8123/", KEY_B64)
    by_bytes = CallAutomationClient("http://127.0.0.1:8123", KEY, api_style="2021")
    assert by_str.endpoint == by_bytes.endpoint == "http://127.0.0.1:8123"
    assert by_bytes.api_version == "2021-04-15-preview1"
    assert by_str.api_version == "2026-03-12"
    with pytest.raises(ValueError, match="api_style"):
        CallAutomationClient(ENDPOINT, KEY, api_style="2023")
    with pytest.raises(ValueError, match="unknown api_version '2022-01-01'"):
        CallAutomationClient(ENDPOINT, KEY, api_version="2022-01-01")


SECRET_B64 = base64.b64encode(b"a-very-secret-access-key-32bytes").decode()


@pytest.mark.parametrize(
    "endpoint",
    [
        f"endpoint={ENDPOINT};accesskey={SECRET_B64}",  # a connection string by mistake
        f"https://user:{SECRET_B64}@contoso.example",
        f"https://contoso.example/?key={SECRET_B64}",
        "not a url",
    ],
)
def test_bad_endpoint_never_echoes_it(endpoint: str) -> None:
    with pytest.raises(ValueError) as info:
        CallAutomationClient(endpoint, KEY)
    assert SECRET_B64 not in str(info.value) + repr(info.value)


async def test_no_secret_in_repr_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    signatures: list[str] = []

    def fail(request: httpx2.Request) -> httpx2.Response:
        signatures.append(request.headers["authorization"].split("Signature=")[1])
        return httpx2.Response(503 if len(signatures) == 1 else 401, json={"code": "Unauthorized",
                               "message": "Denied."})

    client = CallAutomationClient.from_connection_string(
        f"endpoint={ENDPOINT};accesskey={SECRET_B64}", api_version="2021-overview",
        transport=httpx2.MockTransport(fail),
        retry=RetryPolicy(sleep=no_sleep),
    )

    with pytest.raises(Unauthorized) as info:
        async with client:
            await client.with_request_ids(lambda: "id-1").get_call_connection(CALL).hangup()
    secret = base64.b64decode(SECRET_B64)
    texts = [repr(client), str(client), str(info.value), repr(info.value),
             repr(client.get_call_connection(CALL)), caplog.text]
    for text in texts:
        assert SECRET_B64 not in text
        assert repr(secret) not in text and secret.decode() not in text
        for signature in signatures:
            assert signature not in text
    assert "503" in caplog.text  # the retry was logged, without the secrets
