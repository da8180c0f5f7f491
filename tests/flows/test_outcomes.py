"""Handlers read a call's history from the log, and flows' outcomes are folded from it: on
SQLite and on PostgreSQL (when ``CALLBACKS_TEST_POSTGRES_URL`` names a server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callbacks.context import Context, NoHistoryError, context_factory
from callbacks.dispatch.dispatcher import DispatchConfig, Dispatcher
from callbacks.events import Event, ParticipantsUpdated, parse_event_element
from callbacks.flows.outcomes import flow_calls, flow_records
from callbacks.flows.state import encode_context
from callbacks.routing import Router
from callbacks.store import EventStatus, EventStore, open_store
from callbacks.store.history import store_history
from handlers.reminder import plugin as reminder
from tests.support.flow_events import CallEvents
from tests.support.log_bodies import ga_element
from tests.support.postgres import POSTGRES_URL, fresh_schema, with_options

FAST = DispatchConfig(backoff=0.05, poll_interval=0.05, lease=5, stop_timeout=2)


@pytest.fixture(params=["sqlite", "postgres"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty event log of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'log.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("needs CALLBACKS_TEST_POSTGRES_URL (e.g. postgresql://postgres@host/test)")
    async with fresh_schema() as schema:
        yield with_options(POSTGRES_URL, schema=schema)


async def all_done(store: EventStore, count: int) -> None:
    for _ in range(400):
        stats = await store.stats()
        if stats.by_status.get(EventStatus.DONE, 0) == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not all {count} events were handled: {await store.stats()}")


async def test_a_handler_sees_its_calls_earlier_events_oldest_first(url: str) -> None:
    one, other = CallEvents("call-one"), CallEvents("call-two")
    first = one.participants("8:acs:alice")
    events = [
        one.state("Established"), first, other.participants("8:acs:zed"), one.tone("1"),
        one.participants("8:acs:alice", "8:acs:bob"), one.tone("2"),
    ]
    seen: dict[str, tuple[list[str], str | None]] = {}
    router = Router()

    @router.on("*")
    async def look(event: Event, ctx: Context) -> None:
        earlier = await ctx.history()
        assert await ctx.history() is earlier  # read once per run
        previous = await ctx.previous(ParticipantsUpdated)
        seen[event.identity] = (
            [e.identity for e in earlier], previous.identity if previous else None
        )

    store = open_store(url)
    dispatcher = Dispatcher(store, router, context_factory(None, history=store_history(store)),
                            FAST)
    await dispatcher.start()
    try:
        for event in events:  # one request each, in this order
            await dispatcher.submit([event], None)
        await all_done(store, len(events))
    finally:
        await dispatcher.stop()
    ids = [event.identity for event in events]
    assert seen[ids[0]] == ([], None)
    assert seen[ids[2]] == ([], None)  # the other call's history is its own
    assert seen[ids[3]] == ([ids[0], ids[1]], ids[1])
    assert seen[ids[5]] == ([ids[0], ids[1], ids[3], ids[4]], ids[4])


async def test_an_event_not_in_the_log_sees_every_logged_event_of_its_call(url: str) -> None:
    call = CallEvents("call-three")
    logged = [call.state("Established"), call.tone("1")]
    async with open_store(url) as store:
        await store.append(logged, None)
        history = store_history(store)
        assert [e.identity for e in await history(call.tone("2"))] == [
            e.identity for e in logged
        ]
        assert [e.identity for e in await history(logged[1])] == [logged[0].identity]


async def test_history_stops_at_the_event_even_when_the_log_escaped_its_id(url: str) -> None:
    """The log stores a lone surrogate in an id as its escape; the event still finds itself."""
    elements = [ga_element("c-\ud800", n, event_id=f"e-\ud800-{n}") for n in (1, 2, 3)]
    events = [parse_event_element(json.dumps(element).encode()) for element in elements]
    async with open_store(url) as store:
        await store.append(events, None)
        history = store_history(store)
        assert list(await history(events[0])) == []
        assert [e.identity for e in await history(events[2])] == [e.identity for e in events[:2]]


async def test_history_without_a_log_is_a_clear_error() -> None:
    event = CallEvents().tone("1")
    ctx = Context(event, None, handler="m.h")
    with pytest.raises(NoHistoryError, match=r"handler m\.h reads the call's earlier events"):
        await ctx.history()


async def test_flow_outcomes_are_folded_from_the_logged_calls(url: str) -> None:
    confirmed, unanswered, plain = CallEvents("r-1"), CallEvents("r-2"), CallEvents("x-1")
    context = encode_context("reminder", {"id": "f-1", "to": "+14251001000", "appointment": "x"})
    async with open_store(url) as store:
        await store.append([confirmed.state("Establishing"), confirmed.state("Established")],
                           context)
        await store.append([plain.state("Established"), plain.tone("1")], None)
        await store.append([confirmed.played("reminder:prompt:1/3"), confirmed.tone("1"),
                            confirmed.played("reminder:closing"),
                            confirmed.state("Terminated")], context)
        other = encode_context("reminder", {"id": "f-2", "to": "+14251002000"})
        await store.append([unanswered.state("Establishing"), unanswered.state("Terminated")],
                           other)
        await store.append([plain.tone("2")], "reminder:not-base64!")
        calls = await flow_calls(store, ["reminder", "notify"])
        records = await flow_records(store, {"reminder": reminder.flow} if reminder.flow else {})
    assert calls["notify"] == []
    assert sorted(c.call_id for c in calls["reminder"]) == ["r-1", "r-2"]
    by_id = {record.id: record for record in records}
    assert by_id["f-1"].outcome == "confirmed" and by_id["f-1"].detail["call_id"] == "r-1"
    assert by_id["f-1"].summary == "+14251001000 confirmed (x)"
    assert by_id["f-2"].outcome == "no-answer"
    assert by_id["f-1"].started_at <= by_id["f-1"].updated_at
