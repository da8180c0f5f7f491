"""Logs written by earlier versions are migrated in place, for SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from callbacks.store import ReplayMode, ReplayResult, open_store
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
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SQLITE_VERSION == 4


@needs_postgres
async def test_a_postgres_log_from_before_replays_is_upgraded() -> None:
    async with fresh_schema() as schema:
        url = with_options(POSTGRES_URL, schema=schema)
        async with open_store(url) as store:
            await store.append(ga_events("c", 1, 2), "ctx")
        async with admin() as conn:
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
        assert POSTGRES_VERSION == 3
