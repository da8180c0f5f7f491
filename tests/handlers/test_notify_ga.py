"""The outage notification on GA calls: each play of the message is a DTMF recognize.

Targets of one notification: one acknowledges with any key, one answers only on its second
call, one never answers, one hangs up in the middle of the message, one listens without
pressing a key (RecognizeFailed 8510 each time). Then ``serve`` is killed right after a start
and restarted: the flow finishes, and no target is called more often than its retries allow.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from callbacks.emulator.scenario import parse_scenario
from tests.support.flow_harness import GA, SOURCE, Service, running_service, wait_until

MESSAGE = "https://media.example/outage.wav"
THANKS = "https://media.example/thanks.wav"
SETTINGS = {
    "CALLBACKS_NOTIFY_SOURCE": SOURCE,
    "CALLBACKS_NOTIFY_MESSAGE_URL": MESSAGE,
    "CALLBACKS_NOTIFY_THANKS_URL": THANKS,
    "CALLBACKS_NOTIFY_REPEATS": "2",
    "CALLBACKS_NOTIFY_RETRIES": "2",
    "CALLBACKS_NOTIFY_RETRY_DELAY": "0.2",
}
ACKS, LATE, AWAY, HANGS_UP, SILENT, AWAY_TOO, ACKS_TOO = (
    f"+1428000000{n}" for n in range(1, 8)
)
ANY_KEY = {"recognize": [{"tones": "#"}]}
SCENARIO = {
    "default": {"answer": True},
    "callees": [
        {"match": ACKS, **ANY_KEY},
        {"match": ACKS_TOO, **ANY_KEY},
        {"match": LATE, "answer": False},
        {"match": AWAY, "answer": False},
        {"match": AWAY_TOO, "answer": False},
        {"match": HANGS_UP, "hang_up": {"during_prompt": 1, "delay": 0.01}},
        {"match": SILENT},
    ],
}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    """The emulator and ``callbacks serve --handlers notify`` on the GA API."""
    async with running_service(
        tmp_path_factory.mktemp("notify-ga"), SCENARIO, "notify", SETTINGS, api_version=GA
    ) as running:
        yield running


def statuses(detail: object) -> dict[str, tuple[str, list[str]]]:
    """target -> (status, outcome of each attempt)."""
    assert isinstance(detail, dict)
    return {
        target["to"]: (target["status"], [a["outcome"] for a in target["attempts"]])
        for target in detail["targets"]
    }


async def test_every_target_called_at_once_acknowledged_or_retried(service: Service) -> None:
    emulator = service.emulator.emulator
    targets = [ACKS, LATE, AWAY, HANGS_UP, SILENT]
    answer = await service.start_flow("notify", {"to": targets})
    assert answer.status_code == 202, answer.text
    await wait_until(lambda: any(c.ended for c in service.connections_to(LATE)))
    emulator.scenario = parse_scenario({**SCENARIO, "callees": [
        {"match": LATE, **ANY_KEY}, *SCENARIO["callees"],
    ]})
    try:
        record = await service.settled("notify", answer.json()["id"], within=30)
    finally:
        emulator.scenario = parse_scenario(SCENARIO)
    assert statuses(record.detail) == {
        ACKS: ("reached", ["acknowledged"]),
        LATE: ("reached", ["no-answer", "acknowledged"]),
        AWAY: ("unreached", ["no-answer"] * 3),
        HANGS_UP: ("unreached", ["hung-up"] * 3),
        SILENT: ("unreached", ["no-response"] * 3),
    }
    assert record.outcome == "some-reached"
    [acked] = service.connections_to(ACKS)
    assert service.actions(acked.id) == [
        ("create_call", None), ("recognize", "notify:prompt:1/2"), ("play", "notify:closing"),
        ("terminate_call", None),
    ]
    prompt, thanks = acked.media.finished
    assert prompt.sources[0].file is not None and prompt.sources[0].file.uri == MESSAGE
    assert thanks.sources[0].file is not None and thanks.sources[0].file.uri == THANKS
    for call in service.connections_to(SILENT):
        assert [a for a, _ in service.actions(call.id)] == [
            "create_call", "recognize", "recognize", "terminate_call",
        ]
    for call in service.connections_to(HANGS_UP):
        assert service.actions(call.id) == [
            ("create_call", None), ("recognize", "notify:prompt:1/2"),
        ]
    assert service.executed_once()
    assert await service.handler_errors() == []


async def test_serve_killed_after_a_start_finishes_the_flow_after_a_restart(
    service: Service,
) -> None:
    answer = await service.start_flow("notify", {"to": [AWAY_TOO, ACKS_TOO]})
    assert answer.status_code == 202
    await service.stop(signal.SIGKILL)
    await asyncio.sleep(0.5)  # AWAY_TOO's first call rings out meanwhile; ACKS_TOO answers
    await service.start()
    record = await service.settled("notify", answer.json()["id"], within=30)
    assert statuses(record.detail) == {
        AWAY_TOO: ("unreached", ["no-answer"] * 3),
        ACKS_TOO: ("reached", ["acknowledged"]),
    }
    assert len(service.connections_to(AWAY_TOO)) == 3
    assert len(service.connections_to(ACKS_TOO)) == 1
    assert service.executed_once()
