"""Scripted callees: scenario files, timings relative to answer and prompts, and errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from callbacks.emulator import load_scenario, parse_scenario
from callbacks.identifiers import CommunicationUserIdentifier, PhoneNumberIdentifier
from tests.support import ROOT
from tests.support.emulator_harness import (
    ALICE,
    AUDIO,
    BOB,
    CAROL,
    Env,
    Receiver,
    fast_config,
    running_env,
)

EXAMPLES = ROOT / "examples" / "scenarios"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.*")), ids=lambda p: p.name)
def test_example_scenarios_load(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.default.answer


def test_the_reminder_example_presses_1_after_the_first_prompt() -> None:
    script = load_scenario(EXAMPLES / "reminder.toml").script_for(ALICE_ID)
    (press,) = script.press
    assert (press.tones, press.trigger, press.prompt, press.seconds) == (
        ["Tone1"],
        "prompt_end",
        1,
        0.2,
    )


ALICE_ID = CommunicationUserIdentifier("8:acs:resource_alice")


def test_callees_match_by_raw_id_phone_number_or_user_id() -> None:
    scenario = parse_scenario(
        {
            "default": {"answer_after": 9},
            "callees": [
                {"match": "+14251001000", "answer_after": 1},
                {"match": "8:acs:resource_alice", "answer_after": 2},
                {"match": "4:+14251002000", "answer_after": 3},
            ],
        }
    )
    assert scenario.script_for(PhoneNumberIdentifier("+14251001000")).answer_after == 1
    assert scenario.script_for(ALICE_ID).answer_after == 2
    assert scenario.script_for(PhoneNumberIdentifier("+14251002000")).answer_after == 3
    assert scenario.script_for(PhoneNumberIdentifier("+1999")).answer_after == 9


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("s.yaml", "default: {}", "must end in .json or .toml"),
        ("s.json", "{nope", "is not valid JSON"),
        ("s.toml", "[default\n", "is not valid TOML"),
        ("s.json", "[]", "expected an object at the top level"),
        ("s.toml", "[default]\nanswer = 'maybe'", "default.answer: "),
        ("s.toml", "[[callees]]\nanswer = true", "callees[0].match: field required"),
        ("s.json", '{"callees": [{"match": "x", "press": [{"tones": "1"}]}]}', "exactly one of"),
        ("s.json", '{"default": {"press": [{"tones": "X", "at": 1}]}}', "unknown DTMF tone 'X'"),
        ("s.json", '{"default": {"hang_up": {"at": -1}}}', "default.hang_up.at: "),
        ("s.json", '{"default": {"answr": true}}', "default.answr: unknown field"),
    ],
)
def test_bad_scenario_files_name_the_file_and_the_field(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match="scenario") as caught:
        load_scenario(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_a_missing_scenario_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read scenario"):
        load_scenario(tmp_path / "absent.toml")


async def test_the_reminder_flow_from_the_example_file(receiver: Receiver) -> None:
    scenario = load_scenario(EXAMPLES / "reminder.toml")
    scenario = scenario.model_copy(
        update={"default": scenario.default.model_copy(update={"answer_after": 0.02})}
    )
    async with running_env(fast_config(scenario=scenario), receiver) as env:
        call_id = await env.established(requestedCallEvents=["dtmfReceived"])
        await env.client.post(f"/calls/{call_id}/PlayAudio", json={"audioFileUri": AUDIO})
        await receiver.wait_types(call_id, "PlayAudioResult", "DtmfReceived")
        tone = receiver.of(call_id)[-1]
        assert tone.event["data"]["ToneInfo"] == {"SequenceId": 1, "Tone": "Tone1"}
        play_end = next(r for r in receiver.of(call_id) if r.type == "PlayAudioResult")
        assert tone.at - play_end.at >= 0.19


async def test_a_callee_hanging_up_mid_prompt_ends_the_call(env: Env) -> None:
    env.running.emulator.scenario = parse_scenario(
        {"default": {"hang_up": {"during_prompt": 1, "delay": 0.01}}}
    )
    call_id = await env.established()
    body = {"audioFileUri": AUDIO, "loop": True}
    await env.client.post(f"/calls/{call_id}/PlayAudio", json=body)
    await env.receiver.wait_for(
        lambda _: env.receiver.of(call_id)[-1].event["data"].get("CallState") == "Terminated"
    )
    assert env.receiver.types(call_id)[-3:] == [
        "ParticipantsUpdated",
        "CallLegStateChanged",
        "CallLegStateChanged",
    ]
    assert "PlayAudioResult" not in env.receiver.types(call_id)


async def test_press_during_a_prompt_and_hang_up_at_a_time(env: Env) -> None:
    env.running.emulator.scenario = parse_scenario(
        {
            "callees": [
                {
                    "match": "8:acs:resource_alice",
                    "press": [{"tones": ["tone9", "star"], "during_prompt": 1, "delay": 0.01}],
                    "hang_up": {"at": 0.3},
                }
            ]
        }
    )
    call_id = await env.established(requestedCallEvents=["dtmfReceived"])
    await env.client.post(f"/calls/{call_id}/PlayAudio", json={"audioFileUri": AUDIO, "loop": True})
    await env.receiver.wait_types(call_id, "DtmfReceived", "DtmfReceived")
    tones = [
        r.event["data"]["ToneInfo"]["Tone"]
        for r in env.receiver.of(call_id)
        if r.type == "DtmfReceived"
    ]
    assert tones == ["Tone9", "Star"]
    assert "PlayAudioResult" not in env.receiver.types(call_id)
    await env.receiver.wait_for(
        lambda _: env.receiver.of(call_id)[-1].event["data"].get("CallState") == "Terminated"
    )


async def test_per_callee_answer_delays_and_refusals(receiver: Receiver) -> None:
    scenario = parse_scenario(
        {
            "callees": [
                {"match": "+14251001000", "answer_after": 0.15},
                {"match": "8:acs:resource_carol", "answer": False},
            ]
        }
    )
    async with running_env(fast_config(scenario=scenario, ring_timeout=0.3), receiver) as env:
        call_id = await env.create_call(ALICE, BOB, CAROL)
        await receiver.wait_types(call_id, "ParticipantsUpdated", "ParticipantsUpdated")
        first, second = [r for r in receiver.of(call_id) if r.type == "ParticipantsUpdated"]
        assert second.at - first.at >= 0.1
        await asyncio.sleep(0.35)
        shown = (await env.control.get(f"/emulator/calls/{call_id}")).json()
        states = {p["raw_id"]: p["state"] for p in shown["participants"]}
        assert states == {
            "8:acs:resource_alice": "connected",
            "4:+14251001000": "connected",
            "8:acs:resource_carol": "no_answer",
        }


async def test_the_scenario_can_be_replaced_through_the_control_api(env: Env) -> None:
    scenario = {"default": {"press": [{"tones": "5", "at": 0.01}]}}
    response = await env.control.put("/emulator/scenario", json=scenario)
    assert response.status_code == 200
    assert response.json()["default"]["press"][0]["tones"] == ["Tone5"]
    call_id = await env.established(requestedCallEvents=["dtmfReceived"])
    await env.receiver.wait_types(call_id, "DtmfReceived")
    bad = await env.control.put("/emulator/scenario", content=json.dumps({"default": []}))
    assert bad.status_code == 400
    assert bad.json()["message"].startswith("invalid scenario: default: ")
