"""The calls list and a call's summary, on SQLite and PostgreSQL: order, filters, pages that
read a bounded span of the log, state, failures and a flow's outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from callbacks.calls import listing
from callbacks.calls.listing import list_calls
from callbacks.calls.summary import call_summary
from callbacks.calls.timeline import call_timeline
from callbacks.flows.flow import Flow, FlowCall, FlowRecord, Launch, PlacedCall
from callbacks.flows.state import encode_context
from callbacks.store import EventFilter, EventStatus, EventStore, open_store
from tests.support.log_bodies import ga_events
from tests.support.postgres import POSTGRES_URL, fresh_schema, needs_postgres, with_options
from tests.support.store_contract import failed, ok
from tests.support.store_contract_requests import request


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=needs_postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EventStore]:
    if request.param == "sqlite":
        async with open_store(f"sqlite:///{tmp_path / 'log.db'}") as sqlite_store:
            yield sqlite_store
        return
    async with fresh_schema() as schema, open_store(
        with_options(POSTGRES_URL, schema=schema)
    ) as postgres_store:
        yield postgres_store


async def run_all(store: EventStore, call: str, status: EventStatus = EventStatus.DONE,
                  *, error: bool = False) -> None:
    """Finish every pending event of ``call`` with ``status`` (a failed run if ``error``)."""
    await store.claim_calls("replica-1", 100, 30)
    for item in await store.next_events(call, 100):
        outcome = failed("h.a") if error else ok("h.a")
        await store.finish("replica-1", item.seq, status, [outcome])
    await store.release("replica-1", call)


async def test_newest_call_first_with_its_summary(store: EventStore) -> None:
    await store.append(ga_events("old", 1, event_type="CallConnected"), None)
    await store.append(ga_events("new", 1, event_type="CallConnected"), None)
    await store.append(ga_events("old", 2, event_type="CallDisconnected"), None)
    await run_all(store, "old")
    await store.append(ga_events("new", 2, 3), None)
    await run_all(store, "new", EventStatus.DEAD, error=True)
    page = await list_calls(store)
    assert [c.call_id for c in page.calls] == ["new", "old"]
    assert page.older is None
    new, old = page.calls
    assert (old.state, old.last_event, old.events, old.failures) == (
        "ended", "CallDisconnected", 2, 0)
    assert (new.state, new.last_event, new.failures, new.dead) == (
        "connected", "PlayCompleted", 3, 3)
    assert old.first_at < old.last_at and new.last_seq > old.last_seq


async def test_filters_keep_calls_with_a_matching_event(store: EventStore) -> None:
    await store.append(ga_events("a-1", 1, operation_context="menu:main"), None)
    await store.append(ga_events("b-1", 1, event_type="RecognizeFailed",
                                 operation_context="menu:pin"), None)
    await store.append(ga_events("a-2", 1, operation_context="greeting"), None)
    await run_all(store, "b-1", EventStatus.DEAD, error=True)

    async def ids(where: EventFilter) -> list[str]:
        return [c.call_id for c in (await list_calls(store, where)).calls]

    assert await ids(EventFilter(operation_context="menu:*")) == ["b-1", "a-1"]
    assert await ids(EventFilter(type="RecognizeFailed")) == ["b-1"]
    assert await ids(EventFilter(status=EventStatus.DEAD)) == ["b-1"]
    assert await ids(EventFilter(call_id="a-")) == ["a-2", "a-1"]
    assert await ids(EventFilter(call_id="a-2")) == ["a-2"]
    assert await ids(EventFilter(until=datetime(2000, 1, 1, tzinfo=UTC))) == []
    assert await ids(EventFilter(type="CallConnected")) == []


async def test_pages_go_back_by_position_and_list_each_call_once(store: EventStore) -> None:
    for round_ in range(3):
        for call in ("a", "b", "c", "d"):
            await store.append(ga_events(call, round_ + 1), None)
    await store.append(ga_events("e", 1), None)
    first = await list_calls(store, limit=2)
    assert [c.call_id for c in first.calls] == ["e", "d"]
    second = await list_calls(store, limit=2, before=first.older)
    assert [c.call_id for c in second.calls] == ["c", "b"]
    third = await list_calls(store, limit=2, before=second.older)
    assert [c.call_id for c in third.calls] == ["a"]
    assert third.older is None


async def test_a_page_reads_a_bounded_span_and_says_where_to_go_on(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rare match far back: the first page stops at the budget, empty, and names the
    position the next one starts from, which finds it."""
    monkeypatch.setattr(listing, "FIRST_SPAN", 10)
    monkeypatch.setattr(listing, "BUDGET", 30)
    await store.append(ga_events("rare", 1, event_type="RecognizeFailed"), None)
    for n in range(60):
        await store.append(ga_events(f"busy-{n % 7}", n + 1), None)
    rare = EventFilter(type="RecognizeFailed")
    page = await list_calls(store, rare)
    assert page.calls == [] and page.older is not None
    pages = 1
    while not page.calls and page.older is not None:
        page = await list_calls(store, rare, before=page.older)
        pages += 1
    assert [c.call_id for c in page.calls] == ["rare"] and pages >= 2


class Request(BaseModel):
    """No fields."""


class Outcomes(Flow[Request]):
    """A flow whose outcome is the number of its events in this call."""

    request_model = Request

    async def start(self, request: Request, launch: Launch) -> Sequence[PlacedCall]:
        return []

    def summarize(self, calls: Sequence[FlowCall]) -> list[FlowRecord]:
        return [FlowRecord("demo", str(c.state["id"]), f"{len(c.events)} events", "",
                           c.first_at, c.last_at) for c in calls]


async def test_a_flow_call_shows_its_flows_outcome_when_the_flow_is_at_hand(
    store: EventStore
) -> None:
    context = encode_context("demo", {"id": "f-1", "to": "+1425"})
    await store.append(ga_events("flowcall", 1, 2), context)
    flows: dict[str, Flow[Any]] = {"demo": Outcomes()}
    summary = await call_summary(store, "flowcall", flows)
    assert summary is not None
    assert (summary.flow, summary.flow_id, summary.outcome) == ("demo", "f-1", "2 events")
    unknown = await call_summary(store, "flowcall", {})
    assert unknown is not None and (unknown.flow, unknown.outcome) == ("demo", None)


async def test_a_timeline_holds_callbacks_runs_and_requests_in_time_order(
    store: EventStore
) -> None:
    await store.append(ga_events("t", 1, 2), None)
    await run_all(store, "t")
    await store.record_request(request("t/1", 0, path="/calling/callConnections/t:play"))
    timeline = await call_timeline(store, "t")
    assert timeline is not None and not timeline.partial
    kinds = [(e.kind, e.event_id) for e in timeline.entries]
    assert ("callback", "t/1") in kinds and ("handler", "t/2") in kinds
    assert ("request", "t/1") in kinds
    assert [e.at for e in timeline.entries] == sorted(e.at for e in timeline.entries)
    play = next(e for e in timeline.entries if e.kind == "request")
    assert play.what == "POST /calling/callConnections/t:play" and play.status == "202"
    assert timeline.offset(timeline.entries[0]) == 0.0
    assert await call_timeline(store, "nobody") is None
