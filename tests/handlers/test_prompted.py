"""The prompted-call fold both built-in flows rest on: every branch, from real 2021 events."""

from __future__ import annotations

import pytest

from callbacks.events import Event
from handlers.call_events import ended, established, play_end, tone
from handlers.prompted_call import ANY_KEY, CallProgress, PromptedCall
from tests.support.flow_events import CallEvents
from tests.support.ga_events import GaCallEvents

REMINDER = PromptedCall("reminder", {"1": "confirmed", "2": "agent"})
NOTIFY = PromptedCall("notify")


def answered(call: CallEvents) -> list[Event]:
    return [call.state("Establishing"), call.state("Established"), call.participants("4:+1425")]


def test_key_1_after_a_completed_play_confirms_and_the_closing_prompt_is_seen() -> None:
    call = CallEvents()
    events = [
        *answered(call),
        call.played(REMINDER.prompt_context(1, 3)),
        call.tone("1"),
        call.played(REMINDER.prompt_context(2, 3), cancelled=True),
        call.played(REMINDER.closing),
        call.state("Terminating"), call.state("Terminated"),
    ]
    progress = REMINDER.fold(events)
    assert progress == CallProgress(
        established=True, ended=True, decision="confirmed", prompts=1, closing_played=True
    )
    assert progress.outcome == "confirmed"


def test_only_the_first_meaningful_key_decides() -> None:
    call = CallEvents()
    progress = REMINDER.fold([*answered(call), call.tone("5"), call.tone("2"), call.tone("1")])
    assert progress.decision == "agent" and progress.outcome == "agent"
    assert REMINDER.fold([*answered(call), call.tone("#")]).decision is None


def test_an_agent_who_does_not_answer_is_reported() -> None:
    call = CallEvents()
    events = [*answered(call), call.tone("2"), call.invite_result(REMINDER.invite, "8:acs:agent",
                                                                  failed=True)]
    assert REMINDER.fold(events).outcome == "agent-unreached"
    events[-1] = call.invite_result(REMINDER.invite, "8:acs:agent")
    assert REMINDER.fold(events).invite == "answered"
    assert REMINDER.fold(events).outcome == "agent"


def test_the_last_play_without_a_key_is_no_response_and_later_keys_change_nothing() -> None:
    call = CallEvents()
    events = [*answered(call)] + [call.played(REMINDER.prompt_context(n, 3)) for n in (1, 2)]
    assert REMINDER.fold(events).decision is None
    assert REMINDER.fold(events).prompts == 2
    events += [call.played(REMINDER.prompt_context(3, 3)), call.tone("1")]
    progress = REMINDER.fold(events)
    assert progress.decision == "no-response" and progress.prompts == 3


def test_a_failed_play_fails_the_call() -> None:
    call = CallEvents()
    progress = REMINDER.fold([*answered(call), call.play_failed(REMINDER.prompt_context(1, 3))])
    assert progress.outcome == "failed"


@pytest.mark.parametrize(
    ("events", "outcome"),
    [
        (lambda c: [c.state("Establishing"), c.state("Terminating"), c.state("Terminated")],
         "no-answer"),
        (lambda c: [*answered(c), c.played("reminder:prompt:1/3"), c.participants(),
                    c.state("Terminated")], "hung-up"),
        (lambda c: [c.state("Establishing")], "in-progress"),
        (lambda c: [*answered(c), c.played("reminder:prompt:1/3")], "in-progress"),
    ],
)
def test_calls_that_end_without_a_decision(events: object, outcome: str) -> None:
    assert callable(events)
    assert REMINDER.fold(events(CallEvents())).outcome == outcome


def test_nothing_counts_after_the_call_ended_and_keys_need_an_answered_call() -> None:
    call = CallEvents()
    progress = REMINDER.fold([*answered(call), call.state("Terminated"), call.tone("1")])
    assert progress.outcome == "hung-up"
    assert REMINDER.fold([call.state("Establishing"), call.tone("1")]).decision is None


def test_any_key_acknowledges_a_notification() -> None:
    call = CallEvents()
    progress = NOTIFY.fold([*answered(call), call.played("notify:prompt:1/2"), call.tone("7")])
    assert progress.decision == ANY_KEY == progress.outcome == "acknowledged"
    # Another flow's plays never count as this flow's prompts.
    assert NOTIFY.fold([*answered(call), call.played("reminder:prompt:1/1")]).prompts == 0


@pytest.mark.parametrize(
    "context", [None, "reminder:prompt:", "reminder:prompt:x/3", "reminder:prompt:1", "greeting"]
)
def test_foreign_operation_contexts_are_not_prompts(context: str | None) -> None:
    assert REMINDER.parse_prompt(context) is None
    assert REMINDER.parse_prompt("reminder:prompt:2/5") == (2, 5)


def test_event_predicates_read_every_event_kind() -> None:
    call = CallEvents()
    assert established(call.state("Established")) and not established(call.state("Establishing"))
    assert ended(call.state("Terminated")) and not ended(call.state("Terminating"))
    assert tone(call.tone("#")) == "#" and tone(call.tone("9")) == "9"
    assert tone(call.state("Established")) is None
    assert play_end(call.played("x")) == "completed"
    assert play_end(call.played("x", cancelled=True)) == "cancelled"
    assert play_end(call.play_failed("x")) == "failed"
    assert play_end(call.tone("1")) is None


# -- GA calls: each prompt is a recognize --------------------------------------------------------


def ga_answered(call: GaCallEvents) -> list[Event]:
    return [call.connected(), call.event("ParticipantsUpdated", participants=[],
                                         sequenceNumber=1)]


def test_ga_a_recognized_key_decides_and_the_closing_play_is_seen() -> None:
    call = GaCallEvents()
    events = [*ga_answered(call), call.recognized(REMINDER.prompt_context(1, 3), tones="2"),
              call.added(REMINDER.invite, "8:acs:agent")]
    progress = REMINDER.fold(events)
    assert (progress.decision, progress.prompts, progress.invite) == ("agent", 1, "answered")
    events[-1] = call.added(REMINDER.invite, "8:acs:agent", failed=True)
    assert REMINDER.fold(events).outcome == "agent-unreached"
    confirmed = [*ga_answered(call), call.recognized(REMINDER.prompt_context(1, 3), tones="1"),
                 call.played(REMINDER.closing), call.disconnected()]
    assert REMINDER.fold(confirmed) == CallProgress(
        established=True, ended=True, decision="confirmed", prompts=1, closing_played=True
    )


def test_ga_no_input_and_a_key_that_means_nothing_are_missed_prompts() -> None:
    call = GaCallEvents()
    events = [*ga_answered(call), call.recognize_failed(REMINDER.prompt_context(1, 3)),
              call.recognized(REMINDER.prompt_context(2, 3), tones="7")]
    progress = REMINDER.fold(events)
    assert (progress.decision, progress.prompts) == (None, 2)
    events.append(call.recognize_failed(REMINDER.prompt_context(3, 3)))
    assert REMINDER.fold(events).outcome == "no-response"
    assert NOTIFY.fold([*ga_answered(call), call.recognized(NOTIFY.prompt_context(1, 2),
                                                            tones="#")]).decision == ANY_KEY


def test_ga_a_prompt_that_cannot_play_fails_the_call() -> None:
    call = GaCallEvents()
    events = [*ga_answered(call), call.recognize_failed(REMINDER.prompt_context(1, 3), 8511)]
    assert REMINDER.fold(events).outcome == "failed"
    cancelled = call.event("RecognizeCanceled", REMINDER.prompt_context(1, 3), (400, 8508))
    assert REMINDER.fold([*ga_answered(call), cancelled]).decision is None
