"""The outage notification end to end: many targets at once, acknowledgements, retries.

Targets of one notification: one acknowledges at once, one answers only on its second call,
one never answers, one hangs up in the middle of the message, one listens without pressing a
key. Then ``serve`` is killed right after a start and restarted: the flow finishes, and no
target is called more often than its retries allow.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from callbacks.emulator.scenario import parse_scenario
from tests.support.flow_harness import SOURCE, Service, running_service, wait_until

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
    f"+1426000000{n}" for n in range(1, 8)
)
PRESS_1 = {"press": [{"tones": "1", "during_prompt": 1, "delay": 0.01}]}
SCENARIO = {
    "default": {"answer": True},
    "callees": [
        {"match": ACKS, **PRESS_1},
        {"match": ACKS_TOO, **PRESS_1},
        {"match": LATE, "answer": False},
        {"match": AWAY, "answer": False},
        {"match": AWAY_TOO, "answer": False},
        {"match": HANGS_UP, "hang_up": {"during_prompt": 1, "delay": 0.01}},
        {"match": SILENT},
    ],
}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    """The emulator and ``callbacks serve --handlers notify``."""
    async with running_service(
        tmp_path_factory.mktemp("notify"), SCENARIO, "notify", SETTINGS
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
    result = await service.cli("call", "notify", *(f"--to={t}" for t in targets), "--json")
    assert result.returncode == 0, result.stderr
    started = json.loads(result.stdout)
    assert [c["target"] for c in started["calls"]] == targets
    # LATE's first call rings out; before the retry it is placed, LATE will answer and press.
    await wait_until(lambda: any(not c.active for c in service.calls_to(LATE)))
    emulator.scenario = parse_scenario({**SCENARIO, "callees": [
        {"match": LATE, **PRESS_1}, *SCENARIO["callees"],
    ]})
    try:
        record = await service.settled("notify", started["id"], within=20)
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
    assert record.summary == (
        f"2/5 reached; unreached: {AWAY}, {HANGS_UP}, {SILENT}"
    )
    [acked] = service.calls_to(ACKS)
    assert service.actions(acked.id) == [
        ("create_call", None), ("play_audio", "notify:prompt:1/2"),
        ("cancel_media_processing", None), ("play_audio", "notify:closing"), ("hang_up", None),
    ]
    assert [p.audio_file_uri for p in acked.plays] == [MESSAGE, THANKS]
    for call in service.calls_to(SILENT):
        assert [a for a, _ in service.actions(call.id)] == [
            "create_call", "play_audio", "play_audio", "hang_up",
        ]
    for call in service.calls_to(HANGS_UP):  # hung up mid-message: nothing after the play
        assert service.actions(call.id) == [
            ("create_call", None), ("play_audio", "notify:prompt:1/2"),
        ]
    assert service.executed_once()


async def test_the_api_starts_a_notification_with_its_own_message(service: Service) -> None:
    answer = await service.start_flow(
        "notify", {"to": [ACKS_TOO], "message": "https://media.example/other.wav"}
    )
    assert answer.status_code == 202, answer.text
    record = await service.settled("notify", answer.json()["id"])
    assert record.outcome == "all-reached" and record.detail["message"].endswith("other.wav")
    [call] = service.calls_to(ACKS_TOO)
    assert call.plays[0].audio_file_uri == "https://media.example/other.wav"
    bad = await service.start_flow("notify", {"to": [ACKS_TOO, ACKS_TOO]})
    assert bad.status_code == 400 and bad.json()["message"] == "to: a target is listed twice"


async def test_serve_killed_after_a_start_finishes_the_flow_after_a_restart(
    service: Service,
) -> None:
    before = len(service.calls_to(ACKS))
    answer = await service.start_flow("notify", {"to": [AWAY_TOO, ACKS]})
    assert answer.status_code == 202
    await service.stop(signal.SIGKILL)
    await asyncio.sleep(0.5)  # AWAY_TOO's first call rings out meanwhile; ACKS acknowledges
    await service.start()
    record = await service.settled("notify", answer.json()["id"], within=20)
    assert statuses(record.detail) == {
        AWAY_TOO: ("unreached", ["no-answer"] * 3),
        ACKS: ("reached", ["acknowledged"]),
    }
    assert len(service.calls_to(AWAY_TOO)) == 3  # no retry placed twice across the restart
    assert len(service.calls_to(ACKS)) == before + 1
    assert service.executed_once()


async def test_callbacks_flows_reports_who_was_reached(service: Service) -> None:
    result = await service.cli("flows", "--store", f"sqlite:///{service.db}", "--flow", "notify")
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()[1:]
    assert len(rows) == 3
    assert any("some-reached" in row and "2/5 reached" in row for row in rows)
    assert any("all-reached" in row and "1/1 reached" in row for row in rows)
    assert any(f"1/2 reached; unreached: {AWAY_TOO}" in row for row in rows)
