"""The built-in handlers against a recording transport: what each event makes them request.

Each handler runs through its plugin's router with a real ``Context`` (history, settings,
repeatability ids); the REST client's transport records the requests and answers like the
service. The end-to-end behaviour against the emulator is in ``tests/handlers/``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from pydantic import BaseModel

from callbacks.client.automation import CallAutomationClient
from callbacks.context import Context
from callbacks.events import Event
from callbacks.flows.state import decode_context, encode_context
from callbacks.plugins.loader import Plugin
from callbacks.plugins.settings import PluginSettings
from callbacks.routing import Route
from handlers import greeting, notify, reminder
from tests.support.flow_events import CallEvents

CALLBACK_URL = "https://receiver.example/api/callbacks?secret=s3cr3t"
GREETING = greeting.GreetingSettings(audio_url="https://media.example/hello.wav")
REMINDER = reminder.ReminderSettings(
    source="8:acs:app", prompt_url="https://media.example/remind.wav?about={appointment}",
    prompt_repeats=2, confirmation_url="https://media.example/thanks.wav", agent="8:acs:agent",
)
NOTIFY = notify.NotifySettings(source="8:acs:app", retries=1, retry_delay=0)
SETTINGS = PluginSettings({
    greeting.GreetingSettings: GREETING,
    reminder.ReminderSettings: REMINDER,
    notify.NotifySettings: NOTIFY,
})


@dataclass
class Service:
    """A recording transport answering like Call Automation; ``gone`` answers 400 CallEnded."""

    gone: bool = False
    requests: list[tuple[str, str, Any, str | None]] = field(default_factory=list)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content) if request.content else None
        action = request.url.path.rsplit("/", 1)[-1]
        self.requests.append(
            (request.method, action, body, request.headers.get("repeatability-request-id"))
        )
        if self.gone:
            return httpx2.Response(400, json={"code": "CallEnded", "message": "call ended"})
        if action == "calls":
            return httpx2.Response(200, json={"callLegId": "new-call"})
        if action in ("PlayAudio", "CancelMediaProcessing"):
            return httpx2.Response(202, json={"status": "notStarted"})
        return httpx2.Response(202)

    def actions(self) -> list[tuple[str, Any]]:
        """(action, interesting body part) of each request, in order."""
        shown: list[tuple[str, Any]] = []
        for _, action, body, _ in self.requests:
            detail: Any = None
            if action == "PlayAudio":
                detail = (body["audioFileUri"], body["operationContext"])
            elif action == "participants":
                detail = [p["rawId"] for p in body["participants"]]
            shown.append((action, detail))
        return shown


async def handle(
    plugin: Plugin,
    event: Event,
    history: Sequence[Event],
    service: Service,
    *,
    path_context: str | None = None,
) -> None:
    """Run every route of ``plugin`` matching ``event``; fail the test if one fails."""

    async def earlier(_: Event) -> Sequence[Event]:
        return history

    async with CallAutomationClient(  # these flows' calls run on the 2021 API
        "https://acs.example", b"key", api_version="2021-overview",
        transport=httpx2.MockTransport(service),
    ) as client:

        def make(route: Route) -> Context:
            return Context(event, client, handler=route.name, path_context=path_context,
                           history=earlier, settings=SETTINGS, callback_url=CALLBACK_URL)

        outcomes = await plugin.router.dispatch(event, make)
    assert all(outcome.ok for outcome in outcomes), [o.error for o in outcomes]


# -- greeting --------------------------------------------------------------------------------


async def test_greeting_plays_once_per_participant_new_to_the_list() -> None:
    call, service = CallEvents(), Service()
    first = call.participants("4:+14251001000")
    await handle(greeting.plugin, first, [call.state("Established")], service)
    both = call.participants("4:+14251001000", "8:acs:bob", "8:acs:carol")
    await handle(greeting.plugin, both, [first], service)
    left = call.participants("8:acs:bob")
    await handle(greeting.plugin, left, [first, both], service)
    audio = GREETING.audio_url
    assert service.actions() == [
        ("PlayAudio", (audio, "greeting:4:+14251001000")),
        ("PlayAudio", (audio, "greeting:8:acs:bob")),
        ("PlayAudio", (audio, "greeting:8:acs:carol")),
    ]
    ids = [request[3] for request in service.requests]
    assert len(set(ids)) == 3


async def test_greeting_the_same_event_again_repeats_its_request_ids() -> None:
    call, first, again = CallEvents(), Service(), Service()
    both = call.participants("8:acs:bob", "8:acs:carol")
    await handle(greeting.plugin, both, [], first)
    await handle(greeting.plugin, both, [], again)
    assert [r[3] for r in first.requests] == [r[3] for r in again.requests]
    assert len({r[3] for r in first.requests}) == 2


async def test_greeting_after_the_call_ended_is_a_quiet_no_op() -> None:
    call, service = CallEvents(), Service(gone=True)
    await handle(greeting.plugin, call.participants("8:acs:bob", "8:acs:carol"), [], service)
    assert len(service.requests) == 1  # nobody left to greet after the first refusal


# -- reminder --------------------------------------------------------------------------------

REMINDER_CONTEXT = encode_context("reminder", {"id": "f1", "to": "+14251001000",
                                               "appointment": "dentist at 9"})


async def run_reminder(event: Event, history: Sequence[Event], service: Service | None = None
                       ) -> list[tuple[str, Any]]:
    service = service or Service()
    await handle(reminder.plugin, event, history, service, path_context=REMINDER_CONTEXT)
    return service.actions()


async def test_reminder_plays_the_prompt_when_the_call_is_answered() -> None:
    call = CallEvents()
    actions = await run_reminder(call.state("Established"), [call.state("Establishing")])
    url = "https://media.example/remind.wav?about=dentist%20at%209"
    assert actions == [("PlayAudio", (url, "reminder:prompt:1/2"))]


async def test_reminder_replays_the_prompt_then_hangs_up_without_a_key() -> None:
    call = CallEvents()
    history = [call.state("Establishing"), call.state("Established")]
    first = call.played("reminder:prompt:1/2")
    assert [a for a, _ in await run_reminder(first, history)] == ["PlayAudio"]
    second = call.played("reminder:prompt:2/2")
    assert await run_reminder(second, [*history, first]) == [("Hangup", None)]
    cancelled = call.played("reminder:prompt:1/2", cancelled=True)
    assert await run_reminder(cancelled, history) == []


async def test_reminder_key_1_confirms_and_hangs_up_after_the_confirmation() -> None:
    call = CallEvents()
    history = [call.state("Established"), call.played("reminder:prompt:1/2")]
    key = call.tone("1")
    assert await run_reminder(key, history) == [
        ("CancelMediaProcessing", None),
        ("PlayAudio", ("https://media.example/thanks.wav", "reminder:closing")),
    ]
    closing = call.played("reminder:closing")
    assert await run_reminder(closing, [*history, key]) == [("Hangup", None)]
    # A second key and the cancelled prompt's result change nothing.
    assert await run_reminder(call.tone("2"), [*history, key]) == []
    stale = call.played("reminder:prompt:2/2", cancelled=True)
    assert await run_reminder(stale, [*history, key]) == []


async def test_reminder_key_2_invites_the_agent_and_hangs_up_if_nobody_answers() -> None:
    call = CallEvents()
    history = [call.state("Established")]
    key = call.tone("2")
    assert await run_reminder(key, history) == [
        ("CancelMediaProcessing", None), ("participants", ["8:acs:agent"]),
    ]
    missed = call.invite_result("reminder:invite", "8:acs:agent", failed=True)
    assert await run_reminder(missed, [*history, key]) == [("Hangup", None)]
    joined = call.invite_result("reminder:invite", "8:acs:agent")
    assert await run_reminder(joined, [*history, key]) == []


async def test_reminder_ignores_other_calls_and_ended_calls() -> None:
    call, service = CallEvents(), Service()
    await handle(reminder.plugin, call.state("Established"), [], service, path_context="other")
    await handle(reminder.plugin, call.state("Established"), [], service)
    assert service.requests == []
    over = [call.state("Established"), call.state("Terminated")]
    assert await run_reminder(call.tone("1"), over) == []
    # The callee hung up just before the request: no failure, nothing retried.
    gone = Service(gone=True)
    await run_reminder(call.tone("1"), [call.state("Established")], gone)
    assert [a for a, _ in gone.actions()] == ["CancelMediaProcessing", "PlayAudio"]


# -- notify ----------------------------------------------------------------------------------


def notify_context(attempt: int, tries: int = 2) -> str:
    return encode_context("notify", {"id": "n1", "to": "+14251002000", "i": 1, "n": 3,
                                     "a": attempt, "t": tries, "m": "https://media.example/o.wav"})


async def run_notify(event: Event, history: Sequence[Event], context: str) -> Service:
    service = Service()
    await handle(notify.plugin, event, history, service, path_context=context)
    return service


async def test_notify_plays_the_message_and_any_key_acknowledges() -> None:
    call = CallEvents()
    answered = await run_notify(call.state("Established"), [], notify_context(1))
    assert answered.actions() == [
        ("PlayAudio", ("https://media.example/o.wav", "notify:prompt:1/2"))
    ]
    key = await run_notify(call.tone("#"), [call.state("Established")], notify_context(1))
    assert key.actions() == [("CancelMediaProcessing", None), ("Hangup", None)]


async def test_notify_calls_an_unacknowledged_target_again_with_the_next_attempt() -> None:
    call = CallEvents()
    history = [call.state("Establishing"), call.state("Terminating")]
    service = await run_notify(call.state("Terminated"), history, notify_context(1))
    [(method, action, body, _)] = service.requests
    assert (method, action) == ("POST", "calls")
    assert body["targets"][0]["rawId"] == "4:+14251002000"
    uri = urlsplit(body["callbackUri"])
    assert parse_qs(uri.query) == {"secret": ["s3cr3t"]}
    assert uri.path.startswith("/api/callbacks/notify:")
    decoded = decode_context(uri.path.rsplit("/", 1)[-1])
    assert decoded is not None
    assert decoded[1] == {"id": "n1", "to": "+14251002000", "i": 1, "n": 3, "a": 2, "t": 2,
                          "m": "https://media.example/o.wav"}


@pytest.mark.parametrize(
    ("history", "context"),
    [
        (lambda c: [c.state("Established"), c.tone("1")], notify_context(1)),  # acknowledged
        (lambda c: [c.state("Establishing")], notify_context(2)),  # the last attempt
    ],
)
async def test_notify_does_not_retry_an_acknowledged_target_or_past_the_last_attempt(
    history: Any, context: str
) -> None:
    call = CallEvents()
    service = await run_notify(call.state("Terminated"), history(call), context)
    assert service.requests == []


def test_flow_requests_validate_targets_and_urls() -> None:
    def error(model: type[BaseModel], **values: Any) -> str:
        with pytest.raises(ValueError) as caught:
            model.model_validate(values)
        return str(caught.value)

    assert "expected a phone number" in error(reminder.ReminderRequest, to="bob")
    assert "at most 200 characters" in error(reminder.ReminderRequest, to="+1425", appointment="x"
                                             * 201)
    assert "listed twice" in error(notify.NotifyRequest, to=["+1425", "+1425"])
    assert "absolute http(s) URL" in error(notify.NotifyRequest, to=["+1425"], message="x.wav")
    assert "at least 1 item" in error(notify.NotifyRequest, to=[])
