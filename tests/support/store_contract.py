"""The event-log contract every store must pass: append, de-duplication, group commit, order,
claims and leases, outcomes, durability across a restart.

A store's test module subclasses :class:`StoreContract` and provides a ``make_store`` fixture
returning a callable that builds a new, unopened store on the same database each time (see
``tests/store/sqlite/test_store.py``). Queries and maintenance are in
``tests/support/store_contract_queries.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from callbacks.events import parse_events
from callbacks.store import ClaimLost, EventFilter, EventStatus, EventStore, Outcome
from tests.support.log_bodies import ga_element, ga_events, incoming_calls, number, preview_dtmf

MakeStore = Callable[[], EventStore]


def ok(handler: str, attempt: int = 1) -> Outcome:
    """A successful outcome."""
    return Outcome(handler, attempt, None, 0.001, datetime.now(UTC))


def failed(handler: str, attempt: int = 1, error: str = "RuntimeError: boom") -> Outcome:
    """A failed outcome."""
    return Outcome(handler, attempt, error, 0.002, datetime.now(UTC))


class StoreContract:
    """Behaviour shared by every :class:`EventStore`."""

    @pytest.fixture
    async def store(self, make_store: MakeStore) -> AsyncIterator[EventStore]:
        store = make_store()
        await store.open()
        yield store
        await store.close()

    async def test_append_stores_every_field_and_the_raw_bytes(self, store: EventStore) -> None:
        events = ga_events("call-1", 1, event_type="PlayCompleted", operation_context="greet")
        events += preview_dtmf("leg-9", 4)
        received = datetime(2024, 3, 1, 12, 0, 5, tzinfo=UTC)
        receipt = await store.append(events, "tenant-a", received_at=received)
        assert (receipt.accepted, receipt.duplicates) == (2, 0)

        play = await store.get_event("call-1/1")
        assert play is not None
        assert play.raw == events[0].raw
        assert play.type == "PlayCompleted"
        assert play.full_type == "Microsoft.Communication.PlayCompleted"
        assert (play.dialect, play.call_id, play.operation_context) == ("ga", "call-1", "greet")
        assert play.event_time == events[0].time
        assert play.received_at == received
        assert play.path_context == "tenant-a"
        assert (play.status, play.attempts, play.outcomes) == (EventStatus.PENDING, 0, ())

        dtmf = await store.get_event(events[1].identity)
        assert dtmf is not None
        assert dtmf.id.startswith("sha256:")
        assert (dtmf.dialect, dtmf.call_id, dtmf.sequence) == ("preview2021", "leg-9", 4)
        assert json.loads(dtmf.raw) == json.loads(events[1].raw)

    async def test_lone_surrogates_are_stored_and_found(self, store: EventStore) -> None:
        """JSON may escape a lone surrogate and the parser keeps it, but no UTF-8 column can
        hold one: the columns get its escape as text, lookups map the same way, the raw keeps
        the original, and a handler error quoting it is recorded too."""
        element = ga_element("call-\ud800", 1, operation_context="menu-\udfff")
        element["id"] = "odd-\ud800"
        [event] = parse_events(json.dumps(element).encode())
        assert (await store.append([event], "tenant-\ud800")).accepted == 1
        assert (await store.append([event], None)).duplicates == 1
        [other] = ga_events("call-\ud800", 2)
        assert (await store.append([other], None)).accepted == 1

        record = await store.get_event("odd-\ud800")
        assert record is not None
        assert record.raw == event.raw
        assert record.id == "odd-\\ud800"
        assert (record.call_id, record.operation_context) == ("call-\\ud800", "menu-\\udfff")
        assert record.path_context == "tenant-\\ud800"
        by_call = store.list_events(EventFilter(call_id="call-\ud800"))
        assert [r.id async for r in by_call] == ["odd-\\ud800", "call-\\ud800/2"]
        by_context = store.list_events(EventFilter(operation_context="menu-\udfff"))
        assert [r.id async for r in by_context] == ["odd-\\ud800"]
        assert [r.id for r in await store.call_history("call-\ud800")] == [
            "odd-\\ud800", "call-\\ud800/2"]

        [claim] = await store.claim_calls("me", 5, 30)
        assert claim.call_id == "call-\\ud800"
        [pending, _] = await store.next_events(claim.call_id, 10)
        error = "ValueError: no menu-\udfff"
        await store.finish("me", pending.seq, EventStatus.DEAD, [failed("h-\ud800", 1, error)])
        record = await store.get_event("odd-\ud800")
        assert record is not None and record.status is EventStatus.DEAD
        [outcome] = record.outcomes
        assert (outcome.handler, outcome.error) == ("h-\\ud800", "ValueError: no menu-\\udfff")
        assert await store.retry(["odd-\ud800"]) == 1

    async def test_duplicates_are_counted_not_stored(self, store: EventStore) -> None:
        first = await store.append(ga_events("c", 1, 2), None)
        again = await store.append(ga_events("c", 2, 3, 3), None)
        assert (first.accepted, first.duplicates) == (2, 0)
        assert (again.accepted, again.duplicates) == (1, 2)
        ids = [r.id async for r in store.list_events()]
        assert ids == ["c/1", "c/2", "c/3"]

    async def test_same_event_in_two_concurrent_appends_is_stored_once(
        self, store: EventStore
    ) -> None:
        receipts = await asyncio.gather(
            store.append(ga_events("c", 1), None), store.append(ga_events("c", 1), None)
        )
        assert sorted((r.accepted, r.duplicates) for r in receipts) == [(0, 1), (1, 0)]
        assert len(await store.next_events("c", 10)) == 1

    async def test_concurrent_appends_share_commits(self, store: EventStore) -> None:
        before = store.commits
        receipts = await asyncio.gather(
            *(store.append(ga_events(f"c{i}", 1, 2), None) for i in range(40))
        )
        assert all(r.accepted == 2 for r in receipts)
        assert 1 <= store.commits - before < 40
        assert (await store.stats()).total == 80

    async def test_an_append_is_committed_when_it_returns(
        self, store: EventStore, make_store: MakeStore
    ) -> None:
        await store.append(ga_events("c", 1), None)
        async with make_store() as other:
            seen = await other.get_event("c/1")
        assert seen is not None

    async def test_seq_is_arrival_order(self, store: EventStore) -> None:
        for n in (5, 3, 9):
            await store.append(ga_events("c", n), None)
        await store.append(ga_events("c", 1, 2), None)
        pending = await store.next_events("c", 10)
        assert [number(p.id) for p in pending] == [5, 3, 9, 1, 2]
        assert [p.seq for p in pending] == sorted(p.seq for p in pending)

    async def test_everything_survives_close_and_reopen(
        self, store: EventStore, make_store: MakeStore
    ) -> None:
        await store.append(ga_events("c", 1, 2), "ctx")
        assert len(await store.claim_calls("owner", 1, 30)) == 1
        first = (await store.next_events("c", 1))[0]
        await store.finish("owner", first.seq, EventStatus.DONE, [ok("h.a")])
        await store.close()
        async with make_store() as reopened:
            records = [r async for r in reopened.list_events()]
            await reopened.append(ga_events("c", 2, 3), None)
            newest = await reopened.get_event("c/3")
        assert [(r.id, r.status) for r in records] == [
            ("c/1", EventStatus.DONE),
            ("c/2", EventStatus.PENDING),
        ]
        assert records[0].outcomes[0].handler == "h.a"
        assert records[1].path_context == "ctx"
        assert newest is not None and newest.seq > records[1].seq

    # -- claims --

    async def test_each_call_is_claimed_by_one_owner_oldest_work_first(
        self, store: EventStore
    ) -> None:
        for call in ("a", "b", "c"):
            await store.append(ga_events(call, 1), None)
        first = await store.claim_calls("one", 2, 30)
        second = await store.claim_calls("two", 5, 30)
        assert [c.call_id for c in first] == ["a", "b"]
        assert [c.previous for c in first + second] == [None, None, None]  # nobody held them
        assert [c.call_id for c in second] == ["c"]
        assert {c.owner for c in first} == {"one"}
        assert await store.claim_calls("two", 5, 30) == []

    async def test_events_outside_any_call_have_their_own_lane(self, store: EventStore) -> None:
        await store.append(incoming_calls(1, 2) + ga_events("x", 1), None)
        claims = await store.claim_calls("one", 5, 30)
        assert sorted(str(c.call_id) for c in claims) == ["None", "x"]
        assert [p.id for p in await store.next_events(None, 10)] == ["incoming/1", "incoming/2"]
        assert [p.call_id for p in await store.next_events(None, 10)] == [None, None]

    async def test_an_expired_lease_is_taken_over_and_fences_the_old_owner(
        self, store: EventStore
    ) -> None:
        await store.append(ga_events("c", 1), None)
        await store.claim_calls("dead-owner", 1, 0.05)
        assert await store.claim_calls("heir", 1, 30) == []
        await asyncio.sleep(0.1)
        [claim] = await store.claim_calls("heir", 1, 30)
        assert (claim.call_id, claim.owner, claim.previous) == ("c", "heir", "dead-owner")
        seq = (await store.next_events("c", 1))[0].seq
        with pytest.raises(ClaimLost):
            await store.finish("dead-owner", seq, EventStatus.DONE, [ok("h")])
        assert await store.renew("dead-owner", ["c"], 30) == ["c"]
        await store.finish("heir", seq, EventStatus.DONE, [ok("h")])

    async def test_renewing_keeps_the_claim(self, store: EventStore) -> None:
        await store.append(ga_events("c", 1), None)
        await store.claim_calls("one", 1, 0.15)
        await asyncio.sleep(0.08)
        assert await store.renew("one", ["c"], 0.3) == []
        await asyncio.sleep(0.1)
        assert await store.claim_calls("two", 1, 30) == []

    async def test_recover_takes_back_an_earlier_runs_claims(
        self, store: EventStore, make_store: MakeStore
    ) -> None:
        await store.append(ga_events("c", 1) + ga_events("d", 1), None)
        assert len(await store.claim_calls("host-1", 5, 600)) == 2
        await store.close()  # the process "dies" holding both claims
        async with make_store() as restarted:
            assert await restarted.claim_calls("host-1", 5, 600) == []
            assert await restarted.recover("host-1") == 2
            claims = await restarted.claim_calls("host-1", 5, 600)
        assert sorted(str(c.call_id) for c in claims) == ["c", "d"]

    async def test_release_reports_remaining_work(self, store: EventStore) -> None:
        await store.append(ga_events("c", 1, 2), None)
        await store.claim_calls("one", 1, 30)
        first = (await store.next_events("c", 1))[0]
        await store.finish("one", first.seq, EventStatus.DONE, [])
        assert await store.release("one", "c") is True
        await store.claim_calls("one", 1, 30)
        second = (await store.next_events("c", 5))[0]
        assert number(second.id) == 2
        await store.finish("one", second.seq, EventStatus.DONE, [])
        assert await store.release("one", "c") is False
        assert await store.claim_calls("one", 1, 30) == []

    async def test_events_logged_while_a_call_is_held_wait_for_its_release(
        self, store: EventStore
    ) -> None:
        await store.append(ga_events("c", 1), None)
        await store.claim_calls("one", 1, 30)
        await store.append(ga_events("c", 2), None)
        assert await store.claim_calls("two", 1, 30) == []
        seq = (await store.next_events("c", 1))[0].seq
        await store.finish("one", seq, EventStatus.DONE, [])
        assert await store.release("one", "c") is True
        [claim] = await store.claim_calls("two", 1, 30)
        assert claim.call_id == "c"

    async def test_not_before_delays_the_next_claim(self, store: EventStore) -> None:
        await store.append(ga_events("c", 1), None)
        await store.claim_calls("one", 1, 30)
        loop_now = datetime.now(UTC).timestamp()
        await store.release("one", "c", not_before=loop_now + 0.15)
        assert await store.claim_calls("one", 1, 30) == []
        await asyncio.sleep(0.2)
        assert len(await store.claim_calls("one", 1, 30)) == 1

    async def test_release_all_gives_back_every_claim(self, store: EventStore) -> None:
        await store.append(ga_events("a", 1) + ga_events("b", 1), None)
        await store.claim_calls("one", 5, 30)
        assert await store.release_all("one") == 2
        assert len(await store.claim_calls("two", 5, 30)) == 2

    # -- outcomes --

    async def test_finish_records_outcomes_and_status(self, store: EventStore) -> None:
        await store.append(ga_events("c", 1, 2), None)
        await store.claim_calls("one", 1, 30)
        first, second = await store.next_events("c", 5)
        await store.finish("one", first.seq, EventStatus.FAILED, [ok("h.a"), failed("h.b")])
        again = await store.next_events("c", 5)
        assert [p.seq for p in again] == [first.seq, second.seq]
        retried = again[0]
        assert (retried.status, retried.attempts) == (EventStatus.FAILED, 1)
        assert [(o.handler, o.attempt, o.ok) for o in retried.outcomes] == [
            ("h.a", 1, True),
            ("h.b", 1, False),
        ]
        await store.finish("one", first.seq, EventStatus.DONE, [ok("h.b", 2)])
        record = await store.get_event(first.id)
        assert record is not None
        assert (record.status, record.attempts) == (EventStatus.DONE, 2)
        assert [(o.handler, o.attempt, o.error) for o in record.outcomes] == [
            ("h.a", 1, None),
            ("h.b", 1, "RuntimeError: boom"),
            ("h.b", 2, None),
        ]
        assert [p.id for p in await store.next_events("c", 5)] == [second.id]

    async def test_outcomes_name_the_replica_that_ran_them(self, store: EventStore) -> None:
        await store.append(ga_events("c", 1), None)
        await store.claim_calls("one", 1, 30)
        [pending] = await store.next_events("c", 5)
        ran = replace(failed("h.a"), replica="replica-\u00e9")
        await store.finish("one", pending.seq, EventStatus.FAILED, [ran, ok("h.b")])
        [again] = await store.next_events("c", 5)
        assert [o.replica for o in again.outcomes] == ["replica-\u00e9", None]
        record = await store.get_event(pending.id)
        assert record is not None
        assert [o.replica for o in record.outcomes] == ["replica-\u00e9", None]
        assert record.to_json()["outcomes"][0]["replica"] == "replica-\u00e9"

    async def test_next_events_honours_the_limit(self, store: EventStore) -> None:
        await store.append(ga_events("c", *range(1, 8)), None)
        assert [number(p.id) for p in await store.next_events("c", 3)] == [1, 2, 3]

    async def test_received_at_defaults_to_now(self, store: EventStore) -> None:
        before = datetime.now(UTC) - timedelta(seconds=1)
        element = ga_element("c", 1)
        await store.append(ga_events("c", 1), None)
        record = await store.get_event(str(element["id"]))
        assert record is not None
        assert before <= record.received_at <= datetime.now(UTC)
