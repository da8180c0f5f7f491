"""The control API: drive calls by hand and read the logs."""

from __future__ import annotations

import uuid

import pytest

from callbacks.emulator import parse_scenario
from tests.support.emulator_harness import ALICE, AUDIO, BOB, SECRET, Env


async def test_health_and_call_listing(env: Env) -> None:
    assert (await env.control.get("/emulator/healthz")).json() == {"status": "ok", "calls": 0}
    call_id = await env.established()
    calls = (await env.control.get("/emulator/calls")).json()["calls"]
    assert [c["call_id"] for c in calls] == [call_id]
    call = calls[0]
    assert call["state"] == "Established"
    assert call["callback_uri"].endswith("?secret=***")
    assert call["participants"][0]["raw_id"] == "8:acs:resource_alice"
    assert call["participants"][0]["state"] == "connected"


async def test_an_unknown_call_is_404_in_the_control_api_too(env: Env) -> None:
    unknown = str(uuid.uuid4())
    for method, path in [
        ("GET", f"/emulator/calls/{unknown}"),
        ("POST", f"/emulator/calls/{unknown}/tones"),
        ("POST", f"/emulator/calls/{unknown}/hangup"),
        ("POST", f"/emulator/calls/{unknown}/answer"),
    ]:
        response = await env.control.request(method, path, json={"tones": "1"})
        assert (response.status_code, response.json()["code"]) == (404, "CallNotFound")


async def test_tones_by_hand_name_the_participant_any_way(env: Env) -> None:
    call_id = await env.create_call(ALICE, BOB, requestedCallEvents=["dtmfReceived"])
    await env.receiver.wait_types(call_id, "ParticipantsUpdated", "ParticipantsUpdated")
    path = f"/emulator/calls/{call_id}/tones"
    response = await env.control.post(
        path, json={"tones": ["tone3"], "participant": "+14251001000"}
    )
    assert response.status_code == 202
    assert response.json()["tones"] == ["Tone3"] and response.json()["posted"] is True
    await env.receiver.wait_types(call_id, "DtmfReceived")
    response = await env.control.post(path, json={"tones": "1", "participant": "+1999"})
    assert (response.status_code, response.json()["code"]) == (404, "ParticipantNotFound")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"tones": "1Z"}, "tones: unknown DTMF tone 'Z'"),
        ({"tones": 7}, "tones: "),
        ({}, "tones: field required"),
        ({"tones": "1", "who": "x"}, "who: unknown field"),
    ],
)
async def test_bad_tone_requests_are_400_naming_the_field(
    env: Env, body: dict[str, object], message: str
) -> None:
    call_id = await env.established()
    response = await env.control.post(f"/emulator/calls/{call_id}/tones", json=body)
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)


async def test_answer_by_hand_a_callee_that_would_not(env: Env) -> None:
    env.running.emulator.scenario = parse_scenario({"default": {"answer": False}})
    call_id = await env.create_call()
    response = await env.control.post(f"/emulator/calls/{call_id}/answer")
    assert response.status_code == 200
    assert response.json()["state"] == "Established"
    await env.receiver.wait_types(call_id, "CallLegStateChanged", "ParticipantsUpdated")
    again = await env.control.post(f"/emulator/calls/{call_id}/answer")
    assert (again.status_code, again.json()["code"]) == (404, "ParticipantNotFound")


async def test_hang_up_one_participant_or_the_whole_call_by_hand(env: Env) -> None:
    call_id = await env.create_call(ALICE, BOB)
    await env.receiver.wait_types(call_id, "ParticipantsUpdated", "ParticipantsUpdated")
    path = f"/emulator/calls/{call_id}/hangup"
    response = await env.control.post(path, json={"participant": "8:acs:resource_alice"})
    assert response.json()["state"] == "Established"
    await env.receiver.wait_types(
        call_id, "ParticipantsUpdated", "ParticipantsUpdated", "ParticipantsUpdated"
    )
    left = env.receiver.of(call_id)[-1].event["data"]["Participants"]
    assert [p["Identifier"]["RawId"] for p in left] == ["4:+14251001000"]
    response = await env.control.post(path)
    assert response.json()["state"] == "Terminated"


async def test_the_request_log_records_each_request_with_its_outcome(env: Env) -> None:
    call_id = await env.established()
    await env.client.post(
        f"/calls/{call_id}/PlayAudio", json={"audioFileUri": AUDIO, "operationContext": "p"}
    )
    await env.client.post(f"/calls/{uuid.uuid4()}/Hangup")
    log = (await env.control.get("/emulator/requests")).json()["requests"]
    assert [(r["operation"], r["status"], r["error"]) for r in log] == [
        ("create_call", 200, None),
        ("play_audio", 202, None),
        ("hang_up", 404, "CallNotFound"),
    ]
    assert log[1]["operation_context"] == "p" and log[1]["call_id"] == call_id
    assert log[0]["t"] <= log[1]["t"] <= log[2]["t"]
    assert all(r["at"].endswith("Z") for r in log)
    only = (await env.control.get("/emulator/requests", params={"call": call_id})).json()
    assert [r["operation"] for r in only["requests"]] == ["create_call", "play_audio"]


async def test_the_callback_log_shows_deliveries_without_the_secret(env: Env) -> None:
    call_id = await env.established()
    await env.running.emulator.delivery.wait_idle()
    response = await env.control.get("/emulator/callbacks", params={"call": call_id})
    assert SECRET not in response.text
    log = response.json()["callbacks"]
    assert [c["event_type"] for c in log] == [
        "CallLegStateChanged",
        "CallLegStateChanged",
        "ParticipantsUpdated",
    ]
    for record in log:
        assert record["status"] == "delivered"
        assert record["url"].endswith("/api/callbacks?secret=***")
        assert [a["status"] for a in record["attempts"]] == [200]
        assert record["delivered_at"] >= record["at"]
        assert record["event"]["id"] == record["event_id"]
    typed = await env.control.get("/emulator/callbacks", params={"type": "ParticipantsUpdated"})
    assert len(typed.json()["callbacks"]) == 1


async def test_reset_forgets_calls_logs_and_repeatability(env: Env) -> None:
    call_id = await env.established()
    await env.client.post(
        f"/calls/{call_id}/PlayAudio",
        json={"audioFileUri": AUDIO, "loop": True},
        headers={"Repeatability-Request-ID": "r-1"},
    )
    assert (await env.control.post("/emulator/reset")).json() == {"reset": True}
    assert (await env.control.get("/emulator/calls")).json() == {"calls": []}
    assert (await env.control.get("/emulator/requests")).json() == {"requests": []}
    assert (await env.control.get("/emulator/callbacks")).json() == {"callbacks": []}
    assert (await env.control.get("/emulator/repeatability")).json() == {"executions": {}}
    response = await env.client.post(f"/calls/{call_id}/Hangup")
    assert response.status_code == 404


async def test_idle_waits_for_pending_callbacks(env: Env) -> None:
    await env.established()
    response = await env.control.get("/emulator/idle", params={"timeout": "2"})
    assert response.json() == {"idle": True}
    bad = await env.control.get("/emulator/idle", params={"timeout": "soon"})
    assert (bad.status_code, bad.json()["message"]) == (
        400,
        "timeout: expected a number of seconds",
    )


async def test_faults_can_be_read_changed_and_forced(env: Env) -> None:
    faults = (await env.control.get("/emulator/faults")).json()
    assert faults["rate_429"] == 0 and faults["forced"] == []
    changed = await env.control.put("/emulator/faults", json={"rate_500": 0.25, "retry_after": 3})
    assert changed.status_code == 200
    assert (changed.json()["rate_500"], changed.json()["retry_after"]) == (0.25, 3)
    assert env.running.emulator.faults.config.rate_500 == 0.25
    forced = await env.control.post("/emulator/faults/next", json={"statuses": [503]})
    assert forced.json()["forced"] == [503]
    response = await env.client.post("/calls", json={"targets": [ALICE]})
    assert (response.status_code, response.headers["retry-after"]) == (503, "3")


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("PUT", "/emulator/faults", {"rate_429": 2}, "faults: rate_429 must be between 0 and 1"),
        ("PUT", "/emulator/faults", {"rate_429": "x"}, "rate_429: "),
        ("PUT", "/emulator/faults", {"bogus": 1}, "bogus: unknown field"),
        ("PUT", "/emulator/faults", {"latency": None}, "faults: only seed may be null"),
        ("POST", "/emulator/faults/next", {"statuses": [418]}, "statuses: cannot force status 418"),
        ("POST", "/emulator/faults/next", {"statuses": []}, "statuses: "),
    ],
)
async def test_bad_fault_settings_are_400(
    env: Env, method: str, path: str, body: dict[str, object], message: str
) -> None:
    response = await env.control.request(method, path, json=body)
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)
