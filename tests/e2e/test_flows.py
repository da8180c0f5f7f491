"""Whole call flows through real servers: emulator, callbacks serve (JWT on), handlers, emulator.

Each test runs one plugin of :mod:`tests.support.e2e_plugin` in the real ``callbacks serve``
process and checks, from the emulator's journal, the order of REST calls and callbacks, and from
the event log that every callback was logged once and handled without error.
"""

from __future__ import annotations

from pathlib import Path

from callbacks.emulator import parse_scenario
from callbacks.identifiers import CommunicationUserIdentifier
from callbacks.store import EventRecord, EventStatus
from tests.support.e2e_harness import Stack, describe, e2e_config, e2e_stack

ALICE = "8:acs:resource_alice"
CAROL = "8:acs:resource_carol"


def assert_logged_once_and_handled(stack: Stack, call_id: str, records: list[EventRecord]) -> None:
    """Every delivered callback is in the log once, in delivery order, done, all outcomes ok."""
    mine = [r for r in records if r.call_id == call_id]
    assert [r.id for r in mine] == [cb.event["id"] for cb in stack.delivered(call_id)]
    assert all(r.status is EventStatus.DONE for r in mine), [r.to_json() for r in mine]
    assert all(o.ok for r in mine for o in r.outcomes), [r.to_json() for r in mine]


def assert_each_action_ran_once(stack: Stack) -> None:
    executions = stack.emulator.emulator.repeatability.executions
    assert executions and set(executions.values()) == {1}, executions


async def test_reminder_flow_prompts_waits_for_1_confirms_and_hangs_up(tmp_path: Path) -> None:
    scenario = parse_scenario({"default": {"press": [{"tones": "1", "after_prompt": 1}]}})
    config = e2e_config(scenario=scenario)
    async with e2e_stack(tmp_path, "tests.support.e2e_plugin:reminder", config) as s:
        call_id = await s.call()
        await s.terminated(call_id)
        records = await s.settled(call_id)
        assert s.timeline(call_id) == [
            "REST create_call 200",
            "CB   CallLegStateChanged:Establishing [delivered]",
            "CB   CallLegStateChanged:Established [delivered]",
            "CB   ParticipantsUpdated:alice [delivered]",
            "REST play_audio reminder-prompt 202",
            "CB   PlayAudioResult:reminder-prompt:200/0 [delivered]",
            "CB   DtmfReceived:Tone1 [delivered]",
            "REST cancel_media_processing confirmed 202",
            "REST play_audio confirmation 202",
            "CB   PlayAudioResult:confirmation:200/0 [delivered]",
            "REST hang_up 202",
            "CB   CallLegStateChanged:Terminating [delivered]",
            "CB   CallLegStateChanged:Terminated [delivered]",
        ], s.report("unexpected timeline", [call_id])
        assert_logged_once_and_handled(s, call_id, records)
        assert_each_action_ran_once(s)
        # JWT verification was on: every callback got through it on its first attempt.
        assert all(len(cb.attempts) == 1 for cb in s.callbacks(call_id))
        assert s.emulator.emulator.signer.key_fetches >= 1


async def test_a_welcome_prompt_plays_for_each_participant_who_joins(tmp_path: Path) -> None:
    async with e2e_stack(tmp_path, "tests.support.e2e_plugin:greeter") as s:
        call_id = await s.call()

        def welcomed(raw_id: str) -> bool:
            wanted = f"PlayAudioResult:welcome:{raw_id}:200/0"
            return any(describe(cb) == wanted for cb in s.delivered(call_id))

        await s.until(lambda: welcomed(ALICE), "Alice's welcome played", call_id)
        await s.client.get_call_connection(call_id).invite_participants(
            [CommunicationUserIdentifier(CAROL)], operation_context="add-carol"
        )
        await s.until(lambda: welcomed(CAROL), "Carol's welcome played", call_id)
        await s.client.get_call_connection(call_id).hangup()
        await s.terminated(call_id)
        records = await s.settled(call_id)
        assert s.timeline(call_id) == [
            "REST create_call 200",
            "CB   CallLegStateChanged:Establishing [delivered]",
            "CB   CallLegStateChanged:Established [delivered]",
            "CB   ParticipantsUpdated:alice [delivered]",
            f"REST play_audio welcome:{ALICE} 202",
            f"CB   PlayAudioResult:welcome:{ALICE}:200/0 [delivered]",
            "REST invite_participants add-carol 202",
            "CB   InviteParticipantResult:add-carol:200/0 [delivered]",
            "CB   ParticipantsUpdated:alice,carol [delivered]",
            f"REST play_audio welcome:{CAROL} 202",
            f"CB   PlayAudioResult:welcome:{CAROL}:200/0 [delivered]",
            "REST hang_up 202",
            "CB   CallLegStateChanged:Terminating [delivered]",
            "CB   CallLegStateChanged:Terminated [delivered]",
        ], s.report("unexpected timeline", [call_id])
        assert_logged_once_and_handled(s, call_id, records)
        assert_each_action_ran_once(s)


async def test_cancelling_a_looping_prompt_reaches_the_handler_as_400_8508(
    tmp_path: Path,
) -> None:
    scenario = parse_scenario(
        {"default": {"press": [{"tones": "#", "during_prompt": 1, "delay": 0.1}]}}
    )
    config = e2e_config(scenario=scenario)
    async with e2e_stack(tmp_path, "tests.support.e2e_plugin:hold", config) as s:
        call_id = await s.call()
        await s.terminated(call_id)
        records = await s.settled(call_id)
        assert s.timeline(call_id) == [
            "REST create_call 200",
            "CB   CallLegStateChanged:Establishing [delivered]",
            "CB   CallLegStateChanged:Established [delivered]",
            "CB   ParticipantsUpdated:alice [delivered]",
            "REST play_audio hold-music 202",
            "CB   DtmfReceived:Pound [delivered]",
            "REST cancel_media_processing stop-hold 202",
            "CB   PlayAudioResult:hold-music:400/8508 [delivered]",
            # the handler saw the cancellation's code and subcode, and named them
            "REST play_audio after-hold:400/8508 202",
            "CB   PlayAudioResult:after-hold:400/8508:200/0 [delivered]",
            "REST hang_up 202",
            "CB   CallLegStateChanged:Terminating [delivered]",
            "CB   CallLegStateChanged:Terminated [delivered]",
        ], s.report("unexpected timeline", [call_id])
        cancelled = next(r for r in records if r.operation_context == "hold-music")
        assert cancelled.type == "PlayAudioResult" and [o.ok for o in cancelled.outcomes] == [True]
        plays = s.emulator.emulator.calls[call_id].plays
        assert [(p.operation_context, p.loop, p.state.value) for p in plays] == [
            ("hold-music", True, "cancelled"),
            ("after-hold:400/8508", False, "completed"),
        ]
        assert_logged_once_and_handled(s, call_id, records)
        assert_each_action_ran_once(s)


async def test_an_agent_is_invited_then_removed(tmp_path: Path) -> None:
    async with e2e_stack(tmp_path, "tests.support.e2e_plugin:agent") as s:
        call_id = await s.call()
        await s.until(
            lambda: [r.operation for r in s.requests(call_id)][-1:] == ["remove_participant"]
            and len(s.delivered(call_id)) == 6,
            "the agent removed", call_id,
        )
        await s.client.get_call_connection(call_id).hangup()
        await s.terminated(call_id)
        records = await s.settled(call_id)
        assert s.timeline(call_id) == [
            "REST create_call 200",
            "CB   CallLegStateChanged:Establishing [delivered]",
            "CB   CallLegStateChanged:Established [delivered]",
            "CB   ParticipantsUpdated:alice [delivered]",
            "REST invite_participants invite-agent 202",
            "CB   InviteParticipantResult:invite-agent:200/0 [delivered]",
            "CB   ParticipantsUpdated:alice,carol [delivered]",
            "REST remove_participant 202",
            "CB   ParticipantsUpdated:alice [delivered]",
            "REST hang_up 202",
            "CB   CallLegStateChanged:Terminating [delivered]",
            "CB   CallLegStateChanged:Terminated [delivered]",
        ], s.report("unexpected timeline", [call_id])
        carol = next(
            p for p in s.emulator.emulator.calls[call_id].participants
            if p.identifier.raw_id == CAROL
        )
        removal = next(r for r in s.requests(call_id) if r.operation == "remove_participant")
        assert removal.path.endswith(f"/participants/{carol.participant_id}")
        assert carol.state.value == "removed"
        assert_logged_once_and_handled(s, call_id, records)
        assert_each_action_ran_once(s)
