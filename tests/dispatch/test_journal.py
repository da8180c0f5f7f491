"""A handler run's requests are recorded in the log; a re-run answers completed ones from it.

The service de-duplicates some operations (by repeatability id) but not a play or a recognize:
a handler retried after a failure must not play its prompt again. These tests run handlers
through real contexts on a real SQLite log against a recording transport.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx2
import pytest

from callbacks import CallAutomationClient, Context, FileSource, Router
from callbacks.client.retry import RetryPolicy
from callbacks.context import context_factory, repeatability_id
from callbacks.dispatch.journal import log_journals
from callbacks.events import Event
from callbacks.store import EventStore, open_store
from tests.support.log_bodies import ga_events

RECEIVED = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


class Service:
    """Answers like Call Automation; ``fail`` makes the next answers 503."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self.fail = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if self.fail:
            self.fail -= 1
            return httpx2.Response(503, json={"error": {"code": "Busy", "message": "busy"}})
        if request.url.path.endswith("participants:add"):
            return httpx2.Response(202, json={"invitationId": f"inv-{len(self.requests)}"})
        return httpx2.Response(202)

    def actions(self) -> list[str]:
        return [r.url.path.rsplit(":", 1)[-1] for r in self.requests]


@pytest.fixture
async def store() -> AsyncIterator[EventStore]:
    async with open_store("sqlite:///:memory:") as log:
        await log.append(ga_events("c", 1), None, received_at=RECEIVED)
        yield log


async def run(
    store: EventStore, service: Service, router: Router, attempt: int, replica: str = "r1"
) -> list[str | None]:
    """Every matching handler once, as the dispatcher would run it; their errors."""
    event = ga_events("c", 1)[0]
    async with CallAutomationClient(
        "https://acs.example", b"key", transport=httpx2.MockTransport(service),
        retry=RetryPolicy(attempts=1),
    ) as client:
        make = context_factory(client, journals=log_journals(store, replica))
        outcomes = await router.dispatch(
            event, lambda route: make(event, route, attempt, None, RECEIVED)
        )
    return [o.error for o in outcomes]


def flaky_handler(fail_after_play: list[bool], prompt: str = "https://a/menu.wav") -> Router:
    router = Router()

    @router.on("PlayCompleted")
    async def menu(event: Event, ctx: Context) -> None:
        await ctx.call.play_media(FileSource(prompt), operation_context="menu")
        if fail_after_play.pop(0):
            raise RuntimeError("database down")
        await ctx.call.add_participant("+14255550100", operation_context="agent")

    return router


async def test_a_retried_handler_does_not_play_again(store: EventStore) -> None:
    service = Service()
    router = flaky_handler([True, False])
    assert (await run(store, service, router, 1))[0] == "RuntimeError: database down"
    assert service.actions() == ["play"]
    assert await run(store, service, router, 2, replica="r2") == [None]
    assert service.actions() == ["play", "add"]  # the play was answered from the log
    records = await store.requests_of("c/1")
    assert [(r.attempt, r.index, r.operation, r.status, r.replica) for r in records] == [
        (1, 0, "play_media", 202, "r1"), (2, 1, "add_participant", 202, "r2"),
    ]
    play, add = records
    assert play.repeatability_id is None and play.answer == b""
    handler = "tests.dispatch.test_journal.flaky_handler.<locals>.menu"
    # the add's id is the first de-duplicated request of the run, whichever run sends it
    assert add.repeatability_id == repeatability_id("c/1", handler, 0)
    assert json.loads(add.answer or b"{}") == {"invitationId": "inv-2"}
    assert add.duration >= 0 and add.path == "/calling/callConnections/c/participants:add"


async def test_a_completed_request_is_answered_with_its_recorded_body(
    store: EventStore,
) -> None:
    service = Service()
    router = Router()
    seen: list[str | None] = []

    @router.on("PlayCompleted")
    async def invite(event: Event, ctx: Context) -> None:
        result = await ctx.call.add_participant("+14255550100")
        assert result is not None  # a GA call answers with the invitation
        seen.append(result.invitation_id)

    await run(store, service, router, 1)
    await run(store, service, router, 2)
    assert seen == ["inv-1", "inv-1"] and len(service.requests) == 1


async def test_a_different_request_at_the_same_place_is_sent(store: EventStore) -> None:
    service = Service()
    await run(store, service, flaky_handler([True], "https://a/one.wav"), 1)
    await run(store, service, flaky_handler([True], "https://a/two.wav"), 2)
    assert service.actions() == ["play", "play"]
    bodies = [json.loads(r.content)["playSources"][0]["file"]["uri"] for r in service.requests]
    assert bodies == ["https://a/one.wav", "https://a/two.wav"]


async def test_a_request_that_failed_is_sent_again_and_its_failure_is_kept(
    store: EventStore,
) -> None:
    service = Service()
    service.fail = 1
    router = flaky_handler([False, False])
    [error] = await run(store, service, router, 1)
    assert error is not None and "503" in error
    assert await run(store, service, router, 2) == [None]
    assert service.actions() == ["play", "play", "add"]
    records = await store.requests_of("c/1")
    assert [(r.attempt, r.status, r.error_code, r.answer) for r in records] == [
        (1, 503, "Busy", None), (2, 202, None, b""), (2, 202, None, b'{"invitationId":"inv-3"}'),
    ]


async def test_the_repeatability_pair_is_the_same_in_every_run(store: EventStore) -> None:
    service = Service()
    router = Router()

    @router.on("PlayCompleted")
    async def leave(event: Event, ctx: Context) -> None:
        await ctx.call.hang_up(is_for_everyone=True)
        raise RuntimeError("after the hang-up")

    service_2 = Service()
    await run(store, service, router, 1)
    assert [r.operation for r in await store.requests_of("c/1")] == ["hang_up"]
    # A crash between the answer and its record: the re-run sends the request again.
    async with open_store("sqlite:///:memory:") as fresh:
        await fresh.append(ga_events("c", 1), None, received_at=RECEIVED)
        await run(fresh, service_2, router, 2)
    first, second = service.requests[0], service_2.requests[0]
    for name in ("repeatability-request-id", "repeatability-first-sent"):
        assert first.headers[name] == second.headers[name]
    assert first.headers["repeatability-first-sent"] == "Mon, 06 May 2024 07:08:09 GMT"


async def test_a_recorded_answer_keeps_no_callback_secret(store: EventStore) -> None:
    # The service echoes the callbackUri of a call it answers; its query holds the secret.
    class Answering(Service):
        def __call__(self, request: httpx2.Request) -> httpx2.Response:
            self.requests.append(request)
            uri = json.loads(request.content)["callbackUri"]
            # the URL twice: as is, and as a JSON encoder that escapes "&" and "/" writes it
            escaped = uri.replace("&", "\\u0026").replace("/", "\\/")
            body = f'{{"callConnectionId": "c2", "callbackUri": "{uri}", "escaped": "{escaped}"}}'
            return httpx2.Response(200, content=body.encode())

    router = Router()
    seen: list[str | None] = []

    @router.on("PlayCompleted")
    async def answering_handler(event: Event, ctx: Context) -> None:
        result = await ctx.client.answer_call(
            "incoming", callback_url="https://me.example/api/callbacks?a=1&secret=s3/cr3t&b=2"
        )
        seen.append(result.callback_uri)

    service = Answering()
    assert await run(store, service, router, 1) == [None]
    assert await run(store, service, router, 2) == [None]
    assert len(service.requests) == 1  # the second run was answered from the log
    (record,) = await store.requests_of("c/1")
    assert record.answer is not None and b"s3" not in record.answer and b"cr3t" not in record.answer
    answer = json.loads(record.answer)
    assert answer["callbackUri"] == "https://me.example/api/callbacks?a=1&secret=***&b=2"
    assert answer["escaped"] == answer["callbackUri"] and b"secret=***\\u0026b=2" in record.answer
    # the run answered from the log sees the masked URL, the first one the service's
    assert seen == [
        "https://me.example/api/callbacks?a=1&secret=s3/cr3t&b=2", answer["callbackUri"]
    ]
