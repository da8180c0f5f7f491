"""Failures between the two real servers: a receiver outage, and a throttling, failing service."""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from callbacks.emulator import FaultConfig, parse_scenario
from callbacks.emulator.participants import LegState
from callbacks.store import EventStatus
from tests.support.e2e_harness import Stack, e2e_config, e2e_stack
from tests.support.samples import sample_json
from tests.support.servers import free_port, stop, wait_until_ready

REMINDER = "tests.support.e2e_plugin:reminder"
CALLBACKS = str(Path(sys.executable).parent / "callbacks")
PRESS_1 = parse_scenario({"default": {"press": [{"tones": "1", "after_prompt": 1}]}})
CALLS = 3
REMINDER_ACTIONS = [
    ("create_call", None),
    ("play_audio", "reminder-prompt"),
    ("cancel_media_processing", "confirmed"),
    ("play_audio", "confirmation"),
    ("hang_up", None),
]


def failed_attempts(stack: Stack, call_id: str) -> int:
    return sum(
        1 for cb in stack.callbacks(call_id) for a in cb.attempts if a.error or a.status != 200
    )


async def test_a_receiver_down_for_seconds_loses_nothing(tmp_path: Path) -> None:
    # Prompts last long enough that their results arrive while the receiver is down.
    config = e2e_config(scenario=PRESS_1, play_duration=0.3)
    async with e2e_stack(tmp_path, REMINDER, config) as s:
        calls = [await s.call() for _ in range(CALLS)]
        await s.until(
            lambda: all(("play_audio", "reminder-prompt") in s.executed_actions(c) for c in calls),
            "every reminder prompt requested", *calls,
        )
        assert await s.receiver.stop() == 0
        # Tones pressed now are posted into the outage for sure, behind the prompt results.
        for call_id in calls:
            pressed = await s.control.post(
                f"/emulator/calls/{call_id}/tones", json={"tones": "9"}
            )
            assert pressed.status_code == 202, pressed.text
        await s.until(
            lambda: all(failed_attempts(s, c) >= 3 for c in calls),
            "callbacks refused during the outage", *calls,
        )
        await asyncio.sleep(1.5)  # the outage itself: the emulator keeps retrying meanwhile
        await s.receiver.start()
        await s.terminated(*calls)
        records = await s.settled(*calls)

        assert s.receiver.starts == 2
        for call_id in calls:
            callbacks = s.callbacks(call_id)
            assert [cb.status for cb in callbacks] == ["delivered"] * len(callbacks)
            assert failed_attempts(s, call_id) >= 3
            # Every delivered callback is in the log, once, in the call's order.
            logged = [r.id for r in records if r.call_id == call_id]
            assert logged == [cb.event["id"] for cb in callbacks], s.report("order", [call_id])
            assert "DtmfReceived:Tone9" in " ".join(s.timeline(call_id))
            # The flow resumed where it was cut: each step once, in order.
            assert s.executed_actions(call_id) == REMINDER_ACTIONS, s.report("flow", [call_id])
        assert {r.status for r in records} == {EventStatus.DONE}
        assert all(o.ok for r in records for o in r.outcomes)
        assert set(s.emulator.emulator.repeatability.executions.values()) == {1}


async def test_injected_429_and_500_are_absorbed_by_retries_without_double_actions(
    tmp_path: Path,
) -> None:
    async with e2e_stack(tmp_path, REMINDER, e2e_config(scenario=PRESS_1)) as s:
        # A seeded generator: requests come one at a time, so the draws (which attempts fail)
        # are the same on every run. Seed 52 fails each of the handler's four actions once
        # (429, 500, 500, 429) and never one four times in a row.
        s.emulator.emulator.faults.configure(
            FaultConfig(rate_429=0.3, rate_500=0.3, retry_after=0, seed=52)
        )
        call_id = await s.call()
        await s.terminated(call_id, seconds=20)
        records = await s.settled(call_id)

        requests = s.requests(call_id)
        faults = [r.fault for r in requests if r.fault]
        assert 429 in faults and 500 in faults, s.report("no faults injected", [call_id])
        assert s.executed_actions(call_id) == REMINDER_ACTIONS, s.report("actions", [call_id])
        # Every faulted attempt was retried with the same repeatability id until it ran, once.
        by_id: dict[str | None, list[int]] = {}
        for request in requests:
            by_id.setdefault(request.repeatability_id, []).append(request.status)
        for statuses in by_id.values():
            assert statuses[-1] in (200, 202) and set(statuses[:-1]) <= {429, 500}, by_id
        assert len(by_id) == len(REMINDER_ACTIONS)
        assert sum(1 for statuses in by_id.values() if len(statuses) > 1) >= 3, by_id
        assert set(s.emulator.emulator.repeatability.executions.values()) == {1}
        call = s.emulator.emulator.calls[call_id]
        assert [p.operation_context for p in call.plays] == ["reminder-prompt", "confirmation"]
        assert all(p.state is not LegState.CONNECTED for p in call.participants)
        assert {r.status for r in records} == {EventStatus.DONE}
        assert all(o.ok for r in records for o in r.outcomes)


def test_a_full_disk_makes_the_receiver_unready_until_commits_succeed_again(
    tmp_path: Path,
) -> None:
    """``ulimit -f`` stands for a full disk: commits fail, posts get 503, and /readyz must say
    so (it used to answer 200 throughout: SELECT 1 still worked); once the disk has room the
    receiver is ready again by itself, without traffic to prove it. The failures' error line
    is rate-limited (it was written once per failed commit)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        ["bash", "-c", 'ulimit -S -f 600 && exec "$0" "$@"', CALLBACKS, "serve",
         "--port", str(port), "--auth", "none", "--dispatch", "inline", "--concurrency", "0",
         "--store", f"sqlite:///{tmp_path / 'log.db'}", "--log-format", "text"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    event = sample_json("ga", "PlayCompleted")[0]
    refused = 0
    try:
        wait_until_ready(base + "/readyz", process)
        with httpx2.Client(base_url=base, timeout=10) as http:
            for n in range(400):  # 50 events a post: the 600 KiB limit is reached soon
                batch = [{**event, "id": f"e-{n}-{k}"} for k in range(50)]
                if http.post("/api/callbacks", json=batch).status_code == 503:
                    refused += 1
                    break
            assert refused, "the file size limit was never reached"
            for n in range(30):
                batch = [{**event, "id": f"f-{n}-{k}"} for k in range(50)]
                answer = http.post("/api/callbacks", json=batch)
                assert answer.status_code == 503, answer.text
                refused += 1
                assert http.get("/readyz").status_code == 503
            resource.prlimit(process.pid, resource.RLIMIT_FSIZE,
                             (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            deadline = time.monotonic() + 20
            while http.get("/readyz").status_code != 200:  # no post meanwhile
                assert time.monotonic() < deadline, "never ready again"
                time.sleep(0.2)
            batch = [{**event, "id": f"g-{k}"} for k in range(50)]
            assert http.post("/api/callbacks", json=batch).json()["accepted"] == 50
    finally:
        output = stop(process)
    lines = [line for line in output.splitlines() if "commit failed" in line]
    assert 1 <= len(lines) <= 3, (refused, lines)  # not one line per failed commit
    assert "commits succeed again" in output
