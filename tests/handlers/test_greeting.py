"""The greeting plugin end to end: one play per participant who joins, whatever happens.

Participants join by answering and by being invited; one leaves; one hangs up in the middle of
its greeting; ``serve`` is killed while a call is being set up and restarted on the same log.
Nobody is greeted twice and no handler run fails.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from callbacks.client.automation import CallAutomationClient
from callbacks.emulator.participants import LegState
from callbacks.identifiers import CommunicationUserIdentifier
from tests.support.flow_harness import SOURCE, Service, running_service, wait_until

AUDIO = "https://media.example/welcome.wav"
ALICE, BOB, CAROL, DAVE, ERIN = (
    f"8:acs:resource_{name}" for name in ("alice", "bob", "carol", "dave", "erin")
)
SCENARIO = {
    "default": {"answer": True, "answer_after": 0.02},
    "callees": [
        {"match": DAVE, "hang_up": {"during_prompt": 1, "delay": 0.01}},
        {"match": ERIN, "answer_after": 0.3},
    ],
}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    """The emulator and ``callbacks serve --handlers greeting``."""
    async with running_service(
        tmp_path_factory.mktemp("greeting"), SCENARIO, "greeting",
        {"CALLBACKS_GREETING_AUDIO_URL": AUDIO},
    ) as running:
        yield running


async def call(service: Service, *targets: str) -> str:
    async with CallAutomationClient.from_connection_string(
        service.emulator.connection_string, api_version="2021-overview"
    ) as client:
        created = await client.create_call(
            [CommunicationUserIdentifier(t) for t in targets], service.callback_url, source=SOURCE
        )
    return created.call_leg_id


def greeted(service: Service, call_id: str) -> list[str | None]:
    return [context for operation, context in service.actions(call_id)
            if operation == "play_audio"]


async def settle(service: Service, call_id: str, expected: list[str]) -> None:
    await wait_until(lambda: len(greeted(service, call_id)) >= len(expected))
    await service.wait_idle()
    assert greeted(service, call_id) == expected
    assert await service.handler_errors() == []


async def test_each_participant_who_joins_is_greeted_once(service: Service) -> None:
    call_id = await call(service, ALICE)
    await settle(service, call_id, [f"greeting:{ALICE}"])
    async with CallAutomationClient.from_connection_string(
        service.emulator.connection_string, api_version="2021-overview"
    ) as client:
        await client.get_call_connection(call_id).invite_participants([BOB, CAROL])
    await settle(service, call_id, [f"greeting:{p}" for p in (ALICE, BOB, CAROL)])
    emulated = service.emulator.emulator.call(call_id)
    emulated.leave(emulated.find(BOB, LegState.CONNECTED))
    await asyncio.sleep(0.1)  # ParticipantsUpdated without Bob: nobody new
    await settle(service, call_id, [f"greeting:{p}" for p in (ALICE, BOB, CAROL)])
    assert all(play.audio_file_uri == AUDIO for play in emulated.plays)
    emulated.hang_up()
    assert service.executed_once()


async def test_a_participant_hanging_up_mid_greeting_fails_nothing(service: Service) -> None:
    call_id = await call(service, DAVE)
    await settle(service, call_id, [f"greeting:{DAVE}"])
    await wait_until(lambda: not service.emulator.emulator.call(call_id).active)
    assert [p.state.value for p in service.emulator.emulator.call(call_id).plays] == ["dropped"]


async def test_serve_killed_while_a_call_starts_greets_once_after_a_restart(
    service: Service,
) -> None:
    call_id = await call(service, ERIN, ALICE)  # Alice answers at once, Erin 0.3 s later
    await service.stop(signal.SIGKILL)
    await asyncio.sleep(0.5)  # both answer; their events wait at the emulator
    await service.start()
    await settle(service, call_id, [f"greeting:{ALICE}", f"greeting:{ERIN}"])
    service.emulator.emulator.call(call_id).hang_up()
    assert service.executed_once()
