"""Repeatability-Request-ID: a repeated id gets the first answer again and no second action."""

from __future__ import annotations

import asyncio
import uuid
from email.utils import formatdate

from tests.support.emulator_harness import ALICE, AUDIO, Env

FIRST_SENT = formatdate(usegmt=True)


def repeat_headers(request_id: str, first_sent: str = FIRST_SENT) -> dict[str, str]:
    return {"Repeatability-Request-ID": request_id, "Repeatability-First-Sent": first_sent}


async def test_a_repeated_play_gets_the_same_answer_and_plays_once(env: Env) -> None:
    call_id = await env.established()
    request_id = str(uuid.uuid4())
    body = {"audioFileUri": AUDIO, "operationContext": "once"}
    path = f"/calls/{call_id}/PlayAudio"
    first = await env.client.post(path, json=body, headers=repeat_headers(request_id))
    second = await env.client.post(path, json=body, headers=repeat_headers(request_id))
    assert first.status_code == second.status_code == 202
    assert first.content == second.content
    assert first.headers["content-type"] == second.headers["content-type"] == "application/json"
    emulator = env.running.emulator
    assert emulator.repeatability.executions[request_id] == 1
    assert [r.replayed for r in emulator.journal.requests][-2:] == [False, True]
    await env.receiver.wait_types(call_id, "PlayAudioResult")
    await asyncio.sleep(0.15)  # three play durations: a second play would have ended by now
    await emulator.delivery.wait_idle()
    assert env.receiver.types(call_id).count("PlayAudioResult") == 1
    control = await env.control.get("/emulator/repeatability")
    assert control.json()["executions"] == {request_id: 1}


async def test_a_repeated_create_call_creates_one_call(env: Env) -> None:
    request_id = str(uuid.uuid4())
    body = {"targets": [ALICE], "callbackUri": env.receiver.callback_uri}
    answers = [
        await env.client.post("/calls", json=body, headers=repeat_headers(request_id))
        for _ in range(3)
    ]
    assert {a.json()["callLegId"] for a in answers} == {answers[0].json()["callLegId"]}
    assert len(env.running.emulator.calls) == 1


async def test_the_pair_is_the_key_an_id_sent_again_at_another_time_executes_again(
    env: Env,
) -> None:
    request_id = str(uuid.uuid4())
    body = {"targets": [ALICE], "callbackUri": env.receiver.callback_uri}
    first = "Mon, 01 Jan 2024 00:00:00 GMT"
    answers = [
        await env.client.post("/calls", json=body, headers=repeat_headers(request_id, sent))
        # the same instant written two ways is the same pair; a second later is another
        for sent in (first, "Mon, 01 Jan 2024 00:00:00 +0000", "Mon, 01 Jan 2024 00:00:01 GMT")
    ]
    legs = [a.json()["callLegId"] for a in answers]
    assert legs[0] == legs[1] != legs[2]
    assert len(env.running.emulator.calls) == 2
    assert env.running.emulator.repeatability.executions[request_id] == 2
    assert [r.replayed for r in env.running.emulator.journal.requests][-3:] == [False, True, False]


async def test_concurrent_repeats_execute_once(env: Env) -> None:
    request_id = str(uuid.uuid4())
    body = {"targets": [ALICE], "callbackUri": env.receiver.callback_uri}
    answers = await asyncio.gather(
        *(
            env.client.post("/calls", json=body, headers=repeat_headers(request_id))
            for _ in range(5)
        )
    )
    assert len({a.content for a in answers}) == 1
    assert len(env.running.emulator.calls) == 1
    assert env.running.emulator.repeatability.executions[request_id] == 1


async def test_an_error_answer_is_repeated_too(env: Env) -> None:
    request_id = str(uuid.uuid4())
    path = f"/calls/{uuid.uuid4()}/Hangup"
    first = await env.client.post(path, headers=repeat_headers(request_id))
    second = await env.client.post(path, headers=repeat_headers(request_id))
    assert first.status_code == second.status_code == 404
    assert first.json() == second.json()
    assert env.running.emulator.repeatability.executions[request_id] == 1


async def test_distinct_ids_execute_each_time(env: Env) -> None:
    body = {"targets": [ALICE], "callbackUri": env.receiver.callback_uri}
    for _ in range(2):
        await env.client.post("/calls", json=body, headers=repeat_headers(str(uuid.uuid4())))
    assert len(env.running.emulator.calls) == 2


async def test_an_id_reused_for_another_request_is_409(env: Env) -> None:
    call_id = await env.established()
    request_id = str(uuid.uuid4())
    path = f"/calls/{call_id}/PlayAudio"
    await env.client.post(path, json={"audioFileUri": AUDIO}, headers=repeat_headers(request_id))
    other = {"audioFileUri": AUDIO, "loop": True}
    response = await env.client.post(path, json=other, headers=repeat_headers(request_id))
    assert response.status_code == 409
    assert response.json()["code"] == "RepeatabilityConflict"
    assert env.running.emulator.repeatability.executions[request_id] == 1


async def test_a_malformed_first_sent_is_400_naming_the_header(env: Env) -> None:
    headers = {"Repeatability-Request-ID": str(uuid.uuid4()), "Repeatability-First-Sent": "soon"}
    body = {"targets": [ALICE], "callbackUri": env.receiver.callback_uri}
    response = await env.client.post("/calls", json=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["message"].startswith("Repeatability-First-Sent:")
    assert not env.running.emulator.calls


async def test_faulted_attempts_do_not_execute_and_the_retry_executes_once(env: Env) -> None:
    emulator = env.running.emulator
    emulator.faults.force([429, 500])
    request_id = str(uuid.uuid4())
    body = {"targets": [ALICE], "callbackUri": env.receiver.callback_uri}
    statuses = []
    for _ in range(4):
        response = await env.client.post("/calls", json=body, headers=repeat_headers(request_id))
        statuses.append(response.status_code)
    assert statuses == [429, 500, 200, 200]
    assert len(emulator.calls) == 1
    assert emulator.repeatability.executions[request_id] == 1
    assert [r.fault for r in emulator.journal.requests] == [429, 500, None, None]


async def test_requests_without_an_id_are_not_deduplicated(env: Env) -> None:
    body = {"targets": [ALICE], "callbackUri": env.receiver.callback_uri}
    for _ in range(2):
        assert (await env.client.post("/calls", json=body)).status_code == 200
    assert len(env.running.emulator.calls) == 2
