"""Logs written by earlier versions are migrated in place, for SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from callbacks.store import (
    EventFilter,
    EventStatus,
    EventStore,
    Outcome,
    ReplayMode,
    ReplayResult,
    open_store,
)
from callbacks.store.postgres.schema import SCHEMA_VERSION as POSTGRES_VERSION
from callbacks.store.sqlite.schema import SCHEMA_VERSION as SQLITE_VERSION
from tests.support.log_bodies import ga_events
from tests.support.postgres import POSTGRES_URL, admin, fresh_schema, needs_postgres, with_options
from tests.support.store_contract import ok


def replay_of(event_id: str) -> ReplayResult:
    return ReplayResult("run-1", event_id, ReplayMode.DRY_RUN, datetime.now(UTC), (ok("h"),))


async def test_a_sqlite_log_from_before_replays_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    async with open_store(f"sqlite:///{path}") as store:
        await store.append(ga_events("c", 1, 2), "ctx")
    with sqlite3.connect(path) as conn:  # as the first release left it
        conn.execute("DROP INDEX events_dead")
        conn.execute("DROP INDEX events_failed")
        conn.execute("ALTER TABLE outcomes DROP COLUMN replica")
        conn.execute("DROP TRIGGER events_pruned_requests")
        conn.execute("DROP TABLE requests")
        conn.execute("DROP TRIGGER events_pruned_replays")
        conn.execute("DROP TABLE replays")
        conn.execute("DROP INDEX events_finished")
        conn.execute("CREATE INDEX events_by_lane ON events(lane, seq)")
        conn.execute("PRAGMA user_version = 1")
    async with open_store(f"sqlite:///{path}") as store:
        assert [r.id async for r in store.list_events()] == ["c/1", "c/2"]
        assert await store.record_replays([replay_of("c/1")]) == 1
        assert len(await store.replay_outcomes("c/1")) == 1
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SQLITE_VERSION == 5


@needs_postgres
async def test_a_postgres_log_from_before_replays_is_upgraded() -> None:
    async with fresh_schema() as schema:
        url = with_options(POSTGRES_URL, schema=schema)
        async with open_store(url) as store:
            await store.append(ga_events("c", 1, 2), "ctx")
        async with admin() as conn:
            await conn.execute(f"DROP INDEX {schema}.callbacks_events_dead")
            await conn.execute(f"DROP INDEX {schema}.callbacks_events_failed")
            await conn.execute(f"ALTER TABLE {schema}.callbacks_outcomes DROP COLUMN replica")
            await conn.execute(f"DROP TABLE {schema}.callbacks_requests")
            await conn.execute(f"DROP TABLE {schema}.callbacks_replays")
            await conn.execute(
                f"DELETE FROM {schema}.callbacks_schema_migrations WHERE version >= 2"
            )
        async with open_store(url) as store:
            assert [r.id async for r in store.list_events()] == ["c/1", "c/2"]
            assert await store.record_replays([replay_of("c/2")]) == 1
            assert [r.run_id for r in await store.replay_outcomes("c/2")] == ["run-1"]
        async with admin() as conn:
            versions = await conn.fetch(
                f"SELECT version FROM {schema}.callbacks_schema_migrations ORDER BY version"
            )
        assert [v["version"] for v in versions] == list(range(1, POSTGRES_VERSION + 1))
        assert POSTGRES_VERSION == 4


async def _finish_one(store: EventStore, call: str, seq: int, outcome: Outcome) -> None:
    [claim] = await store.claim_calls("replica-b", 1, 30)
    assert claim.call_id == call
    await store.finish("replica-b", seq, EventStatus.DEAD, [outcome])
    await store.release("replica-b", call)


async def test_a_sqlite_log_of_version_4_gets_replicas_and_the_dead_index(tmp_path: Path) -> None:
    """A log as version 4 left it: its outcomes name no replica, later ones do; its dead events
    are found through the new index."""
    path = tmp_path / "v4.db"
    async with open_store(f"sqlite:///{path}") as store:
        await store.append(ga_events("c", 1, 2), None)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX events_dead")
        conn.execute("DROP INDEX events_failed")
        conn.execute("ALTER TABLE outcomes DROP COLUMN replica")
        conn.execute("INSERT INTO outcomes VALUES (1, 'h', 1, NULL, 0.01, '2024-01-01T00:00:00')")
        conn.execute("UPDATE events SET status = 'done' WHERE seq = 1")
        conn.execute("PRAGMA user_version = 4")
    async with open_store(f"sqlite:///{path}") as store:
        old = await store.get_event("c/1")
        assert old is not None and [o.replica for o in old.outcomes] == [None]
        await _finish_one(store, "c", 2, replace(ok("h"), replica="replica-b", error="boom"))
        new = await store.get_event("c/2")
        assert new is not None and [o.replica for o in new.outcomes] == ["replica-b"]
        assert [r.id async for r in store.list_events(EventFilter(status=EventStatus.DEAD))] == [
            "c/2"
        ]
    with sqlite3.connect(path) as conn:
        plan = " ".join(row[-1] for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT seq FROM events WHERE status = 'dead' ORDER BY seq DESC"
        ))
        assert "events_dead" in plan


@needs_postgres
async def test_a_postgres_log_of_version_3_gets_replicas_and_the_dead_index() -> None:
    async with fresh_schema() as schema:
        url = with_options(POSTGRES_URL, schema=schema)
        async with open_store(url) as store:
            await store.append(ga_events("c", 1, 2), None)
            await _finish_one(store, "c", 1, ok("h"))
        async with admin() as conn:
            await conn.execute(f"DROP INDEX {schema}.callbacks_events_dead")
            await conn.execute(f"DROP INDEX {schema}.callbacks_events_failed")
            await conn.execute(f"ALTER TABLE {schema}.callbacks_outcomes DROP COLUMN replica")
            await conn.execute(
                f"DELETE FROM {schema}.callbacks_schema_migrations WHERE version >= 4"
            )
        async with open_store(url) as store:
            old = await store.get_event("c/1")
            assert old is not None and [o.replica for o in old.outcomes] == [None]
            await _finish_one(store, "c", 2, replace(ok("h"), replica="replica-b", error="x"))
            new = await store.get_event("c/2")
            assert new is not None and [o.replica for o in new.outcomes] == ["replica-b"]
        async with admin() as conn:
            indexes = {row[0] for row in await conn.fetch(
                "SELECT indexname FROM pg_indexes WHERE schemaname = $1", schema
            )}
            assert {"callbacks_events_dead", "callbacks_events_failed"} <= indexes
