"""The PostgreSQL log's schema and its versioned migrations, applied once by whichever replica
starts first.

Tables (prefixed, so the log can share a schema with other applications):

- ``callbacks_events``: the log. ``seq`` (an identity column) is the arrival order and is never
  reused; ``identity`` is unique, which is what de-duplicates, across requests and replicas.
- ``callbacks_outcomes``: one row per handler run (naming the replica that ran it), deleted
  with its event.
- ``callbacks_lanes``: one row per lane (a call; lane ``''`` holds the events outside any
  call): whether it has unfinished events, its place in the queue (``ticket``, from a
  sequence, so "oldest work first" needs no clock), who holds it until when (epoch seconds of
  the database's clock) and the end of its backoff.
- ``callbacks_replays``: one row per replay run of an event (``callbacks replay``), beside its
  outcomes, deleted with the event.
- ``callbacks_requests``: one row per REST request of a handler run, deleted with its event.
- ``callbacks_schema_migrations``: one row per applied migration.
- ``callbacks_release()``: gives lanes back (a function, for one round trip).

Migrations run in one transaction under a transaction-level advisory lock: replicas starting
together queue on the lock, and each one after the first finds nothing left to do.
"""

from __future__ import annotations

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from callbacks.store.base import LogMissing, OpenPolicy, StoreError

UNFINISHED_SQL = "status IN ('pending', 'failed')"
"""Written exactly like the partial index's condition, so the planner can use that index."""

_RELEASE_FUNCTION = f"""CREATE FUNCTION callbacks_release(
    only_lanes text[], holder text, wait_until double precision
) RETURNS TABLE (released text, has_work boolean) LANGUAGE plpgsql AS $$
BEGIN
    -- Lock first, look second: each statement of a function takes a new snapshot, so the
    -- second one sees every event committed by whoever held these rows before we locked them
    -- (an append that woke the lane meanwhile), and "has work" cannot miss it.
    PERFORM 1 FROM callbacks_lanes AS l
    WHERE l.owner = holder AND (only_lanes IS NULL OR l.lane = ANY(only_lanes))
    ORDER BY l.lane FOR UPDATE;
    RETURN QUERY
    UPDATE callbacks_lanes AS l
    SET owner = NULL, expires_at = NULL, not_before = wait_until,
        ticket = nextval('callbacks_lane_ticket'),
        ready = EXISTS (SELECT 1 FROM callbacks_events AS e
                        WHERE e.lane = l.lane AND e.{UNFINISHED_SQL})
    WHERE l.owner = holder AND (only_lanes IS NULL OR l.lane = ANY(only_lanes))
    RETURNING l.lane, l.ready;
END $$"""
"""Gives lanes back in one round trip; see the comment inside for why it is two statements."""

MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "events, outcomes and lanes",
        (
            """CREATE TABLE callbacks_events (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                identity TEXT NOT NULL UNIQUE,
                type TEXT NOT NULL,
                full_type TEXT NOT NULL,
                dialect TEXT NOT NULL,
                lane TEXT NOT NULL,
                call_id TEXT,
                operation_context TEXT,
                sequence BIGINT,
                event_time TIMESTAMPTZ,
                received_at TIMESTAMPTZ NOT NULL,
                path_context TEXT,
                status TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'done', 'failed', 'dead')),
                attempts INTEGER NOT NULL DEFAULT 0,
                raw BYTEA NOT NULL
            )""",
            "CREATE INDEX callbacks_events_lane ON callbacks_events (lane, seq)",
            "CREATE INDEX callbacks_events_unfinished ON callbacks_events (lane, seq)"
            f" WHERE {UNFINISHED_SQL}",
            "CREATE INDEX callbacks_events_received ON callbacks_events (received_at)",
            """CREATE TABLE callbacks_outcomes (
                seq BIGINT NOT NULL REFERENCES callbacks_events (seq) ON DELETE CASCADE,
                handler TEXT NOT NULL,
                attempt INTEGER NOT NULL,
                error TEXT,
                duration DOUBLE PRECISION NOT NULL,
                finished_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (seq, handler, attempt)
            )""",
            "CREATE SEQUENCE callbacks_lane_ticket",
            """CREATE TABLE callbacks_lanes (
                lane TEXT PRIMARY KEY,
                call_id TEXT,
                ready BOOLEAN NOT NULL,
                ticket BIGINT NOT NULL,
                owner TEXT,
                expires_at DOUBLE PRECISION,
                not_before DOUBLE PRECISION
            )""",
            "CREATE INDEX callbacks_lanes_queue ON callbacks_lanes (ticket) WHERE ready",
            "CREATE INDEX callbacks_lanes_owner ON callbacks_lanes (owner) WHERE owner IS NOT NULL",
            _RELEASE_FUNCTION,
        ),
    ),
    (
        "replay runs",
        (
            """CREATE TABLE callbacks_replays (
                seq BIGINT NOT NULL REFERENCES callbacks_events (seq) ON DELETE CASCADE,
                run_id TEXT NOT NULL,
                mode TEXT NOT NULL,
                target TEXT,
                replayed_at TIMESTAMPTZ NOT NULL,
                outcomes TEXT NOT NULL,
                requests TEXT NOT NULL,
                PRIMARY KEY (seq, run_id)
            )""",
        ),
    ),
    (
        "REST requests of handler runs",
        (
            """CREATE TABLE callbacks_requests (
                seq BIGINT NOT NULL REFERENCES callbacks_events (seq) ON DELETE CASCADE,
                handler TEXT NOT NULL,
                idx INTEGER NOT NULL,
                attempt INTEGER NOT NULL,
                operation TEXT NOT NULL,
                method TEXT NOT NULL,
                path TEXT NOT NULL,
                body_hash TEXT NOT NULL,
                status INTEGER,
                duration DOUBLE PRECISION NOT NULL,
                sent_at TIMESTAMPTZ NOT NULL,
                repeatability_id TEXT,
                error_code TEXT,
                answer BYTEA,
                replica TEXT,
                PRIMARY KEY (seq, handler, idx, attempt)
            )""",
        ),
    ),
    (
        # Dead and failed events are few, and an event is appended pending: neither index costs
        # the receiver anything (the console's dead list, `calls list --status`).
        "outcomes name their replica; dead and failed events indexed",
        (
            "ALTER TABLE callbacks_outcomes ADD COLUMN replica TEXT",
            "CREATE INDEX callbacks_events_dead ON callbacks_events (seq) WHERE status = 'dead'",
            "CREATE INDEX callbacks_events_failed ON callbacks_events (seq)"
            " WHERE status = 'failed'",
        ),
    ),
)
"""Migration n (1-based) is recorded as version n; append, never edit, once released."""

SCHEMA_VERSION = len(MIGRATIONS)

_LOCK = "SELECT pg_advisory_xact_lock(hashtext('acs-callbacks migrations ' || $1))"
_LEDGER = """CREATE TABLE IF NOT EXISTS callbacks_schema_migrations (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""


def _newer(version: int) -> StoreError:
    return StoreError(
        f"the event log has schema version {version}, newer than this program's "
        f"{SCHEMA_VERSION}: upgrade acs-callbacks"
    )


async def schema_version(
    conn: PoolConnectionProxy[asyncpg.Record], schema: str | None, policy: OpenPolicy, where: str
) -> int:
    """The log's schema version, only read (no lock, no DDL); refused as ``policy`` says."""
    if schema is not None and not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema
    ):
        raise LogMissing(f"no event log at {where}: the database has no schema {schema}")
    if await conn.fetchval("SELECT to_regclass('callbacks_schema_migrations')") is None:
        raise LogMissing(f"no event log at {where}: its schema holds no callbacks tables")
    version = int(await conn.fetchval(
        "SELECT coalesce(max(version), 0) FROM callbacks_schema_migrations"
    ))
    if version > SCHEMA_VERSION:
        raise _newer(version)
    if version < SCHEMA_VERSION and not policy.migrate:
        raise policy.outdated(where, version, SCHEMA_VERSION)
    return version


async def migrate(conn: PoolConnectionProxy[asyncpg.Record], schema: str | None) -> int:
    """Create ``schema`` if needed and apply the missing migrations; how many were applied."""
    async with conn.transaction():
        await conn.execute(_LOCK, schema or "")
        if schema is not None:
            # Validated as a plain lower-case identifier by the URL parser: safe to inline.
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        if await conn.fetchval("SELECT current_schema()") is None:
            raise StoreError(
                "the event log has no schema to create its tables in: "
                "add ?schema=NAME to the URL or fix the role's search_path"
            )
        await conn.execute(_LEDGER)
        current = await conn.fetchval(
            "SELECT coalesce(max(version), 0) FROM callbacks_schema_migrations"
        )
        if current > SCHEMA_VERSION:
            raise _newer(current)
        for version, (description, statements) in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            for statement in statements:
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO callbacks_schema_migrations (version, description) VALUES ($1, $2)",
                version,
                description,
            )
        return SCHEMA_VERSION - int(current)
