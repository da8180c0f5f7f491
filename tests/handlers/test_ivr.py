"""The IVR end to end: Event Grid IncomingCall, answer, menus, transfers, voicemail, outcomes.

A real ``callbacks serve --handlers ivr`` with the menus of :mod:`tests.support.ivr_menus`
(``CALLBACKS_CONFIG``) is the emulator's Event Grid subscription; each test rings it from a
scripted caller of the scenario and reads the call's outcome back from the log as
``callbacks flows`` does. Every
branch: a key, a spoken phrase, a choice, a submenu, an invalid key and an unmatched phrase
(replays with the retry message), no input until the fallback, a transfer accepted and one
declined, a voicemail ended by ``#`` (after another key), by the caller hanging up and by its
maximum length, a message then back to the menu, a goodbye option, the caller hanging up
mid-menu, ``callbacks ring``, and ``serve`` killed mid-menu.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from callbacks.emulator.ga.connection import Connection
from callbacks.emulator.ga.recording import Recording
from callbacks.flows.flow import FlowRecord
from handlers.ivr.call import IvrCall
from tests.support.flow_harness import GA, Service, running_service, wait_until
from tests.support.ivr_menus import (
    AGENT_DECLINES,
    BILLING,
    BROKEN,
    COGNITIVE,
    HANGS_UP_MENU,
    HANGS_UP_RECORDING,
    HOURS,
    IVR,
    IVR_TOML,
    KEYS_SALES,
    KILLED,
    NEWS_THEN_BYE,
    POUND,
    SALES,
    SAYS_SUPPORT,
    SCENARIO,
    SILENT,
    WRONG_INPUT,
)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    """The emulator ringing ``callbacks serve --handlers ivr --config ivr.toml`` (GA)."""
    tmp = tmp_path_factory.mktemp("ivr")
    config = tmp / "ivr.toml"
    config.write_text(IVR_TOML)
    async with running_service(
        tmp, SCENARIO, "ivr", {"CALLBACKS_CONFIG": str(config)}, api_version=GA,
        incoming=True, ring_timeout=5,
    ) as running:
        yield running


async def call(service: Service, caller: str) -> tuple[FlowRecord, Connection]:
    """Ring the IVR from ``caller``; its record once the call has ended, and the call."""
    incoming = await service.ring(caller, IVR)
    flow_id = IvrCall.answering(incoming.correlation_id, "", "").id
    record = await service.settled("ivr", flow_id)
    assert incoming.call_connection_id is not None
    return record, service.emulator.emulator.ga.connection(incoming.call_connection_id)


def actions(service: Service, connection: Connection) -> list[tuple[str, str | None]]:
    return service.actions(connection.id)


def recording_of(service: Service, connection: Connection) -> Recording:
    [recording] = [r for r in service.emulator.emulator.ga.recordings.values()
                   if r.connection is connection]
    return recording


def stopped_by_request(service: Service, recording: Recording) -> bool:
    """Whether ``stop_recording`` stopped it (rather than the call's end)."""
    return recording.stopped and any(
        r.operation == "stop_recording" and recording.id in r.path and r.status < 300
        for r in service.emulator.emulator.journal.requests
    )


def ask(menu: str, number: int) -> tuple[str, str]:
    return ("recognize", f"ivr:ask:{menu}:{number}/3")


async def test_a_key_transfers_the_caller(service: Service) -> None:
    record, connection = await call(service, KEYS_SALES)
    assert record.outcome == "transferred" and record.detail["transferred_to"] == "4:" + SALES
    assert record.summary == f"{KEYS_SALES} transferred to {SALES} [main:sales]"
    assert actions(service, connection) == [
        ("answer_call", "ivr:answer"), ask("main", 1),
        ("transfer_to_participant", "ivr:transfer:main/1"),
    ]
    assert connection.cognitive_endpoint == COGNITIVE  # passed when the call was answered
    [menu] = connection.media.finished
    assert menu.recognize is not None and menu.recognize.input_type == "choices"
    assert [c.label for c in menu.recognize.options.choices][:2] == ["sales", "support"]
    assert menu.target is not None and menu.target.named(KEYS_SALES)
    assert service.executed_once()


async def test_phrases_and_a_choice_lead_through_a_submenu(service: Service) -> None:
    record, connection = await call(service, SAYS_SUPPORT)
    assert record.outcome == "transferred" and record.detail["transferred_to"] == BILLING
    assert record.detail["choices"] == ["main:support", "support:Billing"]
    assert actions(service, connection) == [
        ("answer_call", "ivr:answer"), ask("main", 1), ask("support", 1),
        ("transfer_to_participant", "ivr:transfer:support/1"),
    ]


async def test_a_declined_transfer_fails_and_hangs_up(service: Service) -> None:
    record, connection = await call(service, AGENT_DECLINES)
    assert record.outcome == "failed"
    assert record.detail["failure"] == "the transfer of main/5 failed"
    assert actions(service, connection) == [
        ("answer_call", "ivr:answer"), ask("main", 1), ("play", "ivr:transfer:main/5"),
        ("transfer_to_participant", "ivr:transfer:main/5"), ("terminate_call", None),
    ]


async def test_a_menu_whose_prompt_cannot_play_fails_and_hangs_up(service: Service) -> None:
    record, connection = await call(service, BROKEN)
    assert record.outcome == "failed"
    assert record.detail["failure"] == "the prompt of menu broken could not be played"
    assert actions(service, connection) == [
        ("answer_call", "ivr:answer"), ask("main", 1), ask("broken", 1), ("terminate_call", None),
    ]


async def test_no_input_replays_the_menu_then_runs_the_fallback(service: Service) -> None:
    record, connection = await call(service, SILENT)
    assert record.outcome == "voicemail" and record.detail["fallback"] is True
    assert record.detail["voicemail_ended_by"] == "max-length"
    assert record.summary == f"{SILENT} voicemail (ended by max-length) via the fallback"
    assert record.detail["choices"] == []
    steps = actions(service, connection)
    assert steps[:6] == [
        ("answer_call", "ivr:answer"), ask("main", 1), ask("main", 2), ask("main", 3),
        ("play", "ivr:voicemail:fallback"), ("start_recording", None),
    ]
    operation, context = steps[6]
    assert operation == "recognize" and (context or "").startswith("ivr:record:fallback:")
    assert steps[7:] == [("terminate_call", None)]
    replay = connection.media.finished[1]
    assert [s.describe()[:4] for s in replay.sources] == ["text", "text"]  # sorry, then menu
    recording = recording_of(service, connection)
    assert record.detail["recording_id"] == recording.id and stopped_by_request(service, recording)


async def test_an_invalid_key_and_an_unmatched_phrase_replay_the_menu(service: Service) -> None:
    record, connection = await call(service, WRONG_INPUT)
    assert record.outcome == "info"
    # in a menu of choices, an unknown key (8534) and a phrase of no choice (8547) are
    # RecognizeFailed, as no input is
    assert record.detail["choices"] == ["main:hours"]
    failed = connection.media.finished[:2]
    assert [op.state for op in failed] == ["failed", "failed"]
    assert actions(service, connection) == [
        ("answer_call", "ivr:answer"), ask("main", 1), ask("main", 2), ask("main", 3),
        ("play", "ivr:play:main/3"), ("terminate_call", None),
    ]


async def test_a_voicemail_ended_by_pound_after_another_key(service: Service) -> None:
    record, connection = await call(service, POUND)
    assert record.outcome == "voicemail" and record.detail["voicemail_ended_by"] == "pound"
    assert record.summary.startswith(f"{POUND} voicemail (ended by #)")
    steps = [a for a, _ in actions(service, connection)]
    assert steps == ["answer_call", "recognize", "recognize", "play", "start_recording",
                     "recognize", "recognize", "terminate_call"]
    assert stopped_by_request(service, recording_of(service, connection))
    first, again = [c for _, c in actions(service, connection) if c and "record" in c]
    assert first == again  # the same deadline: listening goes on for the time left
    listen = connection.media.finished[-1].recognize
    assert listen is not None and listen.options.dtmf_options is not None
    assert listen.options.dtmf_options.stop_tones == ["Pound"]  # as the emulator keeps it
    assert listen.options.initial_silence_timeout is not None
    assert 15 <= listen.options.initial_silence_timeout <= 20


async def test_a_voicemail_ended_by_the_caller_hanging_up(service: Service) -> None:
    record, connection = await call(service, HANGS_UP_RECORDING)
    assert record.outcome == "voicemail" and record.detail["voicemail_ended_by"] == "hang-up"
    assert [a for a, _ in actions(service, connection)][-2:] == ["start_recording", "recognize"]
    recording = recording_of(service, connection)
    assert recording.stopped and not stopped_by_request(service, recording)  # the call's end


async def test_the_caller_hanging_up_mid_menu_abandons(service: Service) -> None:
    record, connection = await call(service, HANGS_UP_MENU)
    assert record.outcome == "abandoned"
    assert actions(service, connection) == [("answer_call", "ivr:answer"), ask("main", 1)]


async def test_a_message_back_to_the_menu_then_a_goodbye(service: Service) -> None:
    record, connection = await call(service, NEWS_THEN_BYE)
    assert record.outcome == "ended" and record.detail["choices"] == ["main:news", "main:goodbye"]
    assert actions(service, connection) == [
        ("answer_call", "ivr:answer"), ask("main", 1), ("play", "ivr:play:main/4"),
        ask("main", 1), ("play", "ivr:hangup:main/6"), ("terminate_call", None),
    ]


async def test_callbacks_ring_reaches_the_ivr(service: Service) -> None:
    before = set(service.emulator.emulator.ga.connections)
    ring = await service.cli("ring", "--emulator", service.emulator.url, "--from", HOURS,
                             "--to", IVR)
    assert ring.returncode == 0, ring.stderr
    await wait_until(lambda: len(service.emulator.emulator.ga.connections) > len(before))
    [new] = set(service.emulator.emulator.ga.connections) - before
    connection = service.emulator.emulator.ga.connection(new)
    await wait_until(lambda: connection.ended)
    await service.wait_idle()
    records = [r for r in (await service.records("ivr")).values()
               if r.detail["call_id"] == connection.id]
    assert [(r.outcome, r.summary) for r in records] == [("info", f"{HOURS} info [main:hours]")]


async def test_a_call_to_another_number_is_not_answered(service: Service) -> None:
    incoming = await service.ring(HOURS, "+14250009999")
    await asyncio.sleep(0.3)
    await service.wait_idle()
    assert incoming.state == "ringing" and incoming.call_connection_id is None
    assert await service.handler_errors() == []


async def test_serve_killed_mid_menu_goes_on_after_a_restart(service: Service) -> None:
    incoming = await service.ring(KILLED, IVR)
    await wait_until(lambda: incoming.call_connection_id is not None)
    assert incoming.call_connection_id is not None
    call_id = incoming.call_connection_id
    await wait_until(lambda: ask("main", 1) in service.actions(call_id))
    # killed once the run that asked is recorded: a kill between the service's answer and that
    # record would ask again after the restart (a recognize is not de-duplicated)
    await service.wait_idle()
    await service.stop(signal.SIGKILL)
    await asyncio.sleep(0.5)  # the menu goes unanswered; its RecognizeFailed waits
    await service.start()
    record = await service.settled("ivr", IvrCall.answering(incoming.correlation_id, "", "").id)
    assert record.outcome == "transferred" and record.detail["choices"] == ["main:sales"]
    assert service.actions(call_id) == [
        ("answer_call", "ivr:answer"), ask("main", 1), ask("main", 2),
        ("transfer_to_participant", "ivr:transfer:main/1"),
    ]
    assert service.executed_once()
    assert await service.handler_errors() == []


async def test_callbacks_flows_lists_every_ivr_outcome(service: Service) -> None:
    result = await service.cli("flows", "--store", f"sqlite:///{service.db}", "--flow", "ivr",
                               "--json")
    assert result.returncode == 0, result.stderr
    outcomes = {}
    for line in result.stdout.splitlines():
        record = json.loads(line)
        outcomes[record["from"].removeprefix("4:")] = record["outcome"]
    assert outcomes == {
        KEYS_SALES: "transferred", SAYS_SUPPORT: "transferred", AGENT_DECLINES: "failed",
        SILENT: "voicemail", WRONG_INPUT: "info", POUND: "voicemail",
        HANGS_UP_RECORDING: "voicemail", HANGS_UP_MENU: "abandoned", NEWS_THEN_BYE: "ended",
        HOURS: "info", KILLED: "transferred", BROKEN: "failed",
    }
    assert "secret" not in result.stdout
