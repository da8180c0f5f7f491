"""The REST API: both path forms, status codes and bodies, validation, 404s."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.emulator_harness import (
    ALICE,
    AUDIO,
    BOB,
    CAROL,
    SOURCE,
    Env,
    Receiver,
    fast_config,
    running_env,
)

V2021 = "?api-version=2021-04-15-preview1"


def calls_path(form: str, suffix: str = "") -> str:
    """``/calls<suffix>`` in the seed form, ``/calling/calls<suffix>?api-version`` in 2021's."""
    return f"/calling/calls{suffix}{V2021}" if form == "2021" else f"/calls{suffix}"


async def create(env: Env, form: str, **extra: Any) -> str:
    body = {
        "source": SOURCE,
        "targets": [ALICE],
        "callbackUri": env.receiver.callback_uri,
        "requestedModalities": ["audio"],
        "requestedCallEvents": ["participantsUpdated", "dtmfReceived"],
        **extra,
    }
    response = await env.client.post(calls_path(form), json=body)
    assert response.status_code == (201 if form == "2021" else 200), response.text
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"callLegId"}
    call_id = str(response.json()["callLegId"])
    assert str(uuid.UUID(call_id)) == call_id
    await env.receiver.wait_types(call_id, "CallLegStateChanged", "ParticipantsUpdated")
    return call_id


FORMS = ["seed", "2021"]


@pytest.mark.parametrize("form", FORMS)
async def test_play_audio_answers_202_not_started_then_posts_its_result(
    env: Env, form: str
) -> None:
    call_id = await create(env, form)
    id_field = "audioFileId" if form == "2021" else "resourceId"
    body = {"audioFileUri": AUDIO, "operationContext": "welcome", id_field: "res-1"}
    response = await env.client.post(calls_path(form, f"/{call_id}/PlayAudio"), json=body)
    assert response.status_code == 202
    answer = response.json()
    assert answer["status"] == "notStarted"
    assert answer["operationContext"] == "welcome"
    assert set(answer) == {"id", "status", "operationContext", "resultInfo"}
    assert set(answer["resultInfo"]) == {"code", "subcode", "message"}
    await env.receiver.wait_types(call_id, "PlayAudioResult")
    result = env.receiver.of(call_id)[-1].event["data"]
    assert result["OperationContext"] == "welcome"


@pytest.mark.parametrize("form", FORMS)
async def test_cancel_media_processing_answers_202_with_an_operation(env: Env, form: str) -> None:
    call_id = await create(env, form)
    path = calls_path(form, f"/{call_id}/CancelMediaProcessing")
    response = await env.client.post(path, json={"operationContext": "stop"})
    assert response.status_code == 202
    assert response.json()["status"] == "notStarted"
    assert response.json()["operationContext"] == "stop"


@pytest.mark.parametrize("form", FORMS)
async def test_invite_and_remove_answer_202_with_an_empty_body(env: Env, form: str) -> None:
    call_id = await create(env, form)
    path = calls_path(form, f"/{call_id}/participants")
    response = await env.client.post(path, json={"participants": [CAROL], "operationContext": "i"})
    assert (response.status_code, response.content) == (202, b"")
    await env.receiver.wait_types(call_id, "InviteParticipantResult", "ParticipantsUpdated")
    carol = env.receiver.of(call_id)[-1].event["data"]["Participants"][-1]
    assert carol["Identifier"]["RawId"] == "8:acs:resource_carol"
    removal = calls_path(form, f"/{call_id}/participants/{carol['ParticipantId']}")
    response = await env.client.delete(removal)
    assert (response.status_code, response.content) == (202, b"")
    await env.receiver.wait_for(lambda _: len(env.receiver.types(call_id)) >= 6)
    last = env.receiver.of(call_id)[5].event["data"]["Participants"]
    assert [p["Identifier"]["RawId"] for p in last] == ["8:acs:resource_alice"]


@pytest.mark.parametrize("form", FORMS)
async def test_hangup_answers_202_and_ends_the_call(env: Env, form: str) -> None:
    call_id = await create(env, form)
    response = await env.client.post(calls_path(form, f"/{call_id}/Hangup"))
    assert (response.status_code, response.content) == (202, b"")
    await env.receiver.wait_for(lambda _: len(env.receiver.types(call_id)) >= 5)
    states = [r.event["data"].get("CallState") for r in env.receiver.of(call_id)]
    assert states[-2:] == ["Terminating", "Terminated"]


@pytest.mark.parametrize("action", ["playaudio", "PLAYAUDIO", "PlayAudio", "pLaYaUdIo"])
async def test_action_names_match_case_insensitively(env: Env, action: str) -> None:
    call_id = await env.established()
    response = await env.client.post(f"/calls/{call_id}/{action}", json={"audioFileUri": AUDIO})
    assert response.status_code == 202


async def test_hangup_case_insensitive_and_participants_collection_too(env: Env) -> None:
    call_id = await env.established()
    response = await env.client.delete(f"/calls/{call_id}/PARTICIPANTS/{uuid.uuid4()}")
    assert response.json()["code"] == "ParticipantNotFound"
    assert (await env.client.post(f"/calls/{call_id}/hangup")).status_code == 202


async def test_2021_form_requires_source(env: Env) -> None:
    body = {"targets": [ALICE], "callbackUri": env.receiver.callback_uri}
    response = await env.client.post(calls_path("2021"), json=body)
    assert response.status_code == 400
    assert response.json() == {"code": "BadRequest", "message": "source: field required"}
    # the seed's form does not require it
    assert (await env.client.post("/calls", json=body)).status_code == 200


@pytest.mark.parametrize(
    ("query", "code"),
    [("", "MissingApiVersionParameter"), ("?api-version=2099-01-01", "UnsupportedApiVersion")],
)
async def test_2021_form_checks_api_version(env: Env, query: str, code: str) -> None:
    body = {"source": SOURCE, "targets": [ALICE], "callbackUri": env.receiver.callback_uri}
    response = await env.client.post(f"/calling/calls{query}", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["message"].startswith("api-version:")
    assert not env.running.emulator.calls


CREATE_ERRORS = [
    ({"callbackUri": "http://x/cb"}, "targets: field required"),
    ({"targets": [None], "callbackUri": "http://x/cb"}, "targets[0]: "),
    ({"targets": [], "callbackUri": "http://x/cb"}, "targets: "),
    ({"targets": [{"kind": "x"}], "callbackUri": "http://x/cb"}, "targets[0]: "),
    ({"targets": [ALICE]}, "callbackUri: field required"),
    ({"targets": [ALICE], "callbackUri": "/relative"}, "callbackUri: must be an absolute"),
    (
        {"targets": [ALICE], "callbackUri": "http://x/", "requestedCallEvents": ["nope"]},
        "requestedCallEvents: unknown event 'nope'",
    ),
    (
        {"targets": [ALICE], "callbackUri": "http://x/", "requestedModalities": ["smell"]},
        "requestedModalities: unknown modality",
    ),
    ({"targets": [ALICE], "callbackUri": "http://x/", "subject": 5}, "subject: "),
]


@pytest.mark.parametrize(("body", "message"), CREATE_ERRORS)
async def test_create_call_400_names_the_field(env: Env, body: Any, message: str) -> None:
    response = await env.client.post("/calls", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == "BadRequest"
    assert response.json()["message"].startswith(message)
    assert not env.running.emulator.calls


@pytest.mark.parametrize(
    ("action", "body", "message"),
    [
        ("PlayAudio", b"{}", "audioFileUri: field required"),
        ("PlayAudio", b'{"audioFileUri": "x.wav"}', "audioFileUri: must be an absolute"),
        ("PlayAudio", b'{"audioFileUri": "http://a/b.wav", "loop": "yes"}', "loop: "),
        ("PlayAudio", b"", "body: a JSON object is required"),
        ("PlayAudio", b"[1]", "body: expected a JSON object"),
        ("PlayAudio", b"{oops", "body: not valid JSON"),
        ("participants", b'{"participants": []}', "participants: "),
        ("participants", b'{"operationContext": "x"}', "participants: field required"),
        ("CancelMediaProcessing", b'{"operationContext": 3}', "operationContext: "),
        ("Hangup", b"nope", "body: not valid JSON"),
    ],
)
async def test_call_operations_400_name_the_field(
    env: Env, action: str, body: bytes, message: str
) -> None:
    call_id = await env.established()
    response = await env.client.post(
        f"/calls/{call_id}/{action}", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith(message)


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("POST", "/Hangup"),
        ("POST", "/PlayAudio"),
        ("POST", "/CancelMediaProcessing"),
        ("POST", "/participants"),
        ("DELETE", "/participants/p1"),
    ],
)
@pytest.mark.parametrize("form", FORMS)
async def test_unknown_call_is_404(env: Env, method: str, suffix: str, form: str) -> None:
    unknown = str(uuid.uuid4())
    body = {"audioFileUri": AUDIO, "participants": [BOB]} if method == "POST" else None
    response = await env.client.request(method, calls_path(form, f"/{unknown}{suffix}"), json=body)
    assert response.status_code == 404
    assert response.json() == {"code": "CallNotFound", "message": f"call {unknown} not found"}


async def test_unknown_operation_and_route_and_method_answer_json_errors(env: Env) -> None:
    call_id = await env.established()
    response = await env.client.post(f"/calls/{call_id}/Transfer", json={})
    assert (response.status_code, response.json()["code"]) == (404, "NotFound")
    response = await env.client.get("/nowhere")
    assert (response.status_code, response.json()["code"]) == (404, "NotFound")
    response = await env.client.get("/calls")
    assert (response.status_code, response.json()["code"]) == (405, "MethodNotAllowed")


async def test_operations_before_the_call_is_established_are_400(receiver: Receiver) -> None:
    async with running_env(fast_config(answer_delay=5.0), receiver) as env:
        call_id = await env.create_call()
        response = await env.client.post(
            f"/calls/{call_id}/PlayAudio", json={"audioFileUri": AUDIO}
        )
        assert response.status_code == 400
        assert response.json()["code"] == "CallNotEstablished"


async def test_operations_on_an_ended_call_are_400_and_hangup_stays_202(env: Env) -> None:
    call_id = await env.established()
    assert (await env.client.post(f"/calls/{call_id}/Hangup")).status_code == 202
    response = await env.client.post(f"/calls/{call_id}/PlayAudio", json={"audioFileUri": AUDIO})
    assert (response.status_code, response.json()["code"]) == (400, "CallEnded")
    response = await env.client.post(f"/calls/{call_id}/participants", json={"participants": [BOB]})
    assert (response.status_code, response.json()["code"]) == (400, "CallEnded")
    assert (await env.client.post(f"/calls/{call_id}/Hangup")).status_code == 202
    await env.running.emulator.delivery.wait_idle()
    assert env.receiver.types(call_id).count("CallLegStateChanged") == 4


async def test_invite_of_someone_already_in_the_call_is_400(env: Env) -> None:
    call_id = await env.established()
    body = {"participants": [BOB, ALICE]}
    response = await env.client.post(f"/calls/{call_id}/participants", json=body)
    assert response.status_code == 400
    assert response.json()["message"] == "participants[1]: already in the call"


async def test_a_body_over_the_limit_is_413(receiver: Receiver) -> None:
    async with running_env(fast_config(max_body_bytes=64), receiver) as env:
        body = {"targets": [ALICE] * 10, "callbackUri": "http://x/"}
        response = await env.client.post("/calls", json=body)
        assert (response.status_code, response.json()["code"]) == (413, "PayloadTooLarge")
