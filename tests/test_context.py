"""The handler context: stable repeatability ids, the bound call, the tagged logger."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import httpx2
import pytest

from callbacks import CallConnection, CallLegConnection, FileSource
from callbacks.client.automation import CallAutomationClient
from callbacks.context import (
    Context,
    ContextFactory,
    NoCallError,
    NoClientError,
    context_factory,
    repeatability_id,
)
from callbacks.events import Event, parse_events
from callbacks.routing import Route, Router
from callbacks.testing import InProcessIntake
from tests.support.log_bodies import ga_events
from tests.support.samples import sample_bytes, sample_json

KEY = base64.b64decode("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
CALL = "7a1f0e00-0000-4000-8000-000000000001"


def dtmf_with_id(event_id: str = "0f7d4b1e-0000-4000-8000-00000000abcd") -> Event:
    """The reference's 2021 DtmfReceived example, with a non-null id."""
    element = sample_json("preview2021", "DtmfReceived")
    element["id"] = event_id
    (event,) = parse_events(json.dumps(element).encode())
    return event


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if request.url.path.endswith("/PlayAudio"):
            return httpx2.Response(202, json={"id": "op", "status": "running"})
        if request.url.path.endswith("/calls"):
            return httpx2.Response(200, json={"callLegId": "new-leg"})
        if request.url.path.endswith(":answer"):
            return httpx2.Response(200, json={"callConnectionId": "answered"})
        return httpx2.Response(202)

    def take(self) -> list[tuple[str, str, str | None]]:
        taken = [
            (r.method, r.url.path, r.headers.get("repeatability-request-id"))
            for r in self.requests
        ]
        self.requests.clear()
        return taken


@pytest.fixture
async def rec_client() -> tuple[Recorder, CallAutomationClient]:
    recorder = Recorder()
    client = CallAutomationClient(
        "http://127.0.0.1:8123", KEY, api_version="2021-overview",
        transport=httpx2.MockTransport(recorder), clock=lambda: datetime(2024, 1, 1, tzinfo=UTC),
    )
    return recorder, client


router = Router()


@router.on("DtmfReceived")
async def confirm(event: Event, ctx: Context) -> None:
    await ctx.call.play_audio("https://example.com/thanks.wav", operation_context="thanks")
    await ctx.call.remove_participant("p-1")
    await ctx.call.hangup()


@router.on("DtmfReceived")
async def audit(event: Event, ctx: Context) -> None:
    await ctx.call.play_audio("https://example.com/beep.wav")


def context_for(factory: ContextFactory, event: Event) -> Callable[[Route], Context]:
    return lambda route: factory(event, route, 1, None)


async def test_ids_are_stable_across_dispatches_and_distinct_within_and_across_handlers(
    rec_client: tuple[Recorder, CallAutomationClient],
) -> None:
    recorder, client = rec_client
    event = dtmf_with_id()
    factory = context_factory(client)
    async with client:
        await router.dispatch(event, lambda route: factory(event, route, 1, None))
        first = recorder.take()
        # After a crash the event is dispatched again (attempt 2), from a fresh parse.
        again = parse_events(event.raw)[0]
        await router.dispatch(again, lambda route: factory(again, route, 2, "ctx"))
        second = recorder.take()
    assert first == second
    methods = [(method, path.rsplit("/", 1)[-1]) for method, path, _ in first]
    assert methods == [
        ("POST", "PlayAudio"), ("DELETE", "p-1"), ("POST", "Hangup"), ("POST", "PlayAudio")
    ]
    ids = [rid for _, _, rid in first if rid is not None]
    assert len(set(ids)) == 3  # within confirm (2) and across handlers (1): all different
    confirm_name = f"{__name__}.confirm"
    assert ids == [
        repeatability_id(event.identity, confirm_name, 0),
        repeatability_id(event.identity, confirm_name, 1),
        repeatability_id(event.identity, f"{__name__}.audit", 0),
    ]


def test_derivation_is_frozen() -> None:
    # Changing the namespace or layout would repeat side effects of already-logged events.
    # uuid5(uuid5(NAMESPACE_URL, "urn:acs-callbacks:repeatability"), "evt-1\x1fhandlers.greet\x1f0")
    assert repeatability_id("evt-1", "handlers.greet", 0) == "9e408f26-efad-58d9-abec-4f360ef3a9a7"
    assert repeatability_id("evt-1", "handlers.greet", 0, "s") == (
        "a205d232-f36d-5b23-bbe5-f8b2905b4a2f"
    )


async def test_a_null_id_event_gets_the_same_ids_from_its_content(
    rec_client: tuple[Recorder, CallAutomationClient],
) -> None:
    recorder, client = rec_client
    body = sample_bytes("preview2021", "DtmfReceived")  # "id": null
    factory = context_factory(client)
    runs = []
    async with client:
        for _ in range(2):
            event = parse_events(body)[0]
            assert event.id is None
            await router.dispatch(event, context_for(factory, event))
            runs.append(recorder.take())
    assert runs[0] == runs[1]
    assert all(rid for method, _, rid in runs[0] if method == "POST")


async def test_a_salt_gives_fresh_but_reproducible_ids(
    rec_client: tuple[Recorder, CallAutomationClient],
) -> None:
    recorder, client = rec_client
    event = dtmf_with_id()
    (route,) = [r for r in router.routes if r.name.endswith(".audit")]
    runs = []
    async with client:
        for salt in ("", "replay-1", "replay-1", "replay-2"):
            ctx = context_factory(client, salt=salt)(event, route, 1, None)
            await route.handler(event, ctx)
            runs.append(recorder.take()[0][2])
    plain, salted, salted_again, other = runs
    assert salted == salted_again
    assert len({plain, salted, other}) == 3


async def test_call_is_refused_for_an_event_without_a_call(
    rec_client: tuple[Recorder, CallAutomationClient],
) -> None:
    recorder, client = rec_client
    (event,) = parse_events(sample_bytes("eventgrid", "IncomingCall"))
    assert event.call_id is None
    ctx = Context(event, client, handler="handlers.answer")
    with pytest.raises(NoCallError, match=r"ctx\.client"):
        _ = ctx.call
    async with client:
        result = await ctx.client.create_call([event.data.from_], "https://cb", source="8:acs:bot")
    assert result.call_leg_id == "new-leg"
    ((method, path, rid),) = recorder.take()
    assert (method, path) == ("POST", "/calls")
    assert rid == repeatability_id(event.identity, "handlers.answer", 0)
    assert ctx.requests_made == 1


async def test_context_fields_and_views(
    rec_client: tuple[Recorder, CallAutomationClient],
) -> None:
    _, client = rec_client
    event = dtmf_with_id()
    ctx = Context(event, client, handler="m.h", attempt=3, path_context="tenant-a")
    assert (ctx.event, ctx.handler, ctx.attempt, ctx.path_context) == (event, "m.h", 3, "tenant-a")
    assert ctx.event_id == event.identity == "0f7d4b1e-0000-4000-8000-00000000abcd"
    assert ctx.call_id == ctx.call.call_id == CALL
    assert ctx.call is ctx.call and ctx.client is ctx.client  # built once per context
    assert ctx.client.endpoint == client.endpoint
    with pytest.raises(RuntimeError, match="owner"):
        await ctx.client.aclose()  # a view never closes the shared pool
    assert "m.h" in repr(ctx) and "attempt=3" in repr(ctx)


def test_log_tags_event_and_call(
    rec_client: tuple[Recorder, CallAutomationClient], caplog: pytest.LogCaptureFixture
) -> None:
    _, client = rec_client
    event = dtmf_with_id()
    ctx = Context(event, client, handler="m.h")
    with caplog.at_level(logging.INFO, logger="callbacks.handler"):
        ctx.log.info("tone %s pressed", "1", extra={"tone": "1"})
    (record,) = caplog.records
    assert record.getMessage() == (
        f"[DtmfReceived event={event.identity} call={CALL}] tone 1 pressed"
    )
    assert record.__dict__["call_id"] == CALL
    assert record.__dict__["event_id"] == event.identity
    assert record.__dict__["handler"] == "m.h"
    assert record.__dict__["tone"] == "1"


async def test_factory_fits_the_in_process_intake(
    rec_client: tuple[Recorder, CallAutomationClient],
) -> None:
    recorder, client = rec_client
    intake = InProcessIntake(router, context_factory(client))
    async with client:
        await intake.start()
        receipt = await intake.submit([dtmf_with_id("a"), dtmf_with_id("b")], None)
        await intake.stop()
    assert receipt.accepted == 2
    sent = recorder.take()
    posts = [rid for method, _, rid in sent if method == "POST"]
    assert len(posts) == 6 and len(set(posts)) == 6
    assert posts[0] == repeatability_id("a", f"{__name__}.confirm", 0)


async def test_without_a_client_observers_run_and_actors_get_a_clear_error() -> None:
    event = dtmf_with_id()
    ctx = context_factory(None)(event, router.routes[0], 1, None)
    ctx.log.info("still logs")
    with pytest.raises(NoClientError, match="connection string"):
        _ = ctx.call
    with pytest.raises(NoClientError, match=r"test_context\.confirm"):
        _ = ctx.client


@pytest.mark.parametrize(
    ("configured", "dialect", "call_class", "path", "version"),
    [
        # a GA event's call is addressed in GA: the configured version, or the default one
        ("2024-09-15", "ga", CallConnection, "/calling/callConnections/c:play", "2024-09-15"),
        ("2021-overview", "ga", CallConnection, "/calling/callConnections/c:play",
         "2026-03-12"),
        # a callingserver event's call is a GA call connection too
        ("2021-04-15-preview1", "callingserver", CallConnection,
         "/calling/callConnections/c:play", "2026-03-12"),
        # a 2021 event's call is addressed in 2021: the configured form, or the seed's
        ("2026-03-12", "preview2021", CallLegConnection, "/calls/c/PlayAudio", None),
        ("2021-04-15-preview1", "preview2021", CallLegConnection, "/calling/calls/c/PlayAudio",
         "2021-04-15-preview1"),
    ],
)
async def test_ctx_call_follows_the_event(
    configured: str, dialect: str, call_class: type, path: str, version: str | None
) -> None:
    recorder = Recorder()
    client = CallAutomationClient("http://127.0.0.1:8123", KEY, api_version=configured,
                                  transport=httpx2.MockTransport(recorder))
    event = {
        "ga": lambda: ga_events("c", 1)[0],
        "callingserver": lambda: parse_events(json.dumps({
            "id": "cs-1", "source": "calling/callConnections/c", "specversion": "1.0",
            "type": "Microsoft.Communication.PlayAudioResult",
            "data": {"callConnectionId": "c", "operationContext": "x", "status": "completed"},
        }).encode())[0],
        "preview2021": lambda: parse_events(json.dumps({
            "id": None, "subject": "callLeg/c/playAudio",
            "eventType": "Microsoft.Communication.PlayAudioResult",
            "eventTime": "2021-05-05T20:31:00Z",
            "data": {"CallLegId": "c", "Status": "completed"},
        }).encode())[0],
    }[dialect]()
    ctx = Context(event, client, handler="m.h")
    async with client:
        assert isinstance(ctx.call, call_class)
        await ctx.call.play_media(FileSource("https://a/b.wav"))
    [request] = recorder.requests
    assert request.url.path == path
    assert request.url.params.get("api-version") == version
    # new calls are placed in the configured version
    assert ctx.client.api_version == configured


async def test_the_call_of_an_event_this_version_does_not_know_uses_the_configured_version(
) -> None:
    recorder = Recorder()
    client = CallAutomationClient("http://127.0.0.1:8123", KEY, api_version="2021-overview",
                                  transport=httpx2.MockTransport(recorder))
    [event] = parse_events(json.dumps({
        "id": "t-1", "source": "calling/callConnections/c", "specversion": "1.0",
        "type": "Contoso.Test.Tick", "data": {"callConnectionId": "c"},
    }).encode())
    ctx = Context(event, client, handler="m.h")
    assert isinstance(ctx.call, CallLegConnection) and ctx.call.api_version == "2021-overview"


async def test_without_a_client_the_error_names_the_missing_setting() -> None:
    ctx = Context(ga_events("c", 1)[0], None, handler="m.h")
    with pytest.raises(NoClientError, match="--connection-string or CALLBACKS_CONNECTION_STRING"):
        _ = ctx.call


async def test_calls_a_handler_places_or_answers_default_to_the_services_callback_url() -> None:
    recorder = Recorder()
    client = CallAutomationClient("http://127.0.0.1:8123", KEY,
                                  transport=httpx2.MockTransport(recorder))
    (incoming,) = parse_events(sample_bytes("eventgrid", "IncomingCall"))
    ctx = Context(incoming, client, handler="m.h", callback_url="https://me/api/callbacks?secret=s")
    bare = Context(incoming, client, handler="m.h")
    async with client:
        await ctx.client.answer_call("ctx-1")
        await ctx.client.answer_call("ctx-2", "https://other/api/callbacks")
        with pytest.raises(ValueError, match="no callback_url given"):
            await bare.client.answer_call("ctx-3")
    bodies = [json.loads(r.content) for r in recorder.requests]
    assert [b["callbackUri"] for b in bodies] == [
        "https://me/api/callbacks?secret=s", "https://other/api/callbacks"
    ]
