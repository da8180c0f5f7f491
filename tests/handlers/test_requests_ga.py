"""The reminder's requests on a GA call, against a recording transport: a recognize per prompt,
a hang-up when its prompt cannot play, an agent added (the end-to-end runs are in
``test_reminder_ga.py``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx2

from callbacks.client.automation import CallAutomationClient
from callbacks.context import Context
from callbacks.events import Event
from callbacks.flows.state import encode_context
from callbacks.plugins.loader import Plugin
from callbacks.plugins.settings import PluginSettings
from callbacks.routing import Route
from handlers import reminder
from tests.support.ga_events import GaCallEvents

CALLBACK_URL = "https://receiver.example/api/callbacks?secret=s3cr3t"
SETTINGS = PluginSettings({reminder.ReminderSettings: reminder.ReminderSettings(
    source="8:acs:app", prompt_url="https://media.example/remind.wav?about={appointment}",
    prompt_repeats=2, confirmation_url="https://media.example/thanks.wav", agent="8:acs:agent",
)})
REMINDER_CONTEXT = encode_context("reminder", {"id": "f1", "to": "+14251001000",
                                               "appointment": "dentist at 9"})



async def run_ga(plugin: Plugin, event: Event, history: Sequence[Event], path_context: str
                 ) -> list[tuple[str, Any]]:
    """What ``plugin`` requests for a GA ``event``: (path's last segment, body) each."""
    sent: list[tuple[str, Any]] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content) if request.content else None
        sent.append((request.url.path.rsplit("/", 1)[-1], body))
        return httpx2.Response(202, json={})

    async def earlier(_: Event) -> Sequence[Event]:
        return history

    async with CallAutomationClient(  # the default: GA
        "https://acs.example", b"key", transport=httpx2.MockTransport(answer),
    ) as client:

        def make(route: Route) -> Context:
            return Context(event, client, handler=route.name, path_context=path_context,
                           history=earlier, settings=SETTINGS, callback_url=CALLBACK_URL)

        outcomes = await plugin.router.dispatch(event, make)
    assert all(outcome.ok for outcome in outcomes), [o.error for o in outcomes]
    return sent


async def test_reminder_on_ga_asks_with_a_recognize_and_hangs_up_if_its_prompt_fails() -> None:
    call = GaCallEvents()
    [(action, body)] = await run_ga(reminder.plugin, call.connected(), [], REMINDER_CONTEXT)
    assert action.endswith(":recognize")
    assert body["recognizeInputType"] == "dtmf"
    assert body["playPrompt"] == {
        "kind": "file", "file": {"uri": "https://media.example/remind.wav?about=dentist%20at%209"},
    }
    assert body["operationContext"] == "reminder:prompt:1/2"
    options = body["recognizeOptions"]
    assert options["targetParticipant"]["rawId"] == "4:+14251001000"
    assert options["dtmfOptions"] == {"maxTonesToCollect": 1}
    assert options["initialSilenceTimeoutInSeconds"] == 5 and options["interruptPrompt"]
    failed = call.recognize_failed("reminder:prompt:1/2", 8511)
    sent = await run_ga(reminder.plugin, failed, [call.connected()], REMINDER_CONTEXT)
    assert [action for action, _ in sent] == [f"{call.call_id}:terminate"]
    key_2 = call.recognized("reminder:prompt:1/2", tones="2")
    [(action, body)] = await run_ga(reminder.plugin, key_2, [call.connected()], REMINDER_CONTEXT)
    assert action == "participants:add" and body["participantToAdd"]["rawId"] == "8:acs:agent"
    assert body["operationContext"] == "reminder:invite"
