"""Error mapping: each documented status, the request id, and bodies that are not documented."""

from __future__ import annotations

import base64
from typing import Any

import httpx2
import pytest

from callbacks import FileSource
from callbacks.client.automation import CallAutomationClient
from callbacks.client.errors import (
    BadRequest,
    CallAutomationError,
    CallNotFound,
    ClientError,
    ServerError,
    Throttled,
    Unauthorized,
    call_gone,
    error_class,
)
from callbacks.client.retry import RetryPolicy

KEY = base64.b64decode("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
ERROR_BODY = {"code": "<error-code>", "message": "<error-message>"}


async def failing_call(
    response: httpx2.Response, ids: str = "11111111-1111-4111-8111-111111111111"
) -> CallAutomationError:
    client = CallAutomationClient(
        "http://127.0.0.1:8123", KEY, api_version="2021-overview",
        transport=httpx2.MockTransport(lambda request: response),
        retry=RetryPolicy(attempts=1),
    )
    async with client:
        with pytest.raises(CallAutomationError) as info:
            call = client.with_request_ids(lambda: ids).get_call_connection("c-1")
            await call.play_media(FileSource("https://a/b.wav"))
    return info.value


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequest),
        (401, Unauthorized),
        (403, Unauthorized),
        (404, CallNotFound),
        (409, ClientError),
        (429, Throttled),
        (500, ServerError),
        (503, ServerError),
    ],
)
async def test_documented_error_body_maps_to_its_class(
    status: int, cls: type[CallAutomationError]
) -> None:
    error = await failing_call(httpx2.Response(status, json=ERROR_BODY))
    assert type(error) is cls
    assert error_class(status) is cls
    assert (error.status, error.code, error.message) == (status, "<error-code>", "<error-message>")
    assert (error.method, error.path) == ("POST", "/calls/c-1/PlayAudio")
    assert str(error) == (
        f"POST /calls/c-1/PlayAudio: HTTP {status} <error-code>: <error-message> "
        "(request id 11111111-1111-4111-8111-111111111111)"
    )


def test_the_tree() -> None:
    for cls in (BadRequest, Unauthorized, CallNotFound, Throttled):
        assert issubclass(cls, ClientError)
    assert issubclass(ClientError, CallAutomationError)
    assert issubclass(ServerError, CallAutomationError)
    assert not issubclass(ServerError, ClientError)


@pytest.mark.parametrize(
    ("status", "code", "gone"),
    [(404, None, True), (404, "CallNotFound", True), (400, "CallEnded", True),
     (400, "CallNotFound", True), (400, "InvalidMediaUrl", False), (400, None, False),
     (409, "CallEnded", False), (500, "CallEnded", False), (429, None, False)],
)
async def test_call_gone_tells_an_ended_call_from_other_errors(
    status: int, code: str | None, gone: bool
) -> None:
    body = {"code": code, "message": "m"} if code else {"message": "m"}
    error = await failing_call(httpx2.Response(status, json=body))
    assert call_gone(error) is gone


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-ms-client-request-id": "client-1", "x-ms-request-id": "server-1"}, "client-1"),
        ({"x-ms-request-id": "server-1"}, "server-1"),
        ({}, "11111111-1111-4111-8111-111111111111"),  # our Repeatability-Request-ID
    ],
)
async def test_request_id_comes_from_whatever_is_there(
    headers: dict[str, str], expected: str
) -> None:
    error = await failing_call(httpx2.Response(404, json=ERROR_BODY, headers=headers))
    assert error.request_id == expected


@pytest.mark.parametrize(
    ("response", "code", "message"),
    [
        (httpx2.Response(502, html="<html><body><h1>Bad   Gateway</h1>\n</body></html>"),
         None, "Bad Gateway"),
        (httpx2.Response(502, html="<html><h1>502</h1><p>nginx upstream\ttimed out</p></html>"),
         None, "Bad Gateway: 502 nginx upstream timed out"),
        (httpx2.Response(500), None, "Internal Server Error (empty body)"),
        (httpx2.Response(404, text="Not Found"), None, "Not Found"),
        (httpx2.Response(503, text="upstream connect error"), None,
         "Service Unavailable: upstream connect error"),
        (httpx2.Response(400, json=["not", "an", "object"]), None,
         'Bad Request: ["not","an","object"]'),
        (httpx2.Response(400, json={"error": {"code": "InvalidAudio", "message": "Not WAV."}}),
         "InvalidAudio", "Not WAV."),
        (httpx2.Response(401, json={"code": 401}), "401", "Unauthorized"),
        (httpx2.Response(500, content=b"\xff\xfe\x00garbage"), None,
         "Internal Server Error: \ufffd\ufffd garbage"),
    ],
)
async def test_undocumented_bodies_still_read_well(
    response: httpx2.Response, code: str | None, message: str
) -> None:
    error = await failing_call(response)
    assert error.code == code
    assert error.message == message


async def test_a_long_body_is_cut() -> None:
    error = await failing_call(httpx2.Response(500, text="x" * 5000))
    assert len(error.message) < 300
    assert error.message.endswith("...")


async def test_repr_names_the_class_and_fields() -> None:
    error: Any = await failing_call(httpx2.Response(404, json=ERROR_BODY))
    assert repr(error).startswith("CallNotFound(status=404, code='<error-code>'")
