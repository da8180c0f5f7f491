"""The event-log contract, part five: calls (the span scan of ``callbacks calls`` and the
console) and a call's REST requests."""

from __future__ import annotations

from callbacks.store import EventFilter, EventStatus, EventStore
from tests.support.log_bodies import ga_events, incoming_calls
from tests.support.store_contract_queries import settle
from tests.support.store_contract_requests import request


class StoreCallsContract:
    """Calls in the log, shared by every :class:`EventStore`."""

    async def test_bounds_of_an_empty_and_a_filled_log(self, store: EventStore) -> None:
        assert await store.seq_bounds() is None
        await store.append(ga_events("a", 1, 2, 3), None)
        first, last = await store.seq_bounds() or (0, 0)
        assert last - first == 2

    async def test_a_span_lists_its_calls_newest_first_with_their_newest_match(
        self, store: EventStore
    ) -> None:
        await store.append(ga_events("a", 1), None)                         # seq s
        await store.append(ga_events("b", 1, operation_context="menu:1"), None)
        await store.append(incoming_calls(1), None)                          # no call: left out
        await store.append(ga_events("a", 2, event_type="CallConnected"), None)
        await store.append(ga_events("c", 1), None)
        first, last = await store.seq_bounds() or (0, 0)
        scan = await store.call_scan(EventFilter(), first, last + 1)
        assert scan == [("c", last), ("a", last - 1), ("b", first + 1)]
        # the span is [low, high): the newest event is outside this one
        assert [c for c, _ in await store.call_scan(EventFilter(), first, last)] == ["a", "b"]
        assert await store.call_scan(EventFilter(), first, first + 1) == [("a", first)]
        by_type = EventFilter(type="PlayCompleted")
        assert await store.call_scan(by_type, first, last + 1) == [
            ("c", last), ("b", first + 1), ("a", first)
        ]
        glob = EventFilter(operation_context="menu:*")
        assert await store.call_scan(glob, first, last + 1) == [("b", first + 1)]
        prefix = EventFilter(call_id="b")
        assert await store.call_scan(prefix, first, last + 1) == [("b", first + 1)]

    async def test_the_status_filter_reads_dead_events_by_their_index(
        self, store: EventStore
    ) -> None:
        await store.append(ga_events("ok", 1) + ga_events("bad", 1, 2), None)
        await settle(store, "ok", EventStatus.DONE)
        dead = await settle(store, "bad", EventStatus.DEAD)
        first, last = await store.seq_bounds() or (0, 0)
        dead_only = EventFilter(status=EventStatus.DEAD)
        assert await store.call_scan(dead_only, first, last + 1) == [("bad", dead)]
        pending = EventFilter(status=EventStatus.PENDING)
        assert [c for c, _ in await store.call_scan(pending, first, last + 1)] == ["bad"]

    async def test_activity_changes_when_events_are_logged_finished_and_retried(
        self, store: EventStore
    ) -> None:
        assert await store.activity() == (0, 0, 0)
        await store.append(ga_events("c", 1, 2), None)
        last, unfinished, dead = await store.activity()
        assert (unfinished, dead) == (2, 0) and last > 0
        await settle(store, "c", EventStatus.DEAD)
        assert await store.activity() == (last, 1, 1)
        assert await store.retry(None) == 1
        assert await store.activity() == (last, 2, 0)

    async def test_a_calls_requests_come_from_all_its_events_in_the_order_sent(
        self, store: EventStore
    ) -> None:
        await store.append(ga_events("c", 1, 2) + ga_events("other", 1), None)
        await settle(store, "c", EventStatus.DONE)  # one finished event, one still pending
        for record in (request("c/2", 0, at=3), request("c/1", 0, at=1),
                       request("c/1", 1, at=2, status=500, answer=None),
                       request("other/1", 0, at=0)):
            await store.record_request(record)
        requests = await store.call_requests("c")
        assert [(r.event_id, r.index) for r in requests] == [("c/1", 0), ("c/1", 1), ("c/2", 0)]
        assert requests[1].status == 500 and requests[1].replica == "replica-1"
        assert requests[0].answer is None  # the answer's body is not read for timelines
        assert await store.call_requests("nobody") == []
