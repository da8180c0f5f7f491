"""The console through the real app: who may see what, CSRF, escaping of what senders wrote,
bad input, retry, live updates, and serve's refusal to run it without an API key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from starlette.testclient import TestClient

from callbacks.cli import main
from callbacks.config import ServeConfig
from callbacks.events import parse_events
from callbacks.server.console.auth import COOKIE, ConsoleAuth
from callbacks.service import build_app
from callbacks.store import EventStatus, open_store
from tests.support.log_bodies import ga_element, ga_events
from tests.support.thread_server import serve_in_thread

KEY = "console-test-key-0123456789"
HOSTILE = '<script>alert("x")</script>'
CALL = 'call-<img src=x onerror="alert(1)">'


async def build(path: Path) -> None:
    """A hostile call with a dead event, and a plain call."""
    async with open_store(f"sqlite:///{path}") as store:
        body = json.dumps([ga_element(CALL, 1, operation_context=HOSTILE)]).encode()
        await store.append(parse_events(body), None)
        await store.append(ga_events("call-plain", 1, 2), None)
        await store.claim_calls("r", 10, 30)
        [item] = await store.next_events(CALL, 10)
        await store.finish("r", item.seq, EventStatus.DEAD, [])
        await store.release("r", CALL)


def config(path: Path, **overrides: object) -> ServeConfig:
    values: dict[str, object] = {
        "auth": "none", "store": f"sqlite:///{path}", "console": True, "api_key": KEY,
        "concurrency": 0, "dispatch": "inline",
    }
    values.update(overrides)
    return ServeConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "log.db"
    asyncio.run(build(path))
    return path


@pytest.fixture
def client(db: Path) -> Iterator[TestClient]:
    with TestClient(build_app(config(db)), base_url="http://console.test",
                    follow_redirects=False) as test_client:
        yield test_client


def log_in(client: TestClient) -> str:
    """Log in with the form; the CSRF token of the session."""
    answer = client.post("/console/login", data={"api_key": KEY, "next": "/console/dead"},
                         headers={"Origin": "http://console.test"})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/dead"
    page = client.get("/console/dead").text
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


BEARER = {"Authorization": f"Bearer {KEY}"}


def test_nothing_without_a_session_or_the_key(client: TestClient) -> None:
    for path in ("/console/", "/console/dead", "/console/calls/call-plain",
                 "/console/events/call-plain%2F1"):
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/console/login?next=%2Fconsole%2F")
        assert "call-plain" not in answer.text
    for path in ("/console/api/calls", "/console/api/dead", "/console/api/live?topic=calls",
                 "/console/api/events/call-plain/1"):
        answer = client.get(path)
        assert answer.status_code == 401 and answer.json()["code"] == "unauthorized", path
    wrong = client.get("/console/api/calls", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert client.get("/console/static/console.css").status_code == 200  # no call data
    assert client.get("/").headers["location"] == "/console/"


def test_the_login_form_sets_a_strict_http_only_cookie(client: TestClient) -> None:
    wrong = client.post("/console/login", data={"api_key": "guess"})
    assert wrong.status_code == 401 and COOKIE not in wrong.cookies
    assert "guess" not in wrong.text
    right = client.post("/console/login", data={"api_key": KEY, "next": "https://evil.test/"})
    assert right.status_code == 303 and right.headers["location"] == "/console/"
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert KEY not in cookie
    page = client.get("/console/")
    assert page.status_code == 200 and "call-plain" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert KEY not in page.text
    foreign = client.post("/console/login", data={"api_key": KEY},
                          headers={"Origin": "https://evil.test"})
    assert foreign.status_code == 403


def test_sessions_are_signed_and_expire() -> None:
    now = [1_000_000.0]
    auth = ConsoleAuth(KEY, clock=lambda: now[0])
    token = auth.new_session()
    assert auth.session_valid(token)
    assert ConsoleAuth(KEY, clock=lambda: now[0]).session_valid(token)  # any replica
    assert not ConsoleAuth(KEY + "x", clock=lambda: now[0]).session_valid(token)
    expires, nonce, signature = token.split(".")
    assert not auth.session_valid(f"{int(expires) + 999}.{nonce}.{signature}")
    assert not auth.session_valid("garbage") and not auth.session_valid("")
    now[0] += 13 * 3600
    assert not auth.session_valid(token)


def test_what_senders_wrote_is_escaped_on_every_page(client: TestClient) -> None:
    log_in(client)
    pages = [client.get("/console/").text, client.get("/console/dead").text]
    call_url = "/console/calls/call-%3Cimg%20src%3Dx%20onerror%3D%22alert%281%29%22%3E"
    assert call_url in pages[0]
    pages.append(client.get(call_url).text)
    event_url = call_url.replace("/calls/", "/events/") + "%2F1"
    pages.append(client.get(event_url).text)
    for text in pages:
        assert "<script>alert" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in pages[1]
    assert "&lt;img src=x onerror=" in pages[2]


def test_retry_needs_the_sessions_csrf_token(client: TestClient, db: Path) -> None:
    csrf = log_in(client)
    form = {"event_id": f"{CALL}/1", "next": "/console/dead"}
    refused = client.post("/console/retry", data=form)
    assert refused.status_code == 403
    foreign = client.post("/console/retry", data={**form, "csrf": csrf},
                          headers={"Origin": "https://evil.test"})
    assert foreign.status_code == 403
    assert client.get("/console/api/dead").json()["events"][0]["id"] == f"{CALL}/1"
    done = client.post("/console/retry", data={**form, "csrf": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/console/dead"
    assert client.get("/console/api/dead").json()["events"] == []
    event = client.get(f"/console/api/events/{CALL}/1").json()
    assert event["status"] == "pending"


def test_the_api_takes_the_key_as_a_bearer_and_retries_without_csrf(
    client: TestClient
) -> None:
    calls = client.get("/console/api/calls", headers=BEARER).json()
    assert [c["call_id"] for c in calls["calls"]] == ["call-plain", CALL]
    timeline = client.get("/console/api/calls/call-plain", headers=BEARER).json()
    assert [e["kind"] for e in timeline["timeline"]] == ["callback", "callback"]
    retried = client.post("/console/api/retry", json={"ids": [f"{CALL}/1", "nope"]},
                          headers=BEARER)
    assert retried.json() == {"retried": 1}


@pytest.mark.parametrize("query", [
    "status=bogus", "since=yesterday-ish", "until=9999-99-99", "before=abc", "before=-1",
    "limit=100000", "limit=0", "call=" + "x" * 600, "before=99999999999999999999999",
])
def test_bad_input_is_400_with_code_and_message_never_500(client: TestClient,
                                                          query: str) -> None:
    answer = client.get(f"/console/api/calls?{query}", headers=BEARER)
    assert answer.status_code == 400
    assert set(answer.json()) == {"code", "message"}
    page = client.get(f"/console/?{query}", headers=BEARER)
    assert page.status_code == 400 and 'class="error"' in page.text


def test_bad_bodies_and_topics_are_400(client: TestClient) -> None:
    for body in (b"not json", b"[]", b'{"ids": []}', b'{"ids": [1]}'):
        answer = client.post("/console/api/retry", content=body, headers=BEARER)
        assert answer.status_code == 400 and "message" in answer.json()
    assert client.get("/console/api/live?topic=nothing", headers=BEARER).status_code == 400
    assert client.get("/console/api/calls/nobody", headers=BEARER).status_code == 404
    assert client.get("/console/calls/nobody", headers=BEARER).status_code == 404


def test_live_updates_say_changed_when_the_event_does(db: Path) -> None:
    app = build_app(config(db))
    with serve_in_thread(app) as url, httpx2.Client(base_url=url, timeout=10) as http:
        topic = f"event:{CALL}/1"
        with http.stream("GET", "/console/api/live", params={"topic": topic},
                         headers=BEARER) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines) == "retry: 2000"
            retried = http.post("/console/api/retry", json={"ids": [f"{CALL}/1"]},
                                headers=BEARER)
            assert retried.json() == {"retried": 1}
            for line in lines:
                if line == "event: changed":
                    break


def test_serve_refuses_the_console_without_an_api_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = f"sqlite:///{tmp_path / 'log.db'}"
    monkeypatch.delenv("CALLBACKS_API_KEY", raising=False)
    assert main(["serve", "--auth", "none", "--store", store, "--console"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "--console needs --api-key" in line
    monkeypatch.setenv("CALLBACKS_CONSOLE", "true")
    assert main(["serve", "--auth", "none", "--store", store]) == 2
    assert "--console needs --api-key" in capsys.readouterr().err
    monkeypatch.setenv("CALLBACKS_CONSOLE", "maybe")
    assert main(["serve", "--auth", "none", "--store", store]) == 2
    assert "CALLBACKS_CONSOLE must be true or false" in capsys.readouterr().err
    assert not (tmp_path / "log.db").exists()


def test_without_the_console_there_is_none(db: Path) -> None:
    with TestClient(build_app(config(db, console=False))) as plain:
        assert plain.get("/console/", headers=BEARER).status_code == 404
        assert plain.get("/").status_code == 404
