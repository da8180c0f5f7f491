"""The greeting plugin on GA calls: ``play_media`` of a FileSource once per participant who joins.

Participants join by answering and by being added; one leaves; one hangs up in the middle of its
greeting; ``serve`` is killed while participants join and restarted on the same log. Nobody is
greeted twice and no handler run fails.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from callbacks.client.automation import CallAutomationClient
from callbacks.client.connection import CallConnection
from callbacks.emulator.ga.connection import Connection
from callbacks.emulator.ga.party import PartyState
from callbacks.identifiers import CommunicationUserIdentifier
from tests.support.flow_harness import GA, Service, running_service, wait_until

AUDIO = "https://media.example/welcome.wav"
ALICE, BOB, CAROL, DAVE, ERIN = (
    f"8:acs:resource_{name}" for name in ("alice", "bob", "carol", "dave", "erin")
)
SCENARIO = {
    "default": {"answer": True, "answer_after": 0.02},
    "callees": [{"match": DAVE, "hang_up": {"during_prompt": 1, "delay": 0.01}}],
}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    """The emulator and ``callbacks serve --handlers greeting`` on the GA API."""
    async with running_service(
        tmp_path_factory.mktemp("greeting-ga"), SCENARIO, "greeting",
        {"CALLBACKS_GREETING_AUDIO_URL": AUDIO}, api_version=GA,
    ) as running:
        yield running


def client(service: Service) -> CallAutomationClient:
    return CallAutomationClient.from_connection_string(
        service.emulator.connection_string, api_version=GA
    )


async def call(service: Service, target: str) -> Connection:
    """A GA call to ``target``, whose events go to ``serve``."""
    async with client(service) as automation:
        created = await automation.create_call(
            CommunicationUserIdentifier(target), service.callback_url
        )
    return service.emulator.emulator.ga.connection(created.call_connection_id)


async def add(service: Service, connection: Connection, *targets: str) -> None:
    async with client(service) as automation:
        call = automation.get_call_connection(connection.id)
        assert isinstance(call, CallConnection)
        for target in targets:
            await call.add_participant(CommunicationUserIdentifier(target))


def greeted(service: Service, connection: Connection) -> list[str | None]:
    return [context for operation, context in service.actions(connection.id)
            if operation == "play"]


async def settle(service: Service, connection: Connection, expected: list[str]) -> None:
    await wait_until(lambda: len(greeted(service, connection)) >= len(expected))
    await service.wait_idle()
    assert greeted(service, connection) == expected
    assert await service.handler_errors() == []


async def test_each_participant_who_joins_is_greeted_once(service: Service) -> None:
    connection = await call(service, ALICE)
    await settle(service, connection, [f"greeting:{ALICE}"])
    await add(service, connection, BOB, CAROL)
    await settle(service, connection, [f"greeting:{p}" for p in (ALICE, BOB, CAROL)])
    connection.leave(connection.find(BOB, PartyState.CONNECTED))
    await asyncio.sleep(0.1)  # ParticipantsUpdated without Bob: nobody new
    await settle(service, connection, [f"greeting:{p}" for p in (ALICE, BOB, CAROL)])
    assert [op.kind for op in connection.media.operations] == ["play"] * 3
    for op in connection.media.operations:
        assert op.sources[0].file is not None and op.sources[0].file.uri == AUDIO
        assert op.play_to == []  # to everyone in the call
    assert service.executed_once()


async def test_a_participant_hanging_up_mid_greeting_fails_nothing(service: Service) -> None:
    connection = await call(service, DAVE)
    await settle(service, connection, [f"greeting:{DAVE}"])
    await wait_until(lambda: connection.ended)
    assert [op.state for op in connection.media.operations] == ["dropped"]


async def test_serve_killed_while_participants_join_greets_once_after_a_restart(
    service: Service,
) -> None:
    connection = await call(service, ALICE)
    await settle(service, connection, [f"greeting:{ALICE}"])
    await service.stop(signal.SIGKILL)
    await add(service, connection, ERIN)  # Erin joins; her ParticipantsUpdated waits
    await asyncio.sleep(0.3)
    await service.start()
    await settle(service, connection, [f"greeting:{ALICE}", f"greeting:{ERIN}"])
    assert service.executed_once()
