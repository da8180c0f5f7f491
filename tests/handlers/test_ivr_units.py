"""The IVR's pieces on their own: its operation contexts, the outcome fold, and what its handlers
request for an event (a recording transport answering like the service).

The end-to-end behaviour against the emulator is in ``test_ivr.py``; these cover what the
emulator cannot easily be made to do: a prompt that cannot play, answering failing, a recording
refused, a deadline passed, an incoming call given up before it was answered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest

from callbacks.client.automation import CallAutomationClient
from callbacks.context import Context
from callbacks.events import Event
from callbacks.flows.state import decode_context, encode_context
from callbacks.plugins.settings import PluginSettings
from callbacks.routing import Route
from handlers.ivr import contexts, plugin
from handlers.ivr.menu import IvrSettings
from handlers.ivr.progress import fold
from tests.support.ga_events import SERVER_CALL, GaCallEvents, incoming_call

CALLBACK_URL = "https://receiver.example/api/callbacks?secret=s3cr3t"
CALLER = "4:+14255550100"
SETTINGS = IvrSettings.model_validate({
    "cognitive_services_endpoint": "https://contoso.cognitiveservices.azure.com/",
    "menus": {"main": {"prompt": "https://media.example/main.wav", "options": [
        {"key": "1", "phrases": ["sales"], "action": "transfer", "to": "+14255550101"},
        {"key": "2", "action": "voicemail", "message": "https://media.example/vm.wav",
         "max_length": 30},
    ]}},
})
STATE = {"id": "ivr1", "caller": CALLER, "callee": "4:+14255550000"}
PATH = encode_context("ivr", STATE)
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DEADLINE = int(T0.timestamp()) + 30


# -- operation contexts and the fold -----------------------------------------------------------


def test_operation_contexts_round_trip_and_others_are_ignored() -> None:
    ask = contexts.parse(contexts.ask("main", 2, 3))
    assert ask == contexts.Step("ask", menu="main", number=2, of=3) and not ask.last
    action = contexts.parse(contexts.action("voicemail", "support/2"))
    assert action == contexts.Step("action", action="voicemail", ref="support/2")
    record = contexts.parse(contexts.record("fallback", DEADLINE, "rec-1"))
    assert record is not None and record.fallback and record.recording_id == "rec-1"
    assert contexts.seconds_left(record, T0 + timedelta(seconds=12.5)) == 17
    assert contexts.seconds_left(record, T0 + timedelta(seconds=40)) == 0
    for other in (None, "", "reminder:prompt:1/3", "ivr:ask:main:x/3", "ivr:dance:main/1",
                  "ivr:record:main/1:soon:rec", "ivr:record:main/1:12:", "ivr:play:"):
        assert contexts.parse(other) is None


def outcome(*events: Event) -> str:
    return fold(events).outcome


def test_the_fold_names_every_outcome() -> None:
    call = GaCallEvents()
    ask1, ask3 = contexts.ask("main", 1, 3), contexts.ask("main", 3, 3)
    up = call.connected(contexts.ANSWER)
    assert outcome(up) == "in-progress"
    assert outcome(up, call.disconnected()) == "abandoned"
    assert outcome(up, call.recognize_failed(ask3), call.disconnected()) == "no-input"
    assert outcome(up, call.recognized(ask3, tones="7"), call.disconnected()) == "no-input"
    assert outcome(up, call.recognized(ask1, tones="7"), call.disconnected()) == "abandoned"
    assert outcome(up, call.recognize_failed(ask3), call.play_started("ivr:hangup:fallback"),
                   call.disconnected()) == "no-input"
    assert outcome(up, call.recognized(ask1, tones="3"), call.play_started("ivr:play:main/3"),
                   call.disconnected()) == "info"
    assert outcome(up, call.play_started("ivr:hangup:main/9"), call.disconnected()) == "ended"
    accepted = call.transfer("ivr:transfer:main/1", "+14255550101")
    progress = fold([up, accepted, call.disconnected()])
    assert progress.outcome == "transferred" and progress.transferred_to == "4:+14255550101"


@pytest.mark.parametrize(("event", "why"), [
    (GaCallEvents().recognize_failed(contexts.ask("main", 1, 3), 8511),
     "the prompt of menu main could not be played"),
    (GaCallEvents().event("AnswerFailed", contexts.ANSWER, (500, 8500)), "answering failed"),
    (GaCallEvents().played("ivr:play:main/3", failed=True),
     "the message of play main/3 could not be played"),
    (GaCallEvents().transfer("ivr:transfer:main/1", "+1", failed=True),
     "the transfer of main/1 failed"),
    (GaCallEvents().played("ivr:voicemail:main/2"), "the voicemail could not be recorded"),
])
def test_failures_are_failed_with_the_first_reason(event: Event, why: str) -> None:
    call = GaCallEvents()
    progress = fold([call.connected(contexts.ANSWER), event, call.disconnected()])
    assert (progress.outcome, progress.failure) == ("failed", why)


def test_how_a_voicemail_ended() -> None:
    call = GaCallEvents()
    listening = contexts.record("main/2", DEADLINE, "rec-1")
    start = [call.connected(contexts.ANSWER), call.played("ivr:voicemail:main/2"),
             call.recording("rec-1")]

    def ended_by(*events: Event) -> str | None:
        progress = fold([*start, *events, call.disconnected()])
        assert progress.outcome == "voicemail" and progress.recording_id == "rec-1"
        return progress.voicemail_end

    assert ended_by(call.recognized(listening, tones="")) == "pound"  # the stop tone
    assert ended_by(call.recognized(listening, tones="5", at=T0)) == "hang-up"  # it went on
    late = T0 + timedelta(seconds=29.5)
    assert ended_by(call.recognized(listening, tones="5", at=late)) == "max-length"
    assert ended_by(call.recognize_failed(listening)) == "max-length"
    assert ended_by() == "hang-up"


# -- what the handlers request -----------------------------------------------------------------


@dataclass
class Service:
    """A recording transport answering like GA Call Automation, or with ``failure``."""

    failure: tuple[int, str] | None = None
    requests: list[tuple[str, str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        if self.failure is not None:
            status, code = self.failure
            return httpx2.Response(status, json={"error": {"code": code, "message": "no"}})
        if request.url.path.endswith(":answer"):
            return httpx2.Response(200, json={"callConnectionId": "c1", "serverCallId": "s1"})
        if request.url.path == "/calling/recordings":
            return httpx2.Response(200, json={"recordingId": "rec-9", "recordingState": "active"})
        return httpx2.Response(202, json={})

    def actions(self) -> list[str]:
        return [path.rsplit("/", 1)[-1] for _, path, _ in self.requests]


async def handle(event: Event, service: Service, *, path_context: str | None = PATH,
                 history: Sequence[Event] = ()) -> list[str | None]:
    """Run the plugin's routes for ``event``; each one's error (None when it succeeded)."""

    async def earlier(_: Event) -> Sequence[Event]:
        return history

    async with CallAutomationClient("https://acs.example", b"key",
                                    transport=httpx2.MockTransport(service)) as client:

        def make(route: Route) -> Context:
            return Context(event, client, handler=route.name, path_context=path_context,
                           history=earlier, settings=PluginSettings({IvrSettings: SETTINGS}),
                           callback_url=CALLBACK_URL, received_at=T0)

        return [outcome.error for outcome in await plugin.router.dispatch(event, make)]


async def test_an_incoming_call_is_answered_with_its_state_and_the_endpoint() -> None:
    service = Service()
    assert await handle(incoming_call(CALLER, "+14255550000"), service, path_context=None) == [
        None
    ]
    [(method, path, body)] = service.requests
    assert (method, path) == ("POST", "/calling/callConnections:answer")
    assert body["incomingCallContext"] == "incoming-context-1"
    assert body["operationContext"] == "ivr:answer"
    assert body["callIntelligenceOptions"] == {
        "cognitiveServicesEndpoint": "https://contoso.cognitiveservices.azure.com/"
    }
    url = urlsplit(body["callbackUri"])
    assert url.query == "secret=s3cr3t"
    decoded = decode_context(url.path.rsplit("/", 1)[-1])
    assert decoded is not None and decoded[0] == "ivr"
    assert {k: v for k, v in decoded[1].items() if k != "id"} == {
        "caller": CALLER, "callee": "4:+14255550000",
    }


async def test_a_call_given_up_before_the_answer_is_quiet_but_a_bad_key_fails() -> None:
    gone = Service(failure=(400, "8587"))
    assert await handle(incoming_call(CALLER, "+1425"), gone, path_context=None) == [None]
    refused = Service(failure=(401, "7509"))
    [error] = await handle(incoming_call(CALLER, "+1425"), refused, path_context=None)
    assert error is not None and "401" in error


async def test_the_first_menu_is_asked_when_the_call_connects() -> None:
    service = Service()
    assert await handle(GaCallEvents().connected(contexts.ANSWER), service) == [None]
    [(_, path, body)] = service.requests
    assert path.endswith(":recognize")
    assert body["recognizeInputType"] == "choices"
    assert body["operationContext"] == "ivr:ask:main:1/3"
    assert body["recognizeOptions"]["targetParticipant"]["rawId"] == CALLER
    assert [c["label"] for c in body["recognizeOptions"]["choices"]] == ["sales", "key 2"]
    assert body["recognizeOptions"]["choices"][1] == {"label": "key 2", "phrases": ["key 2"],
                                                      "tone": "two"}
    assert await handle(GaCallEvents().connected(contexts.ANSWER), Service(),
                        path_context="other") == [None]


async def test_a_voicemail_starts_recording_to_its_own_call_then_listens() -> None:
    service = Service()
    played = GaCallEvents().event("PlayCompleted", "ivr:voicemail:main/2", (200, 0), at=T0)
    assert await handle(played, service) == [None]
    (_, start, body), (_, listen, options) = service.requests
    assert start == "/calling/recordings"
    assert body["callLocator"] == {"serverCallId": SERVER_CALL, "kind": "serverCallLocator"}
    assert body["recordingStateCallbackUri"] == (
        f"https://receiver.example/api/callbacks/{PATH}?secret=s3cr3t"
    )
    assert listen.endswith(":recognize")
    assert options["operationContext"] == contexts.record("main/2", DEADLINE, "rec-9")
    assert options["recognizeOptions"]["initialSilenceTimeoutInSeconds"] == 30
    assert options["recognizeOptions"]["dtmfOptions"]["stopTones"] == ["pound"]


async def test_a_refused_recording_hangs_up() -> None:
    @dataclass
    class NoRecording(Service):
        def __call__(self, request: httpx2.Request) -> httpx2.Response:
            if request.url.path == "/calling/recordings":
                self.requests.append((request.method, request.url.path, None))
                return httpx2.Response(400, json={"error": {"code": "8559", "message": "no"}})
            return super().__call__(request)

    service = NoRecording()
    assert await handle(GaCallEvents().played("ivr:voicemail:main/2"), service) == [None]
    assert service.actions() == ["recordings", f"{GaCallEvents().call_id}:terminate"]


async def test_another_key_listens_for_the_time_left_then_the_deadline_ends_it() -> None:
    listening = contexts.record("main/2", DEADLINE, "rec-9")
    service = Service()
    key = GaCallEvents().recognized(listening, tones="5", at=T0 + timedelta(seconds=10.2))
    assert await handle(key, service) == [None]
    [(_, _, body)] = service.requests
    assert body["operationContext"] == listening
    assert body["recognizeOptions"]["initialSilenceTimeoutInSeconds"] == 19
    late = GaCallEvents().recognized(listening, tones="5", at=T0 + timedelta(seconds=29.5))
    service = Service()
    assert await handle(late, service) == [None]
    assert [m for m, _, _ in service.requests] == ["DELETE", "POST"]
    assert service.requests[0][1] == "/calling/recordings/rec-9"
