"""The PostgreSQL event log: the whole store contract on a real server, then what replicas
rely on: migrations applied once, group commit, claims shared by competing owners, fencing.

Each test gets a schema of its own (``?schema=``), dropped afterwards.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import pytest

from callbacks.events import parse_events
from callbacks.store import ClaimLost, EventStatus, EventStore, StoreError, open_store
from callbacks.store.postgres.schema import SCHEMA_VERSION
from tests.support.log_bodies import ga_element, ga_events
from tests.support.postgres import POSTGRES_URL, admin, fresh_schema, needs_postgres, with_options
from tests.support.store_contract import StoreContract, ok
from tests.support.store_contract_calls import StoreCallsContract
from tests.support.store_contract_queries import StoreQueriesContract
from tests.support.store_contract_replays import StoreReplaysContract
from tests.support.store_contract_requests import StoreRequestsContract

pytestmark = needs_postgres
MakeStore = Callable[[], EventStore]


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema() as name:
        yield name


@pytest.fixture
def make_store(schema: str) -> MakeStore:
    url = with_options(POSTGRES_URL, schema=schema)
    return lambda: open_store(url)


class TestPostgresStore(StoreContract, StoreQueriesContract, StoreReplaysContract,
                      StoreRequestsContract, StoreCallsContract):
    """The whole contract against PostgreSQL."""


async def test_migrations_apply_once_when_replicas_start_together(
    schema: str, make_store: MakeStore
) -> None:
    stores = [make_store() for _ in range(4)]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        await asyncio.gather(*(s.append(ga_events(f"c{i}", 1), None) for i, s in enumerate(stores)))
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    async with admin() as conn:
        rows = await conn.fetch(f"SELECT version FROM {schema}.callbacks_schema_migrations")
        assert [r["version"] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
        assert await conn.fetchval(f"SELECT count(*) FROM {schema}.callbacks_events") == 4


async def test_a_newer_schema_is_refused(schema: str, make_store: MakeStore) -> None:
    async with make_store():
        pass
    async with admin() as conn:
        await conn.execute(
            f"INSERT INTO {schema}.callbacks_schema_migrations VALUES (999, 'future', now())"
        )
    store = make_store()
    with pytest.raises(StoreError, match="newer"):
        await store.open()
    assert not await store.ready()


async def test_group_commit_shares_transactions_and_dedups_across_requests(
    schema: str, make_store: MakeStore
) -> None:
    async with make_store() as store:
        shared = ga_events("shared", 1)
        requests = [ga_events(f"c{i}", 1, 2, 2) + shared for i in range(50)]
        before = store.commits
        receipts = await asyncio.gather(*(store.append(r, None) for r in requests))
        commits = store.commits - before
    assert sum(r.accepted for r in receipts) == 101  # 2 per call + the shared event once
    assert sum(r.duplicates for r in receipts) == 50 + 49
    assert 1 <= commits < 25
    async with admin() as conn:
        transactions = await conn.fetchval(
            f"SELECT count(DISTINCT xmin::text) FROM {schema}.callbacks_events"
        )
        ready = await conn.fetchval(f"SELECT count(*) FROM {schema}.callbacks_lanes WHERE ready")
    assert transactions == commits  # the rows really share transactions
    assert ready == 51


async def test_a_refused_request_does_not_fail_the_requests_it_shared_a_commit_with(
    schema: str, make_store: MakeStore
) -> None:
    async with make_store() as store:
        async with admin() as conn:
            await conn.execute(f"""
                CREATE FUNCTION {schema}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'poison'; END $$;
                CREATE TRIGGER refuse BEFORE INSERT ON {schema}.callbacks_events
                FOR EACH ROW WHEN (NEW.identity = 'poison/1') EXECUTE FUNCTION {schema}.refuse();
            """)
        results = await asyncio.gather(
            *(store.append(ga_events(f"good{i}", 1), None) for i in range(5)),
            store.append(ga_events("poison", 1), None),
            return_exceptions=True,
        )
        assert [type(r).__name__ for r in results[:5]] == ["Receipt"] * 5
        assert isinstance(results[5], StoreError)
        assert (await store.stats()).total == 5


async def test_text_with_nul_characters_is_stored(make_store: MakeStore) -> None:
    element = ga_element("call\u0000x", 1, operation_context="menu\u0000")
    element["id"] = "nul\u0000id"
    [event] = parse_events(json.dumps(element).encode())
    async with make_store() as store:
        assert (await store.append([event], "ctx\u0000", received_at=None)).accepted == 1
        assert (await store.append([event], None)).duplicates == 1
        record = await store.get_event("nul\u0000id")
        assert record is not None
        assert record.raw == event.raw
        assert record.operation_context == "menu\ufffd"
        assert store.stored_text("call\u0000x") == record.call_id == "call\ufffdx"


async def test_competing_owners_never_hold_a_call_together(make_store: MakeStore) -> None:
    calls = [f"call{i}" for i in range(24)]
    holders: dict[str | None, str] = {}
    handled: list[tuple[str, str]] = []
    violations: list[str] = []

    async def owner(name: str, store: EventStore) -> None:
        idle = 0
        while idle < 5:
            claims = await store.claim_calls(name, 4, 30)
            idle = 0 if claims else idle + 1
            for claim in claims:
                if claim.call_id in holders:
                    violations.append(f"{claim.call_id}: {holders[claim.call_id]} and {name}")
                holders[claim.call_id] = name
            for claim in claims:
                for item in await store.next_events(claim.call_id, 10):
                    await asyncio.sleep(0)  # let the other owner try to take it meanwhile
                    await store.finish(name, item.seq, EventStatus.DONE, [ok("h")])
                    handled.append((item.id, name))
                del holders[claim.call_id]
                await store.release(name, claim.call_id)
            await asyncio.sleep(0.005)

    async with make_store() as one, make_store() as two:
        for call in calls:
            await one.append(ga_events(call, 1, 2, 3), None)
        await asyncio.gather(owner("one", one), owner("two", two))
        assert violations == []
        assert sorted(i for i, _ in handled) == sorted(f"{c}/{n}" for c in calls for n in (1, 2, 3))
        assert {name for _, name in handled} == {"one", "two"}  # the calls spread across owners
        assert (await one.stats()).by_status == {"done": 72}


async def test_a_dead_replicas_calls_are_taken_over_after_the_lease(
    make_store: MakeStore,
) -> None:
    async with make_store() as dying, make_store() as heir:
        await dying.append(ga_events("c", 1, 2), None)
        [claim] = await dying.claim_calls("replica-a", 5, 0.5)
        assert await heir.claim_calls("replica-b", 5, 30) == []  # held while the lease runs
        first = (await dying.next_events("c", 5))[0]
        await dying.finish("replica-a", first.seq, EventStatus.DONE, [ok("h")])
        await asyncio.sleep(0.6)  # replica-a stops renewing: it died
        [taken] = await heir.claim_calls("replica-b", 5, 30)
        assert (taken.call_id, taken.owner) == ("c", "replica-b")
        assert taken.expires_at > claim.expires_at
        [second] = await heir.next_events("c", 5)
        assert second.id == "c/2"

        with pytest.raises(ClaimLost):  # replica-a wakes up: it may record nothing more
            await dying.finish("replica-a", second.seq, EventStatus.FAILED, [ok("late")])
        assert await dying.renew("replica-a", ["c"], 30) == ["c"]
        assert await dying.release("replica-a", "c") is True  # a no-op for a lost claim
        record = await heir.get_event("c/2")
        assert record is not None
        assert (record.status, record.outcomes) == (EventStatus.PENDING, ())
        await heir.finish("replica-b", second.seq, EventStatus.DONE, [ok("h")])
        assert await heir.release("replica-b", "c") is False


async def test_finish_waits_out_a_takeover_in_progress_then_is_fenced(
    schema: str, make_store: MakeStore
) -> None:
    async with make_store() as store:
        await store.append(ga_events("c", 1), None)
        await store.claim_calls("old", 1, 30)
        [item] = await store.next_events("c", 1)
        async with admin() as conn, conn.transaction():
            # Another replica is taking the call over right now: its row lock is held.
            await conn.execute(
                f"UPDATE {schema}.callbacks_lanes SET owner = 'new' WHERE lane = 'c'"
            )
            finishing = asyncio.create_task(
                store.finish("old", item.seq, EventStatus.DONE, [ok("h")])
            )
            await asyncio.sleep(0.2)
            assert not finishing.done()  # it waits for the takeover to settle
        with pytest.raises(ClaimLost):
            await finishing
        record = await store.get_event("c/1")
        assert record is not None and record.outcomes == ()


async def test_release_sees_an_append_that_committed_while_it_waited(
    schema: str, make_store: MakeStore
) -> None:
    async with make_store() as store:
        await store.append(ga_events("c", 1), None)
        await store.claim_calls("o", 1, 30)
        [item] = await store.next_events("c", 1)
        await store.finish("o", item.seq, EventStatus.DONE, [ok("h")])
        async with admin() as conn:
            appending = conn.transaction()
            await appending.start()
            # Another replica's append, caught between logging c/2 and committing.
            await conn.execute(
                f"INSERT INTO {schema}.callbacks_events (identity, type, full_type, dialect,"
                " lane, call_id, received_at, raw) VALUES"
                " ('c/2', 'PlayCompleted', 'x', 'ga', 'c', 'c', now(), '{}')"
            )
            await conn.execute(
                f"UPDATE {schema}.callbacks_lanes SET ready = true WHERE lane = 'c'"
            )
            releasing = asyncio.create_task(store.release("o", "c"))
            await asyncio.sleep(0.2)
            assert not releasing.done()
            await appending.commit()
        assert await releasing is True  # so the call is claimed again, not forgotten
        [claim] = await store.claim_calls("o", 1, 30)
        assert [p.id for p in await store.next_events(claim.call_id, 5)] == ["c/2"]
