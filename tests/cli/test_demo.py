"""``callbacks demo`` through the console script: one call through a flow, its timeline.

The three demos run at once (each on its own ports): they mostly wait for simulated people.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.servers import ROOT

CALLBACKS = str(Path(sys.executable).parent / "callbacks")


def demo(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CALLBACKS, "demo", *flags], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="module")
def runs() -> dict[str, subprocess.CompletedProcess[str]]:
    flags = {"ivr": (), "reminder": ("--flow", "reminder"),
             "2021": ("--api-version", "2021-04-15-preview1")}
    with ThreadPoolExecutor(len(flags)) as pool:
        futures = {name: pool.submit(demo, *given) for name, given in flags.items()}
    return {name: future.result() for name, future in futures.items()}


def steps_of(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    return [line.split(None, 1)[1] for line in lines if line.startswith("+")]


def assert_in_order(steps: list[str], wanted: list[str]) -> None:
    positions = [next(i for i, step in enumerate(steps) if w in step) for w in wanted]
    assert positions == sorted(positions), steps


def assert_no_secret(result: subprocess.CompletedProcess[str]) -> None:
    assert "secret=" not in result.stdout + result.stderr
    assert "accesskey" not in result.stdout + result.stderr


def test_by_default_an_incoming_call_reaches_the_ivr_and_is_transferred_to_an_agent(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = runs["ivr"]
    steps = steps_of(result)
    assert "(API 2026-03-12)" in result.stdout
    # Event Grid's IncomingCall (no token: the secret lets it in), then the service's signed
    # callbacks: every delivery was accepted by a receiver that verifies both.
    assert "callbacks: JWT; Event Grid: secret" in result.stdout
    assert_in_order(steps, [
        "Event Grid  IncomingCall", ":answer  ivr:answer", "CallConnected", ":recognize",
        "RecognizeCompleted        ivr:ask:main:1/3 heard agent", ":play  ivr:transfer:main/2",
        ":transferToParticipant", "CallTransferAccepted", "CallDisconnected",
    ])
    assert all(step.endswith(("-> receiver 200", "-> 200", "-> 202")) for step in steps), steps
    assert "outcome   transferred: +14255550100 transferred to 8:acs:demo_agent [main:agent]" \
        in result.stdout
    assert_no_secret(result)


def test_the_reminder_on_ga_confirms_with_a_dtmf_recognize(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = runs["reminder"]
    assert_in_order(steps_of(result), [
        "POST /calling/callConnections ", "CallConnected", ":recognize  reminder:prompt:1/3",
        "RecognizeCompleted        reminder:prompt:1/3 heard one", ":play  reminder:closing",
        "PlayCompleted", ":terminate", "CallDisconnected",
    ])
    assert "outcome   confirmed: +14255550100 confirmed (Dentist, Tuesday 9:00)" in result.stdout
    assert_no_secret(result)


def test_a_2021_api_version_runs_the_2021_reminder(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = runs["2021"]
    # The reminder flow, in order: call, prompt, tone 1, cancel, confirmation, hang up.
    assert_in_order(steps_of(result), [
        "POST /calling/calls ", "PlayAudio", "DtmfReceived", "CancelMediaProcessing",
        "reminder:closing", "Hangup", "Terminated",
    ])
    assert "(API 2021-04-15-preview1)" in result.stdout
    assert "outcome   confirmed: +14255550100 confirmed" in result.stdout
    assert_no_secret(result)


def test_the_ivr_demo_on_a_2021_api_version_is_refused_in_one_line() -> None:
    result = demo("--flow", "ivr", "--api-version", "2021-overview")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("callbacks demo: error: the ivr demo answers an incoming call")
    assert "use --flow reminder" in result.stderr and result.stderr.count("\n") == 1
