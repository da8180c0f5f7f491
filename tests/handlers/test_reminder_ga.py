"""The reminder flow on GA calls: the emulator's GA API, a real ``callbacks serve``.

Each prompt is a DTMF ``start_recognizing_media`` with the reminder as its prompt. Every branch:
key 1 confirms (at the first prompt, or after a missed one or a key that means nothing), key 2
invites the agent (who answers, or declines), no answer, no key at all (three RecognizeFailed
8510, then hang up), a callee hanging up mid-prompt, and ``serve`` killed mid-flow.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from callbacks.emulator.ga import codes
from callbacks.emulator.ga.connection import Connection
from callbacks.emulator.scenario import parse_scenario
from tests.support.flow_harness import GA, SOURCE, Service, running_service, wait_until

PROMPT = "https://media.example/reminder.wav?about={appointment}"
CLOSING = "https://media.example/confirmed.wav"
AGENT = "8:acs:resource_agent"
SETTINGS = {
    "CALLBACKS_REMINDER_SOURCE": SOURCE,
    "CALLBACKS_REMINDER_PROMPT_URL": PROMPT,
    "CALLBACKS_REMINDER_PROMPT_REPEATS": "3",
    "CALLBACKS_REMINDER_INPUT_TIMEOUT": "5",
    "CALLBACKS_REMINDER_CONFIRMATION_URL": CLOSING,
    "CALLBACKS_REMINDER_AGENT": AGENT,
}
CONFIRMS, ASKS_AGENT, AWAY, SILENT, HANGS_UP, SLOW, WRONG_KEY, SLOW_KILLED, AGENT_DECLINES = (
    f"+1427000000{n}" for n in range(1, 10)
)
SCENARIO = {
    "default": {"answer": True},
    "callees": [
        {"match": CONFIRMS, "recognize": [{"tones": "1"}]},
        {"match": ASKS_AGENT, "recognize": [{"tones": "2"}]},
        {"match": AGENT_DECLINES, "recognize": [{"tones": "2"}]},
        {"match": AGENT, "answer_after": 0.02},
        {"match": AWAY, "answer": False},
        {"match": SILENT},
        {"match": HANGS_UP, "hang_up": {"during_prompt": 1, "delay": 0.01}},
        {"match": SLOW, "recognize": [{"silent": True}, {"tones": "1"}]},
        {"match": WRONG_KEY, "recognize": [{"tones": "7"}, {"tones": "1"}]},
        {"match": SLOW_KILLED, "recognize": [{"silent": True}, {"tones": "1"}]},
    ],
}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    """The emulator and ``callbacks serve --handlers reminder`` on the GA API."""
    async with running_service(
        tmp_path_factory.mktemp("reminder-ga"), SCENARIO, "reminder", SETTINGS, api_version=GA
    ) as running:
        yield running


async def start(service: Service, to: str) -> tuple[str, str]:
    """Start a reminder over the API; (flow id, call id)."""
    answer = await service.start_flow("reminder", {"to": to, "appointment": "dentist"})
    assert answer.status_code == 202, answer.text
    [call] = answer.json()["calls"]
    return answer.json()["id"], call["call_id"]


def ask(number: int) -> tuple[str, str]:
    return ("recognize", f"reminder:prompt:{number}/3")


def connection(service: Service, to: str) -> Connection:
    [found] = service.connections_to(to)
    return found


async def test_key_1_confirms_plays_the_confirmation_and_hangs_up(service: Service) -> None:
    flow_id, call_id = await start(service, CONFIRMS)
    record = await service.settled("reminder", flow_id)
    assert record.outcome == "confirmed" and record.detail["prompts"] == 1
    assert service.actions(call_id) == [
        ("create_call", None), ask(1), ("play", "reminder:closing"), ("terminate_call", None),
    ]
    call = connection(service, CONFIRMS)
    [recognize, closing] = call.media.finished
    assert recognize.recognize is not None
    options = recognize.recognize.options
    assert options.dtmf_options is not None and options.dtmf_options.max_tones == 1
    assert options.initial_silence_timeout == 5 and options.interrupt_prompt
    assert recognize.sources[0].file is not None
    assert recognize.sources[0].file.uri.endswith("/reminder.wav?about=dentist")
    assert recognize.target is not None and recognize.target.named(CONFIRMS)
    assert closing.sources[0].file is not None and closing.sources[0].file.uri == CLOSING


async def test_a_missed_prompt_or_a_key_that_means_nothing_asks_again(service: Service) -> None:
    for callee in (SLOW, WRONG_KEY):
        flow_id, call_id = await start(service, callee)
        record = await service.settled("reminder", flow_id)
        assert record.outcome == "confirmed" and record.detail["prompts"] == 2
        assert service.actions(call_id) == [
            ("create_call", None), ask(1), ask(2), ("play", "reminder:closing"),
            ("terminate_call", None),
        ]


async def test_key_2_adds_the_agent(service: Service) -> None:
    flow_id, call_id = await start(service, ASKS_AGENT)
    call = connection(service, ASKS_AGENT)
    await wait_until(lambda: sum(p.connected for p in call.parties) == 2)
    for _ in range(200):
        record = await service.settled("reminder", flow_id, ended=False)
        if record.detail.get("agent") == "answered":
            break
        await asyncio.sleep(0.05)
    assert record.outcome == "agent" and record.detail["agent"] == "answered"
    assert service.actions(call_id) == [
        ("create_call", None), ask(1), ("add_participant", "reminder:invite"),
    ]
    assert [p.identifier.raw_id for p in call.parties if p.connected] == [
        "4:" + ASKS_AGENT, AGENT,
    ]
    call.end(codes.ENDED_BY_APP)


async def test_an_agent_who_declines_ends_the_call(service: Service) -> None:
    emulator = service.emulator.emulator
    emulator.scenario = parse_scenario({**SCENARIO, "callees": [
        {"match": AGENT, "answer": "decline"}, *SCENARIO["callees"],
    ]})
    try:
        flow_id, call_id = await start(service, AGENT_DECLINES)
        record = await service.settled("reminder", flow_id)
    finally:
        emulator.scenario = parse_scenario(SCENARIO)
    assert record.outcome == "agent-unreached"
    assert [a for a, _ in service.actions(call_id)][-2:] == ["add_participant", "terminate_call"]


async def test_no_answer(service: Service) -> None:
    flow_id, call_id = await start(service, AWAY)
    record = await service.settled("reminder", flow_id)
    assert record.outcome == "no-answer"
    assert service.actions(call_id) == [("create_call", None)]


async def test_no_key_asks_three_times_then_hangs_up(service: Service) -> None:
    flow_id, call_id = await start(service, SILENT)
    record = await service.settled("reminder", flow_id)
    assert record.outcome == "no-response" and record.detail["prompts"] == 3
    assert service.actions(call_id) == [
        ("create_call", None), ask(1), ask(2), ask(3), ("terminate_call", None),
    ]
    assert [op.state for op in connection(service, SILENT).media.finished] == ["failed"] * 3


async def test_a_callee_hanging_up_mid_prompt(service: Service) -> None:
    flow_id, call_id = await start(service, HANGS_UP)
    record = await service.settled("reminder", flow_id)
    assert record.outcome == "hung-up" and record.detail["prompts"] == 0
    assert service.actions(call_id) == [("create_call", None), ask(1)]


async def test_serve_killed_mid_flow_finishes_the_flow_after_a_restart(service: Service) -> None:
    flow_id, call_id = await start(service, SLOW_KILLED)
    await wait_until(lambda: ask(1) in service.actions(call_id))
    # killed once the run that asked is recorded: a kill between the service's answer and that
    # record would ask again after the restart (a recognize is not de-duplicated)
    await service.wait_idle()
    await service.stop(signal.SIGKILL)
    await asyncio.sleep(0.5)  # the first prompt goes unanswered; its RecognizeFailed waits
    assert not connection(service, SLOW_KILLED).ended  # the flow needs serve to go on
    await service.start()
    record = await service.settled("reminder", flow_id)
    assert record.outcome == "confirmed" and record.detail["prompts"] == 2
    assert service.actions(call_id) == [
        ("create_call", None), ask(1), ask(2), ("play", "reminder:closing"),
        ("terminate_call", None),
    ]
    assert service.executed_once()
    assert await service.handler_errors() == []
