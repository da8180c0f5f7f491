"""Hostile input at the endpoint: shape limits, slow and oversized requests, secrets kept quiet.

The connection limits and the secret hygiene are tested against the real ``callbacks serve``
process; the shape check itself is tested in test_limits.py.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from callbacks.emulator.tokens import JWKS_PATH, TokenIssuer
from callbacks.events import Event
from callbacks.routing import Route as RouteMatch
from callbacks.routing import Router
from callbacks.server.app import create_app
from callbacks.server.auth import NoAuthenticator
from callbacks.server.limits import Limits
from callbacks.testing import InProcessIntake
from tests.support.samples import sample_bytes, sample_json
from tests.support.servers import free_port, start_cli, stop, wait_until_ready
from tests.support.thread_server import serve_in_thread

JSON = {"content-type": "application/json"}

# --- the endpoint -------------------------------------------------------------------------------


def no_context(
    event: Event, route: RouteMatch, attempt: int, path: str | None, received: Any = None
) -> Any:
    return None


@pytest.fixture(scope="module")
def strict_client() -> Iterator[TestClient]:
    intake = InProcessIntake(Router(), no_context)
    app = create_app(intake, NoAuthenticator(), limits=Limits(depth=8, string_bytes=256))
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"[" * 100_000 + b"]" * 100_000, 400, "json_too_deep"),
        (b'{"eventType": "X.Y", "data": ' + b"[" * 9 + b"]" * 9 + b"}", 400, "json_too_deep"),
        (b'{"eventType": "X.Y", "data": "' + b"a" * 300 + b'"}', 413, "string_too_long"),
        ('{"eventType": "X.Y", "data": {}}'.encode("utf-16"), 400, "invalid_event"),
    ],
)
def test_endpoint_answers_limits_with_clear_codes(
    strict_client: TestClient, body: bytes, status: int, code: str
) -> None:
    response = strict_client.post("/api/callbacks", content=body, headers=JSON)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert set(response.json()) == {"code", "message"}


def test_endpoint_accepts_within_limits(strict_client: TestClient) -> None:
    element = sample_json("ga", "PlayStarted")[0]
    element["data"]["operationContext"] = "[" * 40  # text, not structure
    response = strict_client.post("/api/callbacks", content=json.dumps([element]), headers=JSON)
    assert response.status_code == 200, response.text


# --- the real server: connection limits --------------------------------------------------------

LIMITED_SECRET = "limits-test-secret-51d2"


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """``callbacks serve`` with small limits, some from options and some from CALLBACKS_*."""
    port = free_port()
    store = tmp_path_factory.mktemp("limits") / "log.db"
    process = start_cli(
        "serve", "--port", str(port), "--store", f"sqlite:///{store}",
        "--max-header-bytes", "4096", "--keep-alive-timeout", "1", "--max-string", "512",
        env={
            "CALLBACKS_SECRET": LIMITED_SECRET,
            "CALLBACKS_READ_TIMEOUT": "0.5",
            "CALLBACKS_MAX_DEPTH": "8",
        },
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/healthz", process)
        yield port
    finally:
        output = stop(process)
        assert process.returncode == 0, output
        assert "Traceback" not in output


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the next response on ``sock``."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


@contextlib.contextmanager
def connect(port: int) -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        yield sock


def post_head(length: int, extra: bytes = b"") -> bytes:
    return (
        f"POST /api/callbacks?secret={LIMITED_SECRET} HTTP/1.1\r\nHost: t\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n"
    ).encode() + extra + b"\r\n"


def test_headers_over_the_limit_are_431(limited_server: int) -> None:
    with connect(limited_server) as sock:  # whole, in one chunk
        sock.sendall(post_head(2, b"X-Pad: " + b"p" * 5000 + b"\r\n") + b"{}")
        status, headers, body = read_response(sock)
        assert (status, json.loads(body)["code"]) == (431, "headers_too_large")
        assert headers["connection"] == "close"
    with connect(limited_server) as sock:  # streamed, never finished: refused mid-way
        sock.sendall(post_head(2)[:-2] + b"X-Pad: " + b"p" * 3000)
        time.sleep(0.1)
        sock.sendall(b"p" * 3000)
        status, _, body = read_response(sock)
        assert (status, json.loads(body)["code"]) == (431, "headers_too_large")
        assert sock.recv(1) == b""


def test_headers_that_arrive_too_slowly_are_408(limited_server: int) -> None:
    with connect(limited_server) as sock:
        started = time.monotonic()
        for byte in post_head(2)[:10]:  # a byte every 20 ms, then nothing: never a full head
            sock.sendall(bytes([byte]))
            time.sleep(0.02)
        status, _, body = read_response(sock)
        assert (status, json.loads(body)["code"]) == (408, "request_timeout")
        assert time.monotonic() - started < 3


def test_headers_of_a_later_request_that_stall_are_408(limited_server: int) -> None:
    """On a keep-alive connection the deadline starts with the chunk that leaves the headers
    unfinished (uvicorn's keep-alive timer stops at the first byte of the next request)."""
    with connect(limited_server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(sock)[0] == 200
        started = time.monotonic()
        sock.sendall(post_head(2)[:10])
        status, _, body = read_response(sock)
        assert (status, json.loads(body)["code"]) == (408, "request_timeout")
        assert time.monotonic() - started < 3


def test_blank_lines_do_not_keep_an_idle_connection_open(limited_server: int) -> None:
    """A CRLF between requests starts no request, but stops uvicorn's keep-alive timer."""
    with connect(limited_server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(sock)[0] == 200
        started = time.monotonic()
        sock.sendall(b"\r\n")
        assert sock.recv(1) == b""
        assert time.monotonic() - started < 3


def test_a_body_that_arrives_too_slowly_is_408(limited_server: int) -> None:
    with connect(limited_server) as sock:
        started = time.monotonic()
        sock.sendall(post_head(100) + b'{"eventType"')
        status, headers, body = read_response(sock)
        assert (status, json.loads(body)["code"]) == (408, "request_timeout")
        assert headers["connection"] == "close"
        assert 0.4 < time.monotonic() - started < 3


def test_idle_connections_are_closed(limited_server: int) -> None:
    with connect(limited_server) as sock:  # never sends a byte
        assert sock.recv(1) == b""
    with connect(limited_server) as sock:  # keep-alive after a request
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(sock)[0] == 200
        started = time.monotonic()
        assert sock.recv(1) == b""
        assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("request_bytes", "reason"),
    [
        (post_head(2, b"Transfer-Encoding: chunked\r\n") + b"{}",
         "Transfer-Encoding can't be present with Content-Length"),
        (post_head(2, b"Content-Length: 3\r\n") + b"{}", "Duplicate Content-Length"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
         "Invalid method encountered"),
        (b"POST /api/callbacks HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"zz\r\n", "Invalid character in chunk size"),
    ],
    ids=["content-length-and-chunked", "two-content-lengths", "garbage", "bad-chunk"],
)
def test_requests_the_http_parser_refuses_get_a_json_400(
    limited_server: int, request_bytes: bytes, reason: str
) -> None:
    with connect(limited_server) as sock:
        sock.sendall(request_bytes)
        status, headers, body = read_response(sock)
        assert status == 400
        assert headers["content-type"] == "application/json"
        assert headers["connection"] == "close"
        assert json.loads(body) == {
            "code": "invalid_http", "message": f"the request is not valid HTTP/1.1: {reason}",
        }
        assert sock.recv(1) == b""  # and the connection is closed


def test_a_refused_request_behind_a_pipelined_one_is_not_taken_for_its_answer(
    limited_server: int,
) -> None:
    """A 400 sent while an earlier request still waits for its answer would read as that
    request's answer: the connection is closed instead."""
    with connect(limited_server) as sock:
        refused = post_head(2, b"Content-Length: 3\r\n")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" + refused)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert not received.startswith(b"HTTP/1.1 400"), received


def test_shape_limits_from_options_and_environment(limited_server: int) -> None:
    url = f"http://127.0.0.1:{limited_server}/api/callbacks?secret={LIMITED_SECRET}"
    deep = b'{"eventType": "X.Y", "data": ' + b"[" * 8 + b"]" * 8 + b"}"
    assert httpx2.post(url, content=deep, headers=JSON).json()["code"] == "json_too_deep"
    long = b'{"eventType": "X.Y", "data": "' + b"a" * 600 + b'"}'
    response = httpx2.post(url, content=long, headers=JSON)
    assert (response.status_code, response.json()["code"]) == (413, "string_too_long")
    ok = httpx2.post(url, content=sample_bytes("ga", "PlayStarted"), headers=JSON)
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--max-depth", "1000"], {}, "--max-depth may be at most 256"),
        ([], {"CALLBACKS_READ_TIMEOUT": "-1"}, "CALLBACKS_READ_TIMEOUT"),
        ([], {"CALLBACKS_MAX_HEADER_BYTES": "0"}, "CALLBACKS_MAX_HEADER_BYTES"),
    ],
)
def test_bad_limits_are_one_clear_line(args: list[str], env: dict[str, str], message: str) -> None:
    process = start_cli("serve", "--auth", "none", *args, env=env)
    output = process.communicate(timeout=20)[0].decode()
    assert process.returncode == 2, output
    assert output.strip().count("\n") == 0
    assert message in output


# --- the real server: no secret in any output --------------------------------------------------

AUDIENCE = "8c1a0b2e-5d3f-4e6a-9b7c-0d1e2f3a4b5c"


def unsigned_token(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_no_secret_or_token_reaches_logs_responses_or_the_event_log(tmp_path: Path) -> None:
    issuer = TokenIssuer()

    async def keys(request: Request) -> Response:
        return JSONResponse(issuer.jwks())

    secret = f"query-secret-{uuid.uuid4().hex}"
    wrong_secret = f"wrong-secret-{uuid.uuid4().hex}"
    good = issuer.issue(AUDIENCE)
    tampered = good[:-6] + ("AAAAAA" if not good.endswith("AAAAAA") else "BBBBBB")
    tokens = {
        "good": good,
        "expired": issuer.issue(AUDIENCE, lifetime=60, now=time.time() - 3600),
        "wrong_audience": issuer.issue("someone-else"),
        "foreign_key": TokenIssuer().issue(AUDIENCE),
        "tampered": tampered,
        "alg_none": unsigned_token({"iss": issuer.issuer, "aud": AUDIENCE, "exp": 2**31}),
        "garbage": f"not-a-jwt-{uuid.uuid4().hex}",
    }
    store = tmp_path / "log.db"
    with serve_in_thread(Starlette(routes=[Route(JWKS_PATH, keys)])) as key_server:
        port = free_port()
        process = start_cli(
            "serve", "--port", str(port), "--auth", "jwt+secret", "--log-level", "debug",
            "--jwks-url", key_server + JWKS_PATH, "--jwt-audience", AUDIENCE,
            "--store", f"sqlite:///{store}", "--max-string", "512", "--body-limit", "4096",
            env={"CALLBACKS_SECRET": secret},
        )
        answers: list[str] = []
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_ready(base + "/healthz", process)

            def post(
                body: bytes, token: str, query_secret: str = secret,
                content_type: str = "application/json",
            ) -> int:
                response = httpx2.post(
                    f"{base}/api/callbacks/ctx?secret={query_secret}",
                    content=body,
                    headers={"content-type": content_type, "authorization": f"Bearer {token}"},
                )
                answers.append(response.text + repr(response.headers))
                return response.status_code

            assert post(sample_bytes("ga", "CallConnected"), good) == 200
            assert post(sample_bytes("ga", "PlayStarted"), good, wrong_secret) == 401
            for name, token in tokens.items():
                if name != "good":
                    assert post(sample_bytes("ga", "PlayCompleted"), token) == 401, name
            bad_bodies = {
                b"{not json": 400,
                b"[" * 50 + b"]" * 50: 400,
                b'{"eventType": "X.Y", "data": "' + b"s" * 600 + b'"}': 413,
                b'[{"eventType": "Microsoft.Communication.DtmfReceived", "data": {}}]': 400,
                b" " * 8192: 413,
            }
            for body, status in bad_bodies.items():
                assert post(body, good) == status
            assert post(b"a=b", good, content_type="text/plain") == 415
            for method, path in [("GET", "/api/callbacks"), ("POST", "/nope")]:
                response = httpx2.request(
                    method, f"{base}{path}?secret={secret}",
                    headers={"authorization": f"Bearer {good}"},
                )
                answers.append(response.text)
                assert response.status_code in (404, 405)
        finally:
            output = stop(process, signal.SIGTERM)
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert "callback token rejected" in output  # the log did record the failures, by code
    log_bytes = b"".join(path.read_bytes() for path in tmp_path.glob("log.db*"))
    assert b"CallConnected" in log_bytes  # the event log holds what was accepted
    leaks = {"secret": secret, "wrong secret": wrong_secret}
    for name, token in tokens.items():
        leaks[f"{name} token"] = token
        if token.count(".") == 2 and token.rsplit(".", 1)[1]:
            leaks[f"{name} signature"] = token.rsplit(".", 1)[1]
    for what, value in leaks.items():
        assert value not in output, f"{what} in the server's output"
        assert value.encode() not in log_bytes, f"{what} in the event log"
        assert not any(value in answer for answer in answers), f"{what} in a response"


