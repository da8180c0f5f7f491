"""The event-log contract, part two: listing with filters, history, retry, prune, stats."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest

from callbacks.routing import Router
from callbacks.store import EventFilter, EventStatus, EventStore
from tests.support.log_bodies import ga_events, incoming_calls, number
from tests.support.store_contract import failed, ok

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


async def settle(store: EventStore, call_id: str, status: EventStatus, *, owner: str = "o") -> int:
    """Claim ``call_id`` and give its first unfinished event ``status``; its seq."""
    await store.claim_calls(owner, 100, 30)
    item = (await store.next_events(call_id, 1))[0]
    outcome = ok("h.a") if status is EventStatus.DONE else failed("h.a")
    await store.finish(owner, item.seq, status, [outcome])
    await store.release(owner, call_id)
    return item.seq


async def ids(store: EventStore, where: EventFilter, **kwargs: object) -> list[str]:
    """The ids listed for ``where``."""
    return [r.id async for r in store.list_events(where, **kwargs)]  # type: ignore[arg-type]


class StoreQueriesContract:
    """Queries and maintenance shared by every :class:`EventStore`."""

    async def test_list_filters(self, store: EventStore) -> None:
        await store.append(ga_events("a", 1, operation_context="menu"), None, received_at=T0)
        await store.append(
            ga_events("b", 1, event_type="CallConnected", operation_context=None),
            None,
            received_at=T0 + timedelta(minutes=1),
        )
        await store.append(incoming_calls(1), None, received_at=T0 + timedelta(minutes=2))
        await settle(store, "a", EventStatus.DEAD)

        assert await ids(store, EventFilter()) == ["a/1", "b/1", "incoming/1"]
        assert await ids(store, EventFilter(call_id="b")) == ["b/1"]
        assert await ids(store, EventFilter(type="CallConnected")) == ["b/1"]
        assert await ids(store, EventFilter(type="Microsoft.Communication.IncomingCall")) == [
            "incoming/1"
        ]
        assert await ids(store, EventFilter(status=EventStatus.DEAD)) == ["a/1"]
        assert await ids(store, EventFilter(status=EventStatus.PENDING)) == ["b/1", "incoming/1"]
        assert await ids(store, EventFilter(since=T0 + timedelta(seconds=30))) == [
            "b/1",
            "incoming/1",
        ]
        assert await ids(store, EventFilter(until=T0 + timedelta(minutes=1))) == ["a/1"]
        naive = (T0 + timedelta(minutes=1)).replace(tzinfo=None)
        assert await ids(store, EventFilter(since=naive, until=naive + timedelta(seconds=1))) == [
            "b/1"
        ]
        assert await ids(store, EventFilter(operation_context="menu")) == ["a/1"]
        assert await ids(store, EventFilter(id="b/1")) == ["b/1"]
        assert await ids(store, EventFilter(call_id="a", type="CallConnected")) == []

    async def test_operation_context_globs_select_what_the_router_routes(
        self, store: EventStore
    ) -> None:
        contexts = [
            "reminder:prompt:1/3", "reminder:closing", "Reminder:prompt:1/3", "greeting:8:acs:1",
            "50%_off", "50xyoff", "a_b", "axb", "x", "[x]", "re\\minder", "", None, "caf\u00e9",
        ]
        for n, context in enumerate(contexts, 1):
            await store.append(ga_events("c", n, operation_context=context), None)
        events = {f"c/{n}": ga_events("c", n, operation_context=c)[0]
                  for n, c in enumerate(contexts, 1)}
        patterns = [
            "reminder:*", "reminder:prompt:?/3", "*", "[Rr]eminder:*", "[!r]*", "50%_*", "a?b",
            "a_b", "[x]", "[x", "re\\*", "*:*:*", "caf?", "?", "[]x]", "[!]]*",
        ]

        async def noop(event: object, ctx: object) -> None:
            return None

        for pattern in patterns:
            route = Router().add(noop, "*", operation_context=pattern)
            expected = [i for i, event in events.items() if route.matches(event)]
            assert await ids(store, EventFilter(operation_context=pattern)) == expected, pattern
            assert await ids(store, EventFilter(operation_context=pattern), limit=1) == (
                expected[:1]
            ), pattern

    async def test_an_id_prefix_selects_the_ids_that_start_with_it(
        self, store: EventStore
    ) -> None:
        await store.append(ga_events("call-a", 1, 2, 10) + ga_events("call-b", 1), None)
        assert await ids(store, EventFilter(id_prefix="call-a/1")) == ["call-a/1", "call-a/10"]
        assert await ids(store, EventFilter(id_prefix="call-")) == [
            "call-a/1", "call-a/2", "call-a/10", "call-b/1"
        ]
        assert await ids(store, EventFilter(id_prefix="CALL-")) == []
        assert await ids(store, EventFilter(id_prefix="call_")) == []
        assert await ids(store, EventFilter(id_prefix="call-b/1/")) == []

    async def test_list_pages_in_order_with_limit_cursor_and_newest_first(
        self, store: EventStore
    ) -> None:
        for start in range(1, 1201, 100):
            await store.append(ga_events("c", *range(start, start + 100)), None)
        listed = [r async for r in store.list_events()]
        assert [number(r.id) for r in listed] == list(range(1, 1201))
        assert await ids(store, EventFilter(), limit=3) == ["c/1", "c/2", "c/3"]
        after = EventFilter(after_seq=listed[1099].seq)
        assert len(await ids(store, after)) == 100
        before = EventFilter(before_seq=listed[3].seq)
        assert await ids(store, before, newest_first=True) == ["c/3", "c/2", "c/1"]
        window = EventFilter(call_id="c", after_seq=listed[9].seq, before_seq=listed[12].seq)
        assert await ids(store, window) == ["c/11", "c/12"]
        assert await ids(store, EventFilter(before_seq=2**63 + 5), limit=1) == ["c/1"]
        newest = await ids(store, EventFilter(), limit=502, newest_first=True)
        assert [number(i) for i in newest] == list(range(1200, 698, -1))

    async def test_listing_streams_in_flat_memory(self, store: EventStore) -> None:
        for start in range(0, 6000, 500):
            await store.append(ga_events("c", *range(start, start + 500)), None)

        async def peak_while_listing(limit: int) -> int:
            tracemalloc.start()
            try:
                listed = 0
                async for _ in store.list_events(limit=limit):
                    listed += 1
                assert listed == limit
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

        few, many = await peak_while_listing(1000), await peak_while_listing(6000)
        assert many < 1.5 * few, (few, many)

    async def test_listed_records_carry_outcomes_and_the_design_json(
        self, store: EventStore
    ) -> None:
        await store.append(ga_events("c", 1), "tenant", received_at=T0)
        await settle(store, "c", EventStatus.DONE)
        [record] = [r async for r in store.list_events()]
        document = record.to_json()
        assert {"id", "type", "dialect", "call_id", "operation_context", "received_at"} <= set(
            document
        )
        assert document["status"] == "done"
        assert document["received_at"] == "2024-03-01T12:00:00+00:00"
        assert [(o["handler"], o["ok"]) for o in document["outcomes"]] == [("h.a", True)]
        assert record.to_json(raw=True)["raw"]["id"] == "c/1"

    async def test_get_event_unknown_is_none(self, store: EventStore) -> None:
        assert await store.get_event("nope") is None

    async def test_call_history_is_the_calls_earlier_events(self, store: EventStore) -> None:
        await store.append(ga_events("c", 1, 2) + ga_events("d", 1) + ga_events("c", 3, 4), None)
        history = await store.call_history("c")
        assert [r.id for r in history] == ["c/1", "c/2", "c/3", "c/4"]
        before = await store.call_history("c", before_seq=history[2].seq)
        assert [r.id for r in before] == ["c/1", "c/2"]
        latest = await store.call_history("c", before_seq=history[3].seq, limit=2)
        assert [r.id for r in latest] == ["c/2", "c/3"]

    async def test_retry_sends_dead_events_back_to_pending(self, store: EventStore) -> None:
        await store.append(ga_events("a", 1) + ga_events("b", 1) + ga_events("c", 1), None)
        for call in ("a", "b"):
            await settle(store, call, EventStatus.DEAD)
        await settle(store, "c", EventStatus.DONE)
        assert await store.claim_calls("o", 10, 30) == []

        assert await store.retry(["a/1", "c/1", "missing"]) == 1
        record = await store.get_event("a/1")
        assert record is not None
        assert (record.status, record.attempts, len(record.outcomes)) == (
            EventStatus.PENDING,
            0,
            1,
        )
        assert [c.call_id for c in await store.claim_calls("o", 10, 30)] == ["a"]
        assert await store.retry() == 1  # every dead one: b
        dead = await ids(store, EventFilter(status=EventStatus.DEAD))
        assert dead == []

    async def test_prune_deletes_only_old_finished_events(self, store: EventStore) -> None:
        await store.append(ga_events("a", 1, 2, 3), None, received_at=T0)
        await store.append(ga_events("a", 4), None, received_at=T0 + timedelta(days=2))
        await settle(store, "a", EventStatus.DONE)
        await settle(store, "a", EventStatus.DEAD)

        assert await store.prune(T0 + timedelta(days=1)) == 2
        assert await ids(store, EventFilter()) == ["a/3", "a/4"]
        stats = await store.stats()
        assert stats.total == 2
        assert await store.prune(T0 + timedelta(days=1), [EventStatus.DONE]) == 0
        with pytest.raises(ValueError, match="finished"):
            await store.prune(T0, [EventStatus.PENDING])
        # a pruned identity is new again: the log only de-duplicates what it keeps
        assert (await store.append(ga_events("a", 1), None)).accepted == 1

    async def test_stats_count_by_status_and_type(self, store: EventStore) -> None:
        await store.append(
            ga_events("a", 1, 2) + ga_events("b", 1, event_type="CallConnected"), None
        )
        await settle(store, "a", EventStatus.DONE)
        stats = await store.stats()
        assert stats.total == 3
        assert stats.by_status == {"done": 1, "pending": 2}
        assert stats.by_type == {"PlayCompleted": 2, "CallConnected": 1}
        assert stats.calls_with_work == 2
