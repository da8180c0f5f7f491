"""``POST /api/flows/{flow}``: bearer key, validation, idempotency, and every answer documented.

The app is the real one; the Call Automation service behind the REST client is a recording
transport (the flows against the emulator are in ``tests/handlers/``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from starlette.testclient import TestClient

from callbacks.client.automation import CallAutomationClient
from callbacks.client.retry import RetryPolicy
from callbacks.flows.state import decode_context
from callbacks.plugins.settings import PluginSettings
from callbacks.routing import Router
from callbacks.server.app import create_app
from callbacks.server.auth import NoAuthenticator
from callbacks.server.flows import FlowStarter
from callbacks.server.limits import Limits
from callbacks.server.openapi import OPENAPI_PATH
from callbacks.testing import InProcessIntake
from handlers import notify, reminder
from tests.server.test_openapi import conforms, no_context, resolve

API_KEY = "k3y-for-flows"
CALLBACK_URL = "https://receiver.example/api/callbacks?secret=s3cr3t"
SETTINGS = PluginSettings({
    reminder.ReminderSettings: reminder.ReminderSettings(
        source="8:acs:app", prompt_url="https://m.example/r.wav", agent="8:acs:agent"),
    notify.NotifySettings: notify.NotifySettings(source="8:acs:app"),
})
assert reminder.plugin.flow is not None and notify.plugin.flow is not None
FLOWS = {"reminder": reminder.plugin.flow, "notify": notify.plugin.flow}
AUTH = {"Authorization": f"Bearer {API_KEY}"}


class Service:
    """Answers create-call like the service; targets listed in ``refuse`` get a 400 that
    echoes the callbackUri (as some services do)."""

    def __init__(self) -> None:
        self.created: list[tuple[dict[str, Any], str]] = []
        self.refuse: set[str] = set()

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        target = body["targets"][0]["rawId"]
        if target in self.refuse:
            message = f"callbackUri {body['callbackUri']} is not reachable"
            return httpx2.Response(400, json={"code": "BadRequest", "message": message})
        self.created.append((body, request.headers["repeatability-request-id"]))
        return httpx2.Response(200, json={"callLegId": f"call-{len(self.created)}"})


def app(service: Service, *, api_key: str | None = API_KEY, client: bool = True) -> Any:
    rest = CallAutomationClient("https://acs.example", b"key", retry=RetryPolicy(attempts=1),
                                transport=httpx2.MockTransport(service))
    starter = FlowStarter(FLOWS, api_key=api_key, client=rest if client else None,
                          callback_url=CALLBACK_URL, settings=SETTINGS)
    return create_app(InProcessIntake(Router(), no_context), NoAuthenticator(),
                      limits=Limits(body_bytes=2048), flows=starter)


@pytest.fixture
def service() -> Service:
    return Service()


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(app(service)) as test_client:
        yield test_client


def documented(client: TestClient, response: httpx2.Response) -> None:
    """The answer's status is documented for the operation and its body fits the schema."""
    document = client.get(OPENAPI_PATH).json()
    answers = document["paths"]["/api/flows/{flow}"]["post"]["responses"]
    assert str(response.status_code) in answers, response.text
    answer = resolve(document, answers[str(response.status_code)])
    schema = answer["content"]["application/json"]["schema"]
    assert conforms(document, schema, response.json()), response.text


def test_a_reminder_starts_with_its_state_in_the_callback_url(
    client: TestClient, service: Service
) -> None:
    answer = client.post("/api/flows/reminder", json={"to": "+14251001000",
                                                      "appointment": "dentist"}, headers=AUTH)
    assert answer.status_code == 202
    documented(client, answer)
    started = answer.json()
    assert started["flow"] == "reminder" and started["calls"] == [
        {"target": "+14251001000", "call_id": "call-1"}
    ]
    [(body, _)] = service.created
    assert body["source"] == {"id": "8:acs:app"}  # GA names the calling ACS user by its id
    assert body["targets"][0]["phoneNumber"] == {"value": "+14251001000"}
    uri = urlsplit(body["callbackUri"])
    assert (uri.netloc, uri.query) == ("receiver.example", "secret=s3cr3t")
    flow, state = decode_context(uri.path.removeprefix("/api/callbacks/")) or ("", {})
    assert (flow, state) == ("reminder", {"id": started["id"], "to": "+14251001000",
                                          "appointment": "dentist"})


def test_notify_calls_every_target_and_reports_the_ones_it_could_not(
    client: TestClient, service: Service
) -> None:
    service.refuse.add("4:+14251002000")
    answer = client.post("/api/flows/notify", headers=AUTH, json={
        "to": ["+14251001000", "+14251002000", "8:acs:carol"],
        "message": "https://m.example/outage.wav",
    })
    assert answer.status_code == 202
    documented(client, answer)
    calls = answer.json()["calls"]
    assert [c["target"] for c in calls] == ["+14251001000", "+14251002000", "8:acs:carol"]
    assert "call_id" in calls[0] and "call_id" in calls[2]
    assert "is not reachable" in calls[1]["error"] and "s3cr3t" not in calls[1]["error"]
    states = [decode_context(urlsplit(b["callbackUri"]).path.rsplit("/", 1)[-1])
              for b, _ in service.created]
    assert sorted((s[1]["i"], s[1]["n"], s[1]["a"], s[1]["t"]) for s in states if s) == [
        (0, 3, 1, 3), (2, 3, 1, 3),
    ]


def test_the_same_idempotency_key_repeats_the_flow_id_and_the_request_ids(
    client: TestClient, service: Service
) -> None:
    body = {"to": ["+14251001000", "+14251002000"], "message": "https://m.example/o.wav"}
    first = client.post("/api/flows/notify", json=body,
                        headers={**AUTH, "Idempotency-Key": "outage-42"})
    again = client.post("/api/flows/notify", json=body,
                        headers={**AUTH, "Idempotency-Key": "outage-42"})
    other = client.post("/api/flows/notify", json=body,
                        headers={**AUTH, "Idempotency-Key": "outage-43"})
    assert first.json()["id"] == again.json()["id"] != other.json()["id"]
    ids = [request_id for _, request_id in service.created]
    assert ids[0:2] == ids[2:4] and ids[0] != ids[1]
    assert not set(ids[4:]) & set(ids[0:2])


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "code"),
    [
        ("/api/flows/reminder", {"json": {"to": "+1425"}}, 401, "missing_api_key"),
        ("/api/flows/reminder", {"json": {"to": "+1425"},
                                 "headers": {"Authorization": "Bearer nope"}}, 401,
         "wrong_api_key"),
        ("/api/flows/reminder", {"json": {"to": "+1425"},
                                 "headers": {"Authorization": f"Basic {API_KEY}"}}, 401,
         "missing_api_key"),
        ("/api/flows/greeting", {"json": {}, "headers": AUTH}, 404, "unknown_flow"),
        ("/api/flows/reminder", {"content": b"{oops", "headers": AUTH}, 400, "invalid_json"),
        ("/api/flows/reminder", {"json": ["+1425"], "headers": AUTH}, 400, "invalid_request"),
        ("/api/flows/reminder", {"json": {"to": "+1425", "when": "now"}, "headers": AUTH}, 400,
         "invalid_request"),
        ("/api/flows/notify", {"json": {"to": ["+1425"]}, "headers": AUTH}, 400,
         "invalid_request"),  # no message, and no message_url configured
        ("/api/flows/reminder", {"json": {"to": "+1425", "appointment": "x" * 3000},
                                 "headers": AUTH}, 413, "body_too_large"),
        ("/api/flows/reminder", {"json": {"to": "+1425"},
                                 "headers": {**AUTH, "Idempotency-Key": "k" * 201}}, 400,
         "invalid_request"),
    ],
)
def test_refusals_are_documented_and_never_echo_the_key(
    client: TestClient, service: Service, path: str, kwargs: dict[str, Any], status: int,
    code: str,
) -> None:
    answer = client.post(path, **kwargs)
    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text
    documented(client, answer)
    assert API_KEY not in answer.text and "nope" not in answer.text
    assert service.created == []
    if status == 401:
        assert answer.headers["www-authenticate"].startswith("Bearer")


def test_the_message_names_the_invalid_field(client: TestClient) -> None:
    answer = client.post("/api/flows/notify", headers=AUTH,
                         json={"to": ["+1425", "bob"], "message": "https://m.example/o.wav"})
    assert answer.json()["message"].startswith("to: expected a phone number")
    answer = client.post("/api/flows/notify", headers=AUTH, json={"to": ["+1425"]})
    assert answer.json()["message"] == "message: no message given and no message_url configured"


def test_a_service_refusing_every_call_is_a_502(client: TestClient, service: Service) -> None:
    service.refuse.add("4:+14251001000")
    answer = client.post("/api/flows/reminder", json={"to": "+14251001000"}, headers=AUTH)
    assert answer.status_code == 502 and answer.json()["code"] == "call_failed"
    documented(client, answer)
    assert "s3cr3t" not in answer.text


def test_without_an_api_key_or_a_client_the_api_refuses(service: Service) -> None:
    with TestClient(app(service, api_key=None)) as off:
        answer = off.post("/api/flows/reminder", json={"to": "+1425"}, headers=AUTH)
        assert (answer.status_code, answer.json()["code"]) == (401, "flows_disabled")
        documented(off, answer)
    with TestClient(app(service, client=False)) as no_client:
        answer = no_client.post("/api/flows/reminder", json={"to": "+1425"}, headers=AUTH)
        assert (answer.status_code, answer.json()["code"]) == (503, "flows_unavailable")
        documented(no_client, answer)
    with TestClient(create_app(InProcessIntake(Router(), no_context), NoAuthenticator())) as bare:
        answer = bare.post("/api/flows/reminder", json={"to": "+1425"}, headers=AUTH)
        assert (answer.status_code, answer.json()["code"]) == (401, "flows_disabled")
