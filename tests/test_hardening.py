"""Hostile input: JSON shape limits, slow and oversized requests, and secrets kept out of output.

The shape check is compared with a reference computed from the decoded document; the connection
limits and the secret hygiene are tested against the real ``callbacks serve`` process.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from callbacks.app import create_app
from callbacks.auth import NoAuthenticator
from callbacks.events import Event, parse_events
from callbacks.intake import InProcessIntake
from callbacks.limits import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_STRING,
    Limits,
    NotUtf8,
    StringTooLong,
    TooDeep,
    check_json,
)
from callbacks.routing import Route as RouteMatch
from callbacks.routing import Router
from callbacks.tokens import JWKS_PATH, TokenIssuer
from tests.conftest import SAMPLES, sample_bytes, sample_json
from tests.servers import free_port, start_cli, stop, wait_until_ready

JSON = {"content-type": "application/json"}

# --- the shape check against a reference -------------------------------------------------------


def depth_of(value: Any) -> int:
    """Nesting depth as a parser sees it: a scalar is 0, ``[]`` is 1."""
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    return 0


def longest_string(value: Any, ensure_ascii: bool) -> int:
    """Longest string or key, in bytes as ``json.dumps`` encodes it, quotes excluded."""

    def encoded(text: str) -> int:
        return len(json.dumps(text, ensure_ascii=ensure_ascii).encode()) - 2

    if isinstance(value, list):
        return max((longest_string(item, ensure_ascii) for item in value), default=0)
    if isinstance(value, dict):
        return max(
            (max(encoded(key), longest_string(item, ensure_ascii)) for key, item in value.items()),
            default=0,
        )
    return encoded(value) if isinstance(value, str) else 0


# Text that stresses the scan: quotes, backslashes, brackets and non-ASCII inside strings.
tricky_text = st.text(alphabet=st.sampled_from('ab"\\[]{}é\n\u2028 /'), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(tricky_text, children, max_size=4),
    max_leaves=30,
)


@given(
    value=json_values,
    ensure_ascii=st.booleans(),
    indent=st.sampled_from([None, 0, 2]),
    depth_slack=st.integers(-2, 2),
    string_slack=st.integers(-2, 2),
)
@settings(max_examples=300, deadline=None)
def test_check_json_agrees_with_the_decoded_document(
    value: Any, ensure_ascii: bool, indent: int | None, depth_slack: int, string_slack: int
) -> None:
    body = json.dumps(value, ensure_ascii=ensure_ascii, indent=indent).encode()
    depth, longest = depth_of(value), longest_string(value, ensure_ascii)
    max_depth, max_string = max(1, depth + depth_slack), max(1, longest + string_slack)
    expected: type[Exception] | None = None
    if longest > max_string:
        expected = StringTooLong
    elif depth > max_depth:
        expected = TooDeep
    if expected is None:
        check_json(body, max_depth=max_depth, max_string=max_string)
    else:
        with pytest.raises(expected):
            check_json(body, max_depth=max_depth, max_string=max_string)


def test_every_recorded_sample_passes_the_default_limits() -> None:
    bodies = [path.read_bytes() for path in sorted(SAMPLES.glob("*/*.json"))]
    batch = json.dumps([element for body in bodies for element in json.loads(body)]).encode()
    for body in [*bodies, batch]:
        check_json(body, max_depth=DEFAULT_MAX_DEPTH, max_string=DEFAULT_MAX_STRING)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[" * 200_000 + b"]" * 200_000, TooDeep),
        (b"[" * 9 + b"]" * 9, TooDeep),  # exactly one past the limit
        (b'{"a":' * 5 + b'[{"b":[[1]]}]' + b"}" * 5, TooDeep),
        (b"[" + b"[[],[[],[]]]," * 40 + b"[[[[[[[[[]]]]]]]]]]", TooDeep),  # interleaved, not a run
        (b'["' + b"x" * 300 + b'"]', StringTooLong),
        (b'{"' + b"k" * 300 + b'": 1}', StringTooLong),  # keys count too
        (b'["' + b'\\"' * 150 + b'"]', StringTooLong),  # escapes count as encoded
        ('{"a": 1}'.encode("utf-16"), NotUtf8),
        ('{"a": 1}'.encode("utf-32-be"), NotUtf8),
    ],
)
def test_check_json_refuses(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        check_json(body, max_depth=8, max_string=256)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 8 + b"]" * 8,
        b'["' + b"[" * 250 + b'"]',  # brackets inside a string are text
        b'["a\\"[[[[[[[[[[[[\\\\", "]]]]]]]]]]]]]]]]]]]]"]',  # escaped quote and backslash
        b'["' + b"x" * 256 + b'"]',
        b"[" + b'"short",' * 400 + b"1]",
        json.dumps({"eventType": "X.Y", "data": "[" * 100}).encode(),
    ],
)
def test_check_json_lets_through(body: bytes) -> None:
    check_json(body, max_depth=8, max_string=256)


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_check_json_on_arbitrary_bytes_accepts_or_refuses(body: bytes) -> None:
    with contextlib.suppress(NotUtf8, StringTooLong, TooDeep):
        check_json(body, max_depth=4, max_string=16)


def test_depth_limit_bounds_json_loads_recursion() -> None:
    with pytest.raises(ValueError, match="256"):
        Limits(depth=10_000)
    # At the ceiling the parser still has most of Python's recursion budget left.
    body = b'{"eventType": "Custom.Deep", "data": ' + b"[" * 255 + b"]" * 255 + b"}"
    check_json(body, max_depth=256, max_string=DEFAULT_MAX_STRING)
    assert parse_events(body)[0].type == "Deep"


def test_the_check_costs_little_next_to_parsing_a_typical_event() -> None:
    body = sample_bytes("ga", "ParticipantsUpdated")
    assert 1000 < len(body) < 2000

    def best_of(run: Any, rounds: int = 7, number: int = 300) -> float:
        timings = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(number):
                run()
            timings.append(time.perf_counter() - start)
        return min(timings)

    parse = best_of(lambda: parse_events(body))
    check = best_of(lambda: check_json(body, max_depth=32, max_string=65536))
    assert check < 0.2 * parse, (check, parse)


# --- the endpoint -------------------------------------------------------------------------------


def no_context(event: Event, route: RouteMatch, attempt: int, path: str | None) -> Any:
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


@contextlib.contextmanager
def serve_in_thread(app: Starlette) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free port in a thread; yield its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "key server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


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


