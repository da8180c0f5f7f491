"""Incoming calls: Event Grid's handshake, IncomingCall deliveries, answer, reject, redirect."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from azure.communication.callautomation import PhoneNumberIdentifier, RecognizeInputType
from azure.core.exceptions import HttpResponseError, ResourceExistsError

from tests.support.emulator_harness import SECRET
from tests.support.ga_harness import Served, ga_config, serve_in_background

CALLER = "+14255550100"
APP = "8:acs:resource_app"


@pytest.fixture(scope="module")
def background() -> Iterator[Served]:
    """An emulator whose Event Grid subscription is the sample receiver's endpoint."""
    config = ga_config(ring_timeout=1.0)
    with serve_in_background(config, incoming=True) as served:
        yield served


def _ring(served: Served, caller: str = CALLER, callee: str = APP) -> dict[str, Any]:
    response = httpx2.post(f"{served.url}/emulator/incoming-calls",
                           json={"from": caller, "to": callee, "callerDisplayName": "Ada"})
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _delivered(served: Served, count: int = 1) -> dict[str, Any]:
    served.receiver.wait(lambda: len(served.receiver.incoming) >= count)
    return served.receiver.incoming[count - 1]


def test_the_handshake_comes_first_then_an_unsigned_incoming_call(served: Served) -> None:
    ringing = _ring(served)
    event = _delivered(served)
    assert served.receiver.validations == 1
    assert event["eventType"] == "Microsoft.Communication.IncomingCall"
    assert event["_aeg_event_type"] == "Notification"
    assert event["_authorization"] is None
    assert event["_query"] == f"secret={SECRET}"
    data = event["data"]
    assert data["from"] == {"kind": "phoneNumber", "rawId": f"4:{CALLER}",
                            "phoneNumber": {"value": CALLER}}
    assert data["to"]["rawId"] == APP
    assert data["callerDisplayName"] == "Ada"
    assert data["serverCallId"] == ringing["server_call_id"]
    assert data["correlationId"] == ringing["correlation_id"]
    assert data["incomingCallContext"]
    _ring(served)
    _delivered(served, 2)
    assert served.receiver.validations == 1


def test_answer_call_connects_the_caller_with_the_answer_context(served: Served) -> None:
    served.use_scenario({"callees": [{"match": CALLER, "recognize": [{"tones": "42"}]}]})
    _ring(served)
    data = _delivered(served)["data"]
    client = served.client()
    answered = client.answer_call(
        data["incomingCallContext"], served.receiver.callback_url,
        operation_context="inbound",
    )
    call_id = answered.call_connection_id
    assert answered.server_call_id == data["serverCallId"]
    assert answered.correlation_id == data["correlationId"]
    connected = served.receiver.event(call_id, "CallConnected")
    assert connected["operationContext"] == "inbound"
    connection = client.get_call_connection(call_id)
    assert [p.identifier.raw_id for p in connection.list_participants()] == [f"4:{CALLER}"]
    # the caller follows its script, as a callee would
    connection.start_recognizing_media(
        RecognizeInputType.DTMF, PhoneNumberIdentifier(CALLER), dtmf_max_tones_to_collect=2
    )
    assert served.receiver.event(call_id, "RecognizeCompleted")["dtmfResult"]["tones"] == [
        "four", "two"
    ]
    with pytest.raises(ResourceExistsError) as again:
        client.answer_call(data["incomingCallContext"], served.receiver.callback_url)
    assert again.value.error is not None and again.value.error.code == "8519"


def test_reject_and_redirect_end_the_incoming_call(served: Served) -> None:
    client = served.client()
    _ring(served)
    _ring(served)
    first, second = _delivered(served, 1)["data"], _delivered(served, 2)["data"]
    client.reject_call(first["incomingCallContext"], call_reject_reason="busy")
    client.redirect_call(second["incomingCallContext"], PhoneNumberIdentifier("+14255550199"))
    calls = {c["correlation_id"]: c for c in httpx2.get(
        f"{served.url}/emulator/incoming-calls").json()["incoming_calls"]}
    assert (calls[first["correlationId"]]["state"], calls[first["correlationId"]]["detail"]) == (
        "rejected", "busy"
    )
    assert calls[second["correlationId"]]["detail"] == "4:+14255550199"
    with pytest.raises(HttpResponseError) as late:
        client.answer_call(first["incomingCallContext"], served.receiver.callback_url)
    assert late.value.status_code == 404


def test_an_unanswered_incoming_call_times_out(served: Served) -> None:
    _ring(served)
    data = _delivered(served)["data"]
    time.sleep(1.2)
    with pytest.raises(HttpResponseError) as late:
        served.client().answer_call(data["incomingCallContext"], served.receiver.callback_url)
    assert late.value.status_code == 400
    assert late.value.error is not None and late.value.error.code == "8587"


def test_a_failed_handshake_is_reported_and_nothing_is_delivered(served: Served) -> None:
    served.receiver.answer_validation = False
    response = httpx2.post(f"{served.url}/emulator/incoming-calls",
                           json={"from": CALLER, "to": APP})
    assert response.status_code == 502
    assert response.json()["code"] == "SubscriptionValidationFailed"
    assert "404" in response.json()["message"]
    assert SECRET not in response.text
    assert served.receiver.incoming == []
    served.receiver.answer_validation = True
    _ring(served)
    _delivered(served)


def test_an_unknown_context_is_a_bad_request(served: Served) -> None:
    with pytest.raises(HttpResponseError) as bad:
        served.client().answer_call("not-a-context", served.receiver.callback_url)
    assert bad.value.status_code == 400


def test_ringing_without_a_subscription_says_how_to_configure_one() -> None:
    with serve_in_background() as served:
        response = httpx2.post(f"{served.url}/emulator/incoming-calls",
                               json={"from": CALLER, "to": APP})
    assert response.status_code == 409
    assert "--incoming-url" in response.json()["message"]
