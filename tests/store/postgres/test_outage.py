"""The PostgreSQL log when the database goes away: readiness, prompt failures, no false acks,
recovery without reopening; and wake-ups across replicas with LISTEN/NOTIFY.

Outages are simulated with a TCP proxy in front of the real server (refusing, or accepting
and never answering), and by terminating the store's server processes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from callbacks.dispatch.dispatcher import DispatchConfig, Dispatcher
from callbacks.events import Event
from callbacks.routing import Router
from callbacks.server.intake import IntakeUnavailable
from callbacks.store import EventStatus, StoreError, open_store
from callbacks.store.postgres.store import PostgresStore
from tests.support.dispatch import context
from tests.support.log_bodies import ga_events
from tests.support.postgres import (
    POSTGRES_URL,
    TcpProxy,
    admin,
    fresh_schema,
    needs_postgres,
    with_options,
)
from tests.support.store_contract import failed

pytestmark = needs_postgres


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema() as name:
        yield name


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy.to(POSTGRES_URL)
    await proxy.start()
    yield proxy
    await proxy.close()


def proxied(proxy: TcpProxy, schema: str, timeout: float = 1.0) -> PostgresStore:
    """A store that reaches the database through ``proxy``."""
    url = with_options(POSTGRES_URL, netloc=proxy.netloc, schema=schema, timeout=timeout)
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    return store


async def test_unreachable_database_not_ready_and_appends_fail_fast_then_recovery(
    proxy: TcpProxy, schema: str
) -> None:
    async with proxied(proxy, schema) as store:
        assert await store.ready()
        assert (await store.append(ga_events("c", 1), None)).accepted == 1
        await proxy.cut()
        started = time.monotonic()
        assert not await store.ready()
        results = await asyncio.gather(
            *(store.append(ga_events("c", n), None) for n in range(2, 7)), return_exceptions=True
        )
        assert all(isinstance(r, StoreError) for r in results), results
        assert "unavailable" in str(results[0])
        with pytest.raises(StoreError):
            await store.claim_calls("o", 5, 30)
        assert time.monotonic() - started < 1.0  # refused at once, no hang

        await proxy.restore()
        assert await store.ready()  # the same store, not reopened
        assert (await store.append(ga_events("c", 2), None)).accepted == 1
        [claim] = await store.claim_calls("o", 5, 30)
        assert [p.id for p in await store.next_events(claim.call_id, 9)] == ["c/1", "c/2"]


async def test_a_database_that_stops_answering_fails_within_the_timeout(
    proxy: TcpProxy, schema: str
) -> None:
    async with proxied(proxy, schema, timeout=0.5) as store:
        await store.append(ga_events("c", 1), None)
        proxy.black_hole()
        started = time.monotonic()
        assert not await store.ready()
        with pytest.raises(StoreError, match=r"no answer within 0\.5 s"):
            await store.append(ga_events("c", 2), None)
        assert time.monotonic() - started < 2.0
        await proxy.restore()
        assert await store.ready()
        assert (await store.append(ga_events("c", 2), None)).accepted == 1


async def test_appends_acked_across_an_outage_are_all_in_the_log(
    proxy: TcpProxy, schema: str
) -> None:
    acked: list[str] = []
    refused: list[str] = []

    async def poster(worker: int) -> None:
        for n in range(1, 41):
            try:
                await store.append(ga_events(f"w{worker}", n), None)
            except StoreError:
                refused.append(f"w{worker}/{n}")
            else:
                acked.append(f"w{worker}/{n}")
            await asyncio.sleep(0.01)

    async with proxied(proxy, schema) as store:
        posters = asyncio.gather(*(poster(w) for w in range(4)))
        await asyncio.sleep(0.1)
        await proxy.cut()
        await asyncio.sleep(0.15)
        await proxy.restore()
        await posters
    assert refused and len(acked) > 40, (len(acked), len(refused))
    async with admin() as conn:
        logged = {r[0] for r in await conn.fetch(f"SELECT identity FROM {schema}.callbacks_events")}
    assert set(acked) <= logged  # never a false ack
    assert f"w0/{40}" in acked  # the store recovered by itself


async def test_terminated_server_connections_are_replaced(schema: str) -> None:
    url = with_options(POSTGRES_URL, schema=schema, application_name=schema)
    async with open_store(url) as store:
        await store.append(ga_events("c", 1), None)
        await store.claim_calls("o", 1, 30)
        async with admin() as conn:
            killed = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = $1",
                schema,
            )
        assert killed >= 2  # the ingest connection and the main pool's
        for _ in range(20):
            if await store.ready():
                break
            await asyncio.sleep(0.05)
        assert await store.ready()
        assert (await store.append(ga_events("c", 2), None)).accepted == 1
        assert len(await store.next_events("c", 5)) == 2


async def test_new_work_wakes_other_replicas(schema: str) -> None:
    url = with_options(POSTGRES_URL, schema=schema)
    woke = asyncio.Event()
    async with open_store(url) as writer, open_store(url) as replica, fresh_schema() as other:
        assert isinstance(replica, PostgresStore)
        replica.on_new_work(woke.set)
        assert replica.listener is not None
        await asyncio.wait_for(replica.listener.connected.wait(), 5)
        woke.clear()  # the catch-up call made on connecting

        await writer.append(ga_events("c", 1), None)
        await asyncio.wait_for(woke.wait(), 2)

        woke.clear()
        await writer.append(ga_events("c", 1), None)  # a duplicate is no new work
        async with open_store(with_options(POSTGRES_URL, schema=other)) as elsewhere:
            await elsewhere.append(ga_events("c", 1), None)  # another log on the same server
        await asyncio.sleep(0.2)
        assert not woke.is_set()

        await writer.claim_calls("o", 1, 30)
        await writer.finish("o", (await writer.next_events("c", 1))[0].seq, EventStatus.DEAD,
                            [failed("h")])
        await writer.release("o", "c")
        assert await writer.retry() == 1  # e.g. `callbacks events retry` in another process
        await asyncio.wait_for(woke.wait(), 2)


async def test_the_listener_comes_back_after_an_outage(proxy: TcpProxy, schema: str) -> None:
    woke = asyncio.Event()
    replica = proxied(proxy, schema)
    async with replica, open_store(with_options(POSTGRES_URL, schema=schema)) as writer:
        replica.on_new_work(woke.set)
        listener = replica.listener
        assert listener is not None
        await asyncio.wait_for(listener.connected.wait(), 5)
        await proxy.cut()
        await asyncio.sleep(0.1)
        assert not listener.connected.is_set()
        await writer.append(ga_events("c", 1), None)  # missed: nobody was listening
        woke.clear()
        await proxy.restore()
        await asyncio.wait_for(listener.connected.wait(), 5)
        await asyncio.wait_for(woke.wait(), 1)  # the catch-up call covers what was missed
        woke.clear()
        await writer.append(ga_events("c", 2), None)
        await asyncio.wait_for(woke.wait(), 2)


async def test_backends_terminated_under_load_stall_no_call_and_lose_nothing(
    schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A terminated server process reaches an idle pooled connection a few milliseconds before
    its socket closes; meanwhile asyncpg refused operations lent that connection ("cannot
    switch to state 12; another operation (2) is in progress"), and a release refused so left
    its call claimed until the lease ran out. Such operations are now run again elsewhere."""
    lease = 30.0
    url = with_options(POSTGRES_URL, schema=schema, application_name=schema, timeout=5)
    runs: Counter[str] = Counter()
    router = Router()

    @router.on("*")
    async def handle(event: Event, ctx: object) -> None:
        runs[event.identity] += 1

    dispatcher = Dispatcher(open_store(url), router, context,
                            DispatchConfig(concurrency=16, lease=lease), owner="loaded")
    acked: set[str] = set()
    posting = True

    async def poster(worker: int) -> None:
        n = 0
        while posting:
            n += 1
            events = ga_events(f"w{worker}-{n % 4}", n)
            try:
                await dispatcher.submit(events, None)
            except IntakeUnavailable:
                await asyncio.sleep(0.01)  # as a sender would, after a 503
            else:
                acked.update(e.identity for e in events)

    with caplog.at_level(logging.WARNING):
        await dispatcher.start()
        posters = [asyncio.create_task(poster(w)) for w in range(8)]
        killed = 0
        async with admin() as conn:
            for _ in range(15):
                await asyncio.sleep(0.2)
                killed += await conn.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = $1", schema,
                )
        posting = False
        await asyncio.gather(*posters)
        stopped = time.monotonic()
        for _ in range(int(lease * 10)):
            if all(runs[i] for i in acked):
                break
            await asyncio.sleep(0.1)
        settled_in = time.monotonic() - stopped
        await dispatcher.stop()
    assert killed >= 15 and len(acked) > 100, (killed, len(acked))
    assert not [i for i in acked if not runs[i]]  # nothing acked was lost
    assert settled_in < lease / 3, settled_in  # no call waited for its lease to run out
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "cannot switch to state" in m or "cannot release" in m]
