"""The GA REST surface on the wire: versions, signatures, errors, routes, repeatability."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from callbacks.client.hmac import HmacAuth
from callbacks.client.versions import GA_VERSIONS
from tests.support.emulator_harness import KEY
from tests.support.ga_harness import Served

ALICE = {"kind": "phoneNumber", "rawId": "4:+14251001000", "phoneNumber": {"value": "+14251001000"}}
VERSION = "?api-version=2026-03-12"


@pytest.fixture
def rest(served: Served) -> Iterator[httpx2.Client]:
    """A client signing with the emulator's key."""
    with httpx2.Client(base_url=served.url, auth=HmacAuth(KEY)) as client:
        yield client


def _create(rest: httpx2.Client, served: Served, headers: dict[str, str] | None = None,
            **extra: Any) -> httpx2.Response:
    body = {"targets": [ALICE], "callbackUri": served.receiver.callback_url, **extra}
    return rest.post("/calling/callConnections" + VERSION, json=body, headers=headers or {})


def _repeat() -> dict[str, str]:
    return {"Repeatability-Request-ID": str(uuid.uuid4()),
            "Repeatability-First-Sent": "Mon, 01 Jan 2024 00:00:00 GMT"}


@pytest.mark.parametrize("version", GA_VERSIONS)
def test_every_ga_version_the_sdk_knows_is_accepted(rest: httpx2.Client, version: str) -> None:
    response = rest.get(f"/calling/callConnections/nope?api-version={version}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "8522"


@pytest.mark.parametrize(
    ("query", "code"),
    [("?api-version=2021-04-15-preview1", "UnsupportedApiVersion"),
     ("?api-version=2099-01-01", "UnsupportedApiVersion"),
     ("", "MissingApiVersionParameter")],
)
def test_an_unknown_or_missing_version_is_a_400_in_the_ga_shape(
    rest: httpx2.Client, served: Served, query: str, code: str
) -> None:
    response = rest.post("/calling/callConnections" + query,
                         json={"targets": [ALICE], "callbackUri": served.receiver.callback_url})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert served.emulator.ga.connections == {}


def test_the_signature_covers_path_and_query(served: Served) -> None:
    unsigned = httpx2.get(f"{served.url}/calling/callConnections/x{VERSION}")
    assert unsigned.status_code == 401
    assert unsigned.json()["error"]["code"] == "7509"

    def move_query(request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(query=b"api-version=2025-06-15")
        with httpx2.Client() as plain:
            return plain.send(request)

    signed = httpx2.Request("GET", f"{served.url}/calling/callConnections/x{VERSION}")
    HmacAuth(KEY).sign_request(signed)
    assert move_query(signed).status_code == 401


def test_bad_bodies_are_400s_naming_the_field(rest: httpx2.Client, served: Served) -> None:
    missing = rest.post("/calling/callConnections" + VERSION,
                        json={"callbackUri": served.receiver.callback_url})
    assert missing.status_code == 400
    assert missing.json()["error"] == {"code": "8523", "message": "targets: field required"}
    garbled = rest.post("/calling/callConnections" + VERSION, content=b"{nope")
    assert garbled.status_code == 400
    assert garbled.json()["error"]["message"].startswith("body: not valid JSON")
    call_id = _create(rest, served).json()["callConnectionId"]
    served.receiver.wait_types(call_id, "CallConnected")
    no_target = rest.post(f"/calling/callConnections/{call_id}:recognize{VERSION}",
                          json={"recognizeInputType": "dtmf", "recognizeOptions": {}})
    assert no_target.status_code == 400
    assert "recognizeOptions.targetParticipant" in no_target.json()["error"]["message"]
    no_max = rest.post(
        f"/calling/callConnections/{call_id}:recognize{VERSION}",
        json={"recognizeInputType": "dtmf", "recognizeOptions": {"targetParticipant": ALICE}},
    )
    assert no_max.status_code == 400
    assert "maxTonesToCollect" in no_max.json()["error"]["message"]


def test_action_routes_resolve_and_an_unknown_action_is_a_404(
    rest: httpx2.Client, served: Served
) -> None:
    call_id = _create(rest, served).json()["callConnectionId"]
    served.receiver.wait_types(call_id, "CallConnected")
    unknown = rest.post(f"/calling/callConnections/{call_id}:dance{VERSION}", json={})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "8522"
    nowhere = rest.post(f"/calling/callConnections/{call_id}/participants:juggle{VERSION}",
                        json={})
    assert nowhere.status_code == 404 and "error" in nowhere.json()
    play = rest.post(f"/calling/callConnections/{call_id}:play{VERSION}", json={
        "playSources": [{"kind": "file", "file": {"uri": "https://example.com/a.wav"}}],
    })
    assert play.status_code == 202
    assert rest.get(f"/calling/callConnections/{call_id}/participants{VERSION}").json()[
        "value"][0]["identifier"]["rawId"] == ALICE["rawId"]


def test_only_the_operations_marked_r_are_de_duplicated(
    rest: httpx2.Client, served: Served
) -> None:
    headers = _repeat()
    first, again = _create(rest, served, headers), _create(rest, served, headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["Repeatability-Result"] == "accepted"
    assert len(served.emulator.ga.connections) == 1
    call_id = first.json()["callConnectionId"]
    served.receiver.wait_types(call_id, "CallConnected")
    play = {"playSources": [{"kind": "file", "file": {"uri": "https://example.com/a.wav"}}]}
    play_headers = _repeat()
    for _ in range(2):
        response = rest.post(f"/calling/callConnections/{call_id}:play{VERSION}", json=play,
                             headers=play_headers)
        assert response.status_code == 202
    served.receiver.wait(lambda: served.receiver.types(call_id).count("PlayCompleted") == 2)
    assert play_headers["Repeatability-Request-ID"] not in served.emulator.repeatability.executions
    terminate = _repeat()
    for _ in range(2):
        response = rest.post(f"/calling/callConnections/{call_id}:terminate{VERSION}",
                             headers=terminate)
        assert response.status_code == 204
    served.idle()
    assert served.receiver.types(call_id).count("CallDisconnected") == 1
    assert served.emulator.repeatability.executions[terminate["Repeatability-Request-ID"]] == 1


def test_the_2021_api_is_unchanged_beside_it(rest: httpx2.Client) -> None:
    response = rest.post("/calls", json={"targets": [ALICE],
                                         "callbackUri": "http://127.0.0.1:9/cb"})
    assert response.status_code == 200 and "callLegId" in response.json()
    wrong = rest.post("/calling/calls?api-version=2026-03-12", json={})
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "UnsupportedApiVersion"
