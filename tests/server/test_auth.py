"""Event Grid deliveries are authenticated by the query secret in every --auth mode."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from callbacks.config import ServeConfig
from callbacks.server.auth import AuthError, EventGridAware, SecretAuthenticator
from callbacks.service import authenticator, build_app
from tests.support.samples import sample_bytes

SECRET = "s3cr3t"
EVENT_GRID = {"aeg-event-type": "Notification", "content-type": "application/json"}
CALLBACK = {"content-type": "application/json"}


class Refuse:
    """The Call Automation check of these tests: refuses everything, counting calls."""

    def __init__(self) -> None:
        self.asked = 0

    async def authenticate(self, headers: object, query: object) -> None:
        self.asked += 1
        raise AuthError("missing_token", "no bearer token")

    async def start(self) -> None:
        """Nothing to open."""

    async def stop(self) -> None:
        """Nothing to close."""


async def test_event_grid_goes_by_the_secret_and_everything_else_by_the_mode() -> None:
    callbacks = Refuse()
    auth = EventGridAware(callbacks, SecretAuthenticator(SECRET))
    await auth.authenticate({"aeg-event-type": "Notification"}, {"secret": SECRET})
    assert callbacks.asked == 0
    with pytest.raises(AuthError) as wrong:
        await auth.authenticate({"aeg-event-type": "Notification"}, {"secret": "nope"})
    assert wrong.value.code == "wrong_secret"
    with pytest.raises(AuthError) as callback:  # the secret alone does not pass a callback
        await auth.authenticate({}, {"secret": SECRET})
    assert callback.value.code == "missing_token" and callbacks.asked == 1


async def test_without_a_secret_event_grid_is_refused_with_a_reason() -> None:
    auth = EventGridAware(Refuse(), None)
    with pytest.raises(AuthError) as refused:
        await auth.authenticate({"aeg-event-type": "SubscriptionValidation"},
                                {"secret": "what-the-sender-gave"})
    assert refused.value.code == "secret_required"
    assert "what-the-sender-gave" not in refused.value.message


@pytest.mark.parametrize("mode", ["jwt", "jwt+secret"])
def test_a_jwt_receiver_takes_incoming_calls_by_their_secret(mode: str) -> None:
    config = ServeConfig(auth=mode, secret=SECRET, jwt_audience="resource-1",
                         store="sqlite:///:memory:", dispatch="inline")
    with TestClient(build_app(config)) as client:
        incoming = sample_bytes("eventgrid", "IncomingCall")
        accepted = client.post(f"/api/callbacks?secret={SECRET}", content=incoming,
                               headers=EVENT_GRID)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json() == {"accepted": 1, "duplicates": 0}
        refused = client.post("/api/callbacks?secret=nope", content=incoming, headers=EVENT_GRID)
        assert refused.status_code == 401 and refused.json()["code"] == "wrong_secret"
        # A Call Automation callback still needs its JWT, secret or not.
        callback = client.post(f"/api/callbacks?secret={SECRET}",
                               content=sample_bytes("ga", "CallConnected"), headers=CALLBACK)
        assert callback.status_code == 401
        assert json.loads(callback.text)["code"] != "wrong_secret"


def test_a_jwt_receiver_without_a_secret_refuses_event_grid_and_says_so_at_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="callbacks.serve"):
        authenticator(ServeConfig(auth="jwt", jwt_audience="resource-1"))
    assert "Event Grid deliveries (incoming calls) carry no JWT" in caplog.text
    config = ServeConfig(auth="jwt", jwt_audience="resource-1", store="sqlite:///:memory:",
                         dispatch="inline")
    with TestClient(build_app(config)) as client:
        answer = client.post("/api/callbacks?secret=anything",
                             content=sample_bytes("eventgrid", "IncomingCall"),
                             headers=EVENT_GRID)
    assert answer.status_code == 401 and answer.json()["code"] == "secret_required"
