"""The reminder flow end to end: the emulator's scripted callees, a real ``callbacks serve``.

Every branch: key 1 confirms, key 2 invites the agent (who answers, or not), no answer, no key
(the last play ends the call), a callee hanging up mid-prompt, and ``serve`` killed mid-flow
and restarted on the same log. Outcomes are read back from the log (``callbacks flows``).
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from callbacks.emulator.scenario import parse_scenario
from tests.support.flow_harness import API_KEY, SECRET, SOURCE, Service, running_service, wait_until

PROMPT = "https://media.example/reminder.wav?about={appointment}"
CLOSING = "https://media.example/confirmed.wav"
AGENT = "8:acs:resource_agent"
SETTINGS = {
    "CALLBACKS_REMINDER_SOURCE": SOURCE,
    "CALLBACKS_REMINDER_PROMPT_URL": PROMPT,
    "CALLBACKS_REMINDER_PROMPT_REPEATS": "3",
    "CALLBACKS_REMINDER_CONFIRMATION_URL": CLOSING,
    "CALLBACKS_REMINDER_AGENT": AGENT,
}
CONFIRMS, ASKS_AGENT, AWAY, SILENT, HANGS_UP, SLOW, AGENT_AWAY = (
    f"+1425000000{n}" for n in range(1, 8)
)
SCENARIO = {
    "default": {"answer": True},
    "callees": [
        {"match": CONFIRMS, "press": [{"tones": "1", "after_prompt": 1, "delay": 0.01}]},
        {"match": ASKS_AGENT, "press": [{"tones": "2", "during_prompt": 1, "delay": 0.01}]},
        {"match": AGENT_AWAY, "press": [{"tones": "2", "during_prompt": 1, "delay": 0.01}]},
        {"match": AGENT, "answer_after": 0.02},
        {"match": AWAY, "answer": False},
        {"match": SILENT},
        {"match": HANGS_UP, "hang_up": {"during_prompt": 1, "delay": 0.01}},
        {"match": SLOW, "press": [{"tones": "1", "after_prompt": 2, "delay": 0.01}]},
    ],
}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    """The emulator and ``callbacks serve --handlers reminder``."""
    async with running_service(
        tmp_path_factory.mktemp("reminder"), SCENARIO, "reminder", SETTINGS
    ) as running:
        yield running


async def start(service: Service, to: str, appointment: str = "dentist") -> tuple[str, str]:
    """Start a reminder over the API; (flow id, call id)."""
    answer = await service.start_flow("reminder", {"to": to, "appointment": appointment})
    assert answer.status_code == 202, answer.text
    [call] = answer.json()["calls"]
    return answer.json()["id"], call["call_id"]


def prompt(number: int) -> tuple[str, str]:
    return ("play_audio", f"reminder:prompt:{number}/3")


async def test_key_1_confirms_plays_the_confirmation_and_hangs_up(service: Service) -> None:
    flow_id, call_id = await start(service, CONFIRMS)
    record = await service.settled("reminder", flow_id)
    assert record.outcome == "confirmed"
    assert record.detail["to"] == CONFIRMS and record.detail["call_id"] == call_id
    assert record.detail["appointment"] == "dentist" and record.detail["prompts"] == 1
    assert service.actions(call_id) == [
        ("create_call", None), prompt(1), prompt(2), ("cancel_media_processing", None),
        ("play_audio", "reminder:closing"), ("hang_up", None),
    ]
    [call] = service.calls_to(CONFIRMS)
    assert call.plays[0].audio_file_uri.endswith("?about=dentist")
    assert [p.state.value for p in call.plays] == ["completed", "cancelled", "completed"]


async def test_key_2_invites_the_agent(service: Service) -> None:
    flow_id, call_id = await start(service, ASKS_AGENT)
    call = service.emulator.emulator.call(call_id)
    await wait_until(lambda: sum(p.connected for p in call.participants) == 2)
    # The agent's answer reaches the log only with the InviteParticipantResult callback, which
    # the emulator posts just after the agent connects: wait for that, not only for idleness.
    for _ in range(200):
        record = await service.settled("reminder", flow_id, ended=False)
        if record.detail.get("agent") == "answered":
            break
        await asyncio.sleep(0.05)
    assert record.outcome == "agent" and record.detail["agent"] == "answered"
    assert service.actions(call_id) == [
        ("create_call", None), prompt(1), ("cancel_media_processing", None),
        ("invite_participants", "reminder:invite"),
    ]
    assert [p.identifier.raw_id for p in call.participants if p.connected] == [
        "4:" + ASKS_AGENT, AGENT,
    ]
    call.hang_up()


async def test_an_agent_who_does_not_answer_ends_the_call(service: Service) -> None:
    emulator = service.emulator.emulator
    scenario = dict(SCENARIO)
    scenario["callees"] = [{"match": AGENT, "answer": False}, *SCENARIO["callees"]]
    emulator.scenario = parse_scenario(scenario)
    try:
        flow_id, call_id = await start(service, AGENT_AWAY)
        record = await service.settled("reminder", flow_id)
    finally:
        emulator.scenario = parse_scenario(SCENARIO)
    assert record.outcome == "agent-unreached"
    assert [a for a, _ in service.actions(call_id)][-2:] == ["invite_participants", "hang_up"]


async def test_no_answer(service: Service) -> None:
    flow_id, call_id = await start(service, AWAY)
    record = await service.settled("reminder", flow_id)
    assert record.outcome == "no-answer"
    assert service.actions(call_id) == [("create_call", None)]


async def test_no_key_plays_the_prompt_three_times_then_hangs_up(service: Service) -> None:
    flow_id, call_id = await start(service, SILENT)
    record = await service.settled("reminder", flow_id)
    assert record.outcome == "no-response" and record.detail["prompts"] == 3
    assert service.actions(call_id) == [
        ("create_call", None), prompt(1), prompt(2), prompt(3), ("hang_up", None),
    ]


async def test_a_callee_hanging_up_mid_prompt(service: Service) -> None:
    flow_id, call_id = await start(service, HANGS_UP)
    record = await service.settled("reminder", flow_id)
    assert record.outcome == "hung-up" and record.detail["prompts"] == 0
    assert service.actions(call_id) == [("create_call", None), prompt(1)]
    [call] = service.calls_to(HANGS_UP)
    assert [p.state.value for p in call.plays] == ["dropped"]


async def test_the_api_refuses_bad_keys_unknown_flows_and_bad_requests(service: Service) -> None:
    answer = await service.start_flow("reminder", {"to": SILENT},
                                      Authorization="Bearer wrong-key")
    assert answer.status_code == 401 and answer.json()["code"] == "wrong_api_key"
    assert "wrong-key" not in answer.text and API_KEY not in answer.text
    answer = await service.start_flow("reminder", {"to": SILENT}, Authorization="")
    assert answer.status_code == 401 and answer.json()["code"] == "missing_api_key"
    answer = await service.start_flow("notify", {"to": [SILENT]})
    assert answer.status_code == 404 and "enabled: reminder" in answer.json()["message"]
    answer = await service.start_flow("reminder", {"appointment": "x"})
    assert answer.status_code == 400 and answer.json()["message"] == "to: Field required"
    answer = await service.start_flow("reminder", {"to": "bob"})
    assert answer.status_code == 400 and "to: expected a phone number" in answer.json()["message"]
    assert not service.calls_to("bob")


async def test_an_idempotency_key_starts_a_flow_once(service: Service) -> None:
    before = len(service.calls_to(AWAY))
    first = await service.start_flow("reminder", {"to": AWAY}, **{"Idempotency-Key": "job-7"})
    again = await service.start_flow("reminder", {"to": AWAY}, **{"Idempotency-Key": "job-7"})
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert len(service.calls_to(AWAY)) == before + 1
    assert service.executed_once()
    other = await service.start_flow("reminder", {"to": AWAY}, **{"Idempotency-Key": "job-8"})
    assert other.json()["id"] != first.json()["id"]
    assert len(service.calls_to(AWAY)) == before + 2


async def test_callbacks_call_starts_a_reminder_from_the_command_line(service: Service) -> None:
    result = await service.cli("call", "reminder", "--to", CONFIRMS, "--appointment",
                               "eye test", "--json")
    assert result.returncode == 0, result.stderr
    started = json.loads(result.stdout)
    assert started["flow"] == "reminder" and started["calls"][0]["target"] == CONFIRMS
    record = await service.settled("reminder", started["id"])
    assert record.outcome == "confirmed" and record.detail["appointment"] == "eye test"
    bad = await service.cli("call", "reminder", "--to", "bob")
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "callbacks call: error: --to: expected a phone number (+14255550100) or an ACS id "
        "(8:acs:...)"
    )


async def test_serve_killed_mid_flow_finishes_the_flow_after_a_restart(service: Service) -> None:
    flow_id, call_id = await start(service, SLOW)
    await wait_until(lambda: prompt(1) in service.actions(call_id))
    await service.stop(signal.SIGKILL)
    await asyncio.sleep(0.3)  # the first prompt ends; the emulator retries its callback
    assert service.emulator.emulator.call(call_id).active  # the flow needs serve to go on
    await service.start()
    record = await service.settled("reminder", flow_id)
    assert record.outcome == "confirmed" and record.detail["prompts"] == 2
    assert service.actions(call_id) == [
        ("create_call", None), prompt(1), prompt(2), prompt(3),
        ("cancel_media_processing", None), ("play_audio", "reminder:closing"), ("hang_up", None),
    ]
    assert service.executed_once()


async def test_callbacks_flows_lists_every_outcome(service: Service) -> None:
    result = await service.cli("flows", "--store", f"sqlite:///{service.db}", "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    outcomes = {line["to"]: line["outcome"] for line in lines if line["to"] != CONFIRMS}
    assert outcomes == {
        ASKS_AGENT: "agent", AGENT_AWAY: "agent-unreached", AWAY: "no-answer",
        SILENT: "no-response", HANGS_UP: "hung-up", SLOW: "confirmed",
    }
    assert {line["outcome"] for line in lines if line["to"] == CONFIRMS} == {"confirmed"}
    table = await service.cli("flows", "--store", f"sqlite:///{service.db}", "--flow", "reminder")
    assert table.stdout.splitlines()[0].split() == ["FLOW", "ID", "STARTED", "(UTC)", "OUTCOME",
                                                    "SUMMARY"]
    assert f"{SILENT} no-response (dentist)" in table.stdout
    assert SECRET not in result.stdout + table.stdout
