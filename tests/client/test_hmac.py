"""HMAC-SHA256 signing: the reference's known-answer vector, byte for byte, and the edges."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx2
import pytest

from callbacks.client.hmac import (
    EMPTY_CONTENT_HASH,
    HmacAuth,
    authorization_header,
    content_hash,
    decode_key,
    format_date,
    parse_connection_string,
    sign,
    string_to_sign,
    verify,
)

# The known-answer vector of reference/acs-events.md section 3 (fake key).
KEY_B64 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
KEY = base64.b64decode(KEY_B64)
URL = "https://contoso.communication.azure.com/calling/callConnections/abc:play?api-version=2024-09-15"
BODY = (
    b'{"playSources":[{"kind":"file","file":{"uri":"https://example.com/a.wav"}}],'
    b'"operationContext":"ctx-1"}'
)
DATE = "Mon, 01 Jan 2024 00:00:00 GMT"
HASH = "uiCpSCanLedosWtsXuUzYVvbBFH79bYZC4TPDeAW1i4="
AUTHORIZATION = (
    "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256"
    "&Signature=SQRwc55Y0SnMNNaVjEdcZeTah733ROpXFkMpYaVKZFI="
)
FIXED = datetime(2024, 1, 1, tzinfo=UTC)


def test_known_answer_pure_functions() -> None:
    assert content_hash(BODY) == HASH
    assert format_date(FIXED) == DATE
    text = string_to_sign(
        "POST", "/calling/callConnections/abc:play?api-version=2024-09-15", DATE,
        "contoso.communication.azure.com", HASH,
    )
    assert text == (
        "POST\n/calling/callConnections/abc:play?api-version=2024-09-15\n"
        f"{DATE};contoso.communication.azure.com;{HASH}"
    )
    assert authorization_header(sign(KEY, text)) == AUTHORIZATION


async def test_known_answer_through_auth_and_transport() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(202)

    auth = HmacAuth(KEY, clock=lambda: FIXED)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler), auth=auth) as client:
        await client.post(URL, content=BODY, headers={"content-type": "application/json"})
    (request,) = seen
    assert request.headers["x-ms-date"] == DATE
    assert request.headers["x-ms-content-sha256"] == HASH
    assert request.headers["authorization"] == AUTHORIZATION
    assert request.content == BODY


def test_empty_body_hash() -> None:
    assert content_hash(b"") == EMPTY_CONTENT_HASH


async def test_host_is_signed_with_its_port() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(202)

    auth = HmacAuth(KEY, clock=lambda: FIXED)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler), auth=auth) as client:
        await client.post("http://127.0.0.1:8123/calls/a%2Fb/Hangup?x=1", content=b"")
    (request,) = seen
    assert request.headers["host"] == "127.0.0.1:8123"
    expected = sign(
        KEY, string_to_sign("POST", "/calls/a%2Fb/Hangup?x=1", DATE, "127.0.0.1:8123",
                            EMPTY_CONTENT_HASH)
    )
    assert request.headers["authorization"] == authorization_header(expected)
    assert request.headers["x-ms-content-sha256"] == EMPTY_CONTENT_HASH
    # The emulator's check accepts it, and rejects any tampering.
    args = ("POST", "/calls/a%2Fb/Hangup?x=1", "127.0.0.1:8123")
    assert verify(KEY, *args, request.headers, b"")
    assert not verify(KEY, *args, request.headers, b"{}")
    assert not verify(KEY, "POST", "/calls/other/Hangup?x=1", "127.0.0.1:8123",
                      request.headers, b"")
    assert not verify(KEY, "POST", args[1], "127.0.0.1:8124", request.headers, b"")
    assert not verify(b"other-key", *args, request.headers, b"")
    assert not verify(KEY, *args, {}, b"")


def test_verify_is_case_insensitive_on_header_names() -> None:
    text = string_to_sign("DELETE", "/calls/c/participants/p", DATE, "h", EMPTY_CONTENT_HASH)
    headers = {
        "X-MS-DATE": DATE,
        "X-Ms-Content-Sha256": EMPTY_CONTENT_HASH,
        "AUTHORIZATION": authorization_header(sign(KEY, text)),
    }
    assert verify(KEY, "DELETE", "/calls/c/participants/p", "h", headers, b"")
    assert not verify(KEY, "DELETE", "/calls/c/participants/p", "h", {**headers,
                      "AUTHORIZATION": "HMAC-SHA256 \u00e9"}, b"")


def signed_headers(body: bytes = b"") -> dict[str, str]:
    """Headers a client signing ``body`` for DELETE /calls/c on host h would send."""
    text = string_to_sign("DELETE", "/calls/c", DATE, "h", content_hash(body))
    return {
        "x-ms-date": DATE,
        "x-ms-content-sha256": content_hash(body),
        "authorization": authorization_header(sign(KEY, text)),
    }


def test_a_correct_signature_does_not_excuse_a_wrong_content_hash() -> None:
    """The signature covers the recomputed hash, so it verifies on its own; the declared
    x-ms-content-sha256 must still match the body."""
    headers = signed_headers(b"{}")
    assert verify(KEY, "DELETE", "/calls/c", "h", headers, b"{}")
    for wrong in (EMPTY_CONTENT_HASH, content_hash(b"{ }"), "", "not base64"):
        assert not verify(KEY, "DELETE", "/calls/c", "h",
                          {**headers, "x-ms-content-sha256": wrong}, b"{}")


@pytest.mark.parametrize("missing", ["x-ms-date", "x-ms-content-sha256", "authorization"])
def test_a_request_missing_a_signed_header_is_refused_not_an_error(missing: str) -> None:
    headers = {k: v for k, v in signed_headers().items() if k != missing}
    assert verify(KEY, "DELETE", "/calls/c", "h", headers, b"") is False
    assert verify(KEY, "DELETE", "/calls/c", "h", {"x-ms-date": DATE}, b"") is False


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        (f"endpoint=https://contoso.communication.azure.com/;accesskey={KEY_B64}",
         "https://contoso.communication.azure.com"),
        (f"Endpoint=http://127.0.0.1:8123;AccessKey={KEY_B64};",
         "http://127.0.0.1:8123"),
        (f" ACCESSKEY = {KEY_B64} ; ENDPOINT = https://x.example/ ", "https://x.example"),
    ],
)
def test_parse_connection_string(text: str, endpoint: str) -> None:
    assert parse_connection_string(text) == (endpoint, KEY)


SECRET_KEY = "c2VjcmV0LWtleS1ub3QtdG8tbGVhaw=="


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"accesskey={SECRET_KEY}", "missing 'endpoint'"),
        ("endpoint=https://x.example/", "missing 'accesskey'"),
        (f"endpoint=ftp://x.example/;accesskey={SECRET_KEY}", r"http\(s\) URL"),
        (f"endpoint=https://x.example/;accesskey={SECRET_KEY}!!", "not valid base64"),
        (f"https://x.example/;{SECRET_KEY}", "name=value"),
        ("", "missing 'endpoint'"),
    ],
)
def test_malformed_connection_string_is_clear_and_quiet(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as info:
        parse_connection_string(text)
    message = str(info.value) + repr(info.value)
    assert SECRET_KEY not in message
    assert SECRET_KEY[:12] not in message


def test_auth_repr_hides_key() -> None:
    auth = HmacAuth(KEY)
    assert KEY_B64 not in repr(auth)
    assert repr(KEY) not in repr(auth)
    assert "redacted" in repr(auth)


def test_auth_rejects_a_str_key() -> None:
    with pytest.raises(ValueError, match="bytes"):
        HmacAuth(KEY_B64)  # type: ignore[arg-type]


def test_empty_items_of_a_connection_string_are_skipped_wherever_they_are() -> None:
    endpoint, key = parse_connection_string(
        f";endpoint=https://x.example/;; ;accesskey={KEY_B64};"
    )
    assert (endpoint, key) == ("https://x.example", KEY)
    # Only the trailing slash goes: nothing else at the end of the endpoint.
    assert parse_connection_string(
        f"endpoint=https://x.example/acsX/;accesskey={KEY_B64}"
    )[0] == "https://x.example/acsX"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"not a str", "connection string must be a str"),
        ("endpoint=https://x.example", "malformed connection string: missing 'accesskey'"),
        (f"accesskey={KEY_B64}", "malformed connection string: missing 'endpoint'"),
        ("endpoint=https://x.example;accesskey", "malformed connection string: expected "
         "'name=value' pairs"),
        (f"endpoint=ftp://x.example;accesskey={KEY_B64}",
         "malformed connection string: endpoint must be an http(s) URL"),
        ("endpoint=https://x.example;accesskey=!!!", "malformed access key: not valid base64"),
        ("endpoint=https://x.example;accesskey==", "malformed access key: not valid base64"),
    ],
)
def test_connection_string_errors_are_exact(text: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_connection_string(text)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_an_empty_key_is_refused_exactly() -> None:
    with pytest.raises(ValueError) as caught:
        decode_key("")
    assert str(caught.value) == "malformed access key: empty"
    with pytest.raises(ValueError) as caught:
        HmacAuth(b"")
    assert str(caught.value) == "HmacAuth needs the decoded access key as non-empty bytes"
    assert repr(HmacAuth(KEY)) == "HmacAuth(key=<redacted>)"


async def test_the_host_header_sent_is_the_host_signed() -> None:
    """A Host header set by the caller (a proxy's name) is what goes on the wire: it is what
    the service checks the signature against."""
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(202)

    auth = HmacAuth(KEY, clock=lambda: FIXED)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler), auth=auth) as client:
        await client.post("http://127.0.0.1:8123/calls/c/Hangup", content=b"",
                          headers={"host": "acs.example"})
    (request,) = seen
    assert verify(KEY, "POST", "/calls/c/Hangup", "acs.example", request.headers, b"")
    assert not verify(KEY, "POST", "/calls/c/Hangup", "127.0.0.1:8123", request.headers, b"")
