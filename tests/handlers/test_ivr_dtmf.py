"""A keys-only IVR with file prompts runs without cognitive services, configured from the
environment alone (``CALLBACKS_IVR_MENUS`` as JSON).

The call is answered without a ``cognitive_services_endpoint``; each menu is a DTMF recognize of
one key. A key no option has comes back in RecognizeCompleted and replays the menu; no valid
input by the last replay runs the default fallback (hang up): outcome ``no-input``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from callbacks.emulator.ga.connection import Connection
from callbacks.flows.flow import FlowRecord
from handlers.ivr.call import IvrCall
from tests.support.flow_harness import GA, Service, running_service

IVR = "8:acs:resource_ivr"
DESK = "8:acs:resource_desk"
MENUS = {
    "main": {
        "prompt": "https://media.example/main.wav",
        "options": [
            {"key": "1", "action": "play", "message": "https://media.example/hours.wav"},
            {"key": "2", "action": "transfer", "to": DESK},
        ],
    },
}
SETTINGS = {
    "CALLBACKS_IVR_MENUS": json.dumps(MENUS),
    "CALLBACKS_IVR_RETRIES": "1",
    "CALLBACKS_IVR_INPUT_TIMEOUT": "3",
}
WRONG_THEN_DESK, WRONG_TWICE, SILENT = (f"+1425222{n:04d}" for n in range(1, 4))
SCENARIO = {
    "default": {"answer": True},
    "callees": [
        {"match": WRONG_THEN_DESK, "recognize": [{"tones": "7"}, {"tones": "2"}]},
        {"match": WRONG_TWICE, "recognize": [{"tones": "7"}, {"tones": "#"}]},
        {"match": SILENT},
    ],
}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    """``callbacks serve --handlers ivr`` configured by environment variables only (GA)."""
    async with running_service(
        tmp_path_factory.mktemp("ivr-dtmf"), SCENARIO, "ivr", SETTINGS, api_version=GA,
        incoming=True, ring_timeout=5,
    ) as running:
        yield running


async def call(service: Service, caller: str) -> tuple[FlowRecord, Connection]:
    incoming = await service.ring(caller, IVR)
    record = await service.settled("ivr", IvrCall.answering(incoming.correlation_id, "", "").id)
    assert incoming.call_connection_id is not None
    return record, service.emulator.emulator.ga.connection(incoming.call_connection_id)


def ask(number: int) -> tuple[str, str]:
    return ("recognize", f"ivr:ask:main:{number}/2")


async def test_a_key_no_option_has_replays_the_menu(service: Service) -> None:
    record, connection = await call(service, WRONG_THEN_DESK)
    assert record.outcome == "transferred" and record.detail["transferred_to"] == DESK
    assert record.detail["choices"] == ["main:7", "main:2"]
    assert service.actions(connection.id) == [
        ("answer_call", "ivr:answer"), ask(1), ask(2),
        ("transfer_to_participant", "ivr:transfer:main/2"),
    ]
    assert connection.cognitive_endpoint is None
    for op in connection.media.finished:
        assert op.recognize is not None and op.recognize.input_type == "dtmf"
        assert op.recognize.options.dtmf_options is not None
        assert op.recognize.options.dtmf_options.max_tones == 1
        assert op.recognize.options.initial_silence_timeout == 3
        # the menu's file alone: no retry message is set
        assert [s.file.uri if s.file else None for s in op.sources] == [MENUS["main"]["prompt"]]


@pytest.mark.parametrize("caller", [WRONG_TWICE, SILENT])
async def test_no_valid_input_by_the_last_replay_hangs_up(service: Service, caller: str) -> None:
    record, connection = await call(service, caller)
    assert record.outcome == "no-input" and record.summary.startswith(f"{caller} no-input")
    assert service.actions(connection.id) == [
        ("answer_call", "ivr:answer"), ask(1), ask(2), ("terminate_call", None),
    ]
    assert await service.handler_errors() == []
