"""The endpoint through the real app: status codes, handshakes, auth, limits, dispatch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from callbacks.events import Event
from callbacks.routing import Route, Router
from callbacks.server.app import Limits, create_app
from callbacks.server.auth import NoAuthenticator, SecretAuthenticator
from callbacks.testing import InProcessIntake
from tests.support.samples import sample_bytes, sample_json

SECRET = "s3cr3t-value-for-tests"
URL = f"/api/callbacks?secret={SECRET}"
JSON = {"content-type": "application/json"}


class Seen:
    """Handler outputs: (event type, identity, path context) per run."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, str, str | None]] = []


def make_client(
    seen: Seen,
    *,
    secret: str | None = SECRET,
    limits: Limits | None = None,
    root_path: str = "",
) -> TestClient:
    router = Router()

    @router.on("*")
    async def record(event: Event, ctx: Any) -> None:
        seen.runs.append((event.type, event.identity, ctx["path_context"]))

    def make_context(
        event: Event, route: Route, attempt: int, path: str | None, received: Any = None
    ) -> Any:
        return {"path_context": path}

    intake = InProcessIntake(router, make_context)
    auth = SecretAuthenticator(secret) if secret else NoAuthenticator()
    return TestClient(create_app(intake, auth, limits=limits), root_path=root_path)


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def client(seen: Seen) -> Iterator[TestClient]:
    with make_client(seen) as test_client:
        yield test_client


def test_accepts_a_2021_event_and_dispatches_it(seen: Seen) -> None:
    with make_client(seen) as client:  # leaving runs the lifespan shutdown, which drains lanes
        body = sample_bytes("preview2021", "DtmfReceived")
        response = client.post(URL, content=body, headers=JSON)
        assert response.status_code == 200
        assert response.json() == {"accepted": 1, "duplicates": 0}
    assert [run[0] for run in seen.runs] == ["DtmfReceived"]


def test_an_array_is_accepted_whole_and_path_context_reaches_handlers(seen: Seen) -> None:
    batch = [sample_json("ga", t)[0] for t in ("CallConnected", "PlayStarted", "PlayCompleted")]
    with make_client(seen) as client:
        response = client.post(
            f"/api/callbacks/tenant-7?secret={SECRET}", content=json.dumps(batch), headers=JSON
        )
        assert response.json() == {"accepted": 3, "duplicates": 0}
    assert [(t, p) for t, _, p in seen.runs] == [
        ("CallConnected", "tenant-7"), ("PlayStarted", "tenant-7"), ("PlayCompleted", "tenant-7"),
    ]


def test_duplicates_are_counted_and_not_dispatched_twice(seen: Seen) -> None:
    body = sample_bytes("ga", "CallConnected")
    with make_client(seen) as client:
        assert client.post(URL, content=body, headers=JSON).json() == {
            "accepted": 1, "duplicates": 0,
        }
        assert client.post(URL, content=body, headers=JSON).json() == {
            "accepted": 0, "duplicates": 1,
        }
    assert len(seen.runs) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", None),
        (b'[{"eventType": "Microsoft.Communication.DtmfReceived", "data": {"CallLegId": "x"}}]',
         "data.ToneInfo"),
    ],
)
def test_malformed_or_invalid_is_400_naming_the_field(
    client: TestClient, body: bytes, field: str | None
) -> None:
    response = client.post(URL, content=body, headers=JSON)
    assert response.status_code == 400
    payload = response.json()
    assert payload["code"] == "invalid_event"
    if field:
        assert "event 0 (DtmfReceived)" in payload["message"]
        assert field in payload["message"]


def test_wrong_content_type_is_415(client: TestClient) -> None:
    response = client.post(URL, content=b"a=b", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    cloud = {"content-type": "application/cloudevents-batch+json; charset=utf-8"}
    ok = client.post(URL, content=sample_bytes("ga", "PlayStarted"), headers=cloud)
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("/api/callbacks", "missing_secret"),
        ("/api/callbacks?secret=wrong", "wrong_secret"),
        (f"/api/callbacks?secret={SECRET}x", "wrong_secret"),
    ],
)
def test_auth_failures_are_401_without_echoing_the_secret(
    client: TestClient, seen: Seen, url: str, code: str
) -> None:
    response = client.post(url, content=sample_bytes("ga", "PlayStarted"), headers=JSON)
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert SECRET not in response.text
    assert "wrong" not in response.json()["message"]  # what the caller sent is never echoed
    assert seen.runs == []


def test_auth_off_accepts_without_a_secret(seen: Seen) -> None:
    with make_client(seen, secret=None) as client:
        response = client.post(
            "/api/callbacks", content=sample_bytes("ga", "PlayStarted"), headers=JSON
        )
        assert response.status_code == 200


def test_body_over_the_limit_is_413_while_reading_chunks(seen: Seen) -> None:
    received: list[int] = []

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            received.append(1)
            yield b" " * 1024

    with make_client(seen, limits=Limits(body_bytes=4096)) as client:
        response = client.post(URL, content=chunks(), headers=JSON)
        assert response.status_code == 413
        assert response.json()["code"] == "body_too_large"
        # a declared length over the limit is refused before anything is read
        declared = client.post(URL, content=b"x" * 5000, headers=JSON)
        assert declared.status_code == 413
    assert seen.runs == []


def test_too_many_events_is_413(seen: Seen) -> None:
    batch = [sample_json("ga", "PlayStarted")[0]] * 3
    with make_client(seen, limits=Limits(events=2)) as client:
        response = client.post(URL, content=json.dumps(batch), headers=JSON)
        assert response.status_code == 413
        assert response.json()["code"] == "too_many_events"


def test_events_with_distinct_ids_are_both_accepted_and_a_bad_id_is_400(seen: Seen) -> None:
    element = sample_json("ga", "PlayCompleted")[0]
    with make_client(seen) as client:
        both = [{**element, "id": "101"}, {**element, "id": "102"}]
        response = client.post(URL, content=json.dumps(both), headers=JSON)
        assert response.json() == {"accepted": 2, "duplicates": 0}
        numeric = [{**element, "id": "103"}, {**element, "id": 104}]
        response = client.post(URL, content=json.dumps(numeric), headers=JSON)
        assert response.status_code == 400
        assert response.json() == {
            "code": "invalid_event",
            "message": "event 1: id must be a non-empty string or null, not a number",
        }
    assert [identity for _, identity, _ in seen.runs] == ["101", "102"]


def test_too_many_events_are_refused_before_any_is_parsed(seen: Seen) -> None:
    # Not one element is an event: parsed first, the body would be 400 "event 0: not an event".
    body = b"[" + b",".join([b'{"x":1}'] * 1001) + b"]"
    with make_client(seen) as client:
        response = client.post(URL, content=body, headers=JSON)
        assert response.status_code == 413
        assert response.json() == {
            "code": "too_many_events", "message": "a request may carry at most 1000 events",
        }


def test_event_grid_subscription_validation_handshake(client: TestClient, seen: Seen) -> None:
    response = client.post(
        URL,
        content=sample_bytes("eventgrid", "SubscriptionValidationEvent"),
        headers={**JSON, "aeg-event-type": "SubscriptionValidation"},
    )
    assert response.status_code == 200
    assert response.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    assert seen.runs == []


def test_a_validation_event_beside_other_events_is_refused(
    client: TestClient, seen: Seen
) -> None:
    # Answering the handshake would acknowledge the other events, which were never logged.
    [validation] = sample_json("eventgrid", "SubscriptionValidationEvent")
    [incoming] = sample_json("eventgrid", "IncomingCall")
    response = client.post(URL, content=json.dumps([incoming, validation]), headers=JSON)
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_event",
        "message": "a SubscriptionValidationEvent comes alone, not with other events",
    }
    assert seen.runs == []


@pytest.mark.parametrize(
    ("dialect", "event_type", "field"),
    [("ga", "CallConnected", "time"), ("preview2021", "CallLegStateChanged", "eventTime")],
)
@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_an_event_time_out_of_range_in_utc_is_400(
    client: TestClient, seen: Seen, dialect: str, event_type: str, field: str, moment: str
) -> None:
    sample = sample_json(dialect, event_type)
    events = sample if isinstance(sample, list) else [sample]  # the 2021 samples: one object
    events[0][field] = moment
    response = client.post(URL, content=json.dumps(events), headers=JSON)
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_event",
        "message": f"event 0 ({event_type}): {field}: "
        "Value error, out of range once in UTC (years 1 to 9999)",
    }
    assert seen.runs == []


def test_cloudevents_options_handshake(client: TestClient) -> None:
    response = client.options(
        "/api/callbacks", headers={"WebHook-Request-Origin": "eventgrid.azure.net"}
    )
    assert response.status_code == 200
    assert response.headers["webhook-allowed-origin"] == "eventgrid.azure.net"


def test_health_ready_and_unknown_routes(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    missing = client.get("/nope")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    wrong_method = client.get("/api/callbacks")
    assert wrong_method.status_code == 405
    assert set(wrong_method.json()) == {"code", "message"}


def test_posts_answer_alike_through_the_fast_path_and_through_starlette(seen: Seen) -> None:
    """Callback posts skip Starlette's router, except under a root_path (a proxy's prefix):
    both ways give the same answers, errors included, and the same path context."""
    event = sample_bytes("ga", "PlayCompleted")
    requests: list[tuple[str, bytes, dict[str, str]]] = [
        (URL, event, JSON),
        (URL, event, JSON),  # a duplicate
        (f"/api/callbacks/tenant-7?secret={SECRET}", sample_bytes("ga", "CallConnected"), JSON),
        (URL, event, {"content-type": "text/plain"}),
        ("/api/callbacks?secret=wrong", event, JSON),
        (URL, b"{not json", JSON),
        (f"/api/callbacks/a/b?secret={SECRET}", event, JSON),  # not a callbacks path: 404
        (f"/api/callbacks/?secret={SECRET}", event, JSON),
    ]

    def answers(root_path: str) -> list[tuple[int, Any]]:
        with make_client(seen, root_path=root_path) as client:
            results = []
            for url, body, headers in requests:
                response = client.post(root_path + url, content=body, headers=headers,
                                       follow_redirects=False)
                results.append((response.status_code, response.content and response.json()))
            return results

    fast = answers("")
    fast_runs = list(seen.runs)
    seen.runs.clear()
    routed = answers("/behind-proxy")
    assert fast == routed
    assert [status for status, _ in fast][:6] == [200, 200, 200, 415, 401, 400]
    assert fast[1][1] == {"accepted": 0, "duplicates": 1}
    assert fast_runs == seen.runs
    assert [p for _, _, p in fast_runs] == [None, "tenant-7"]
