"""The shared event log: PostgreSQL, for any number of replicas on one database.

Appends go through group commit (:mod:`~callbacks.store.postgres.writer`): one statement per
batch, de-duplicated by the unique ``identity``. Claims are rows of ``callbacks_lanes``, taken
with ``FOR UPDATE SKIP LOCKED`` so replicas never wait on each other, leased by the database's
clock, and fenced on every ``finish`` (see docs/replicas.md). Connections, timeouts and error
mapping are :mod:`~callbacks.store.postgres.connections`'s; reprs show the URL without its password.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from callbacks.events.base import Event
from callbacks.store.base import (
    Claim,
    ClaimLost,
    EventStatus,
    EventStore,
    Outcome,
    PendingEvent,
    Receipt,
    StoreError,
)
from callbacks.store.postgres import sql as q
from callbacks.store.postgres.calls import PostgresCalls
from callbacks.store.postgres.connections import Conn, Database
from callbacks.store.postgres.notify import CHANNEL, WorkListener
from callbacks.store.postgres.queries import PostgresQueries
from callbacks.store.postgres.replays import PostgresReplays
from callbacks.store.postgres.requests import PostgresRequests
from callbacks.store.postgres.url import parse_postgres_url
from callbacks.store.postgres.writer import BatchRejected, GroupCommit, Row


class PostgresStore(
    PostgresQueries, PostgresReplays, PostgresRequests, PostgresCalls, EventStore
):
    """The event log in a PostgreSQL database, shared by every replica that uses the URL."""

    def __init__(self, url: str) -> None:
        self._db = Database(parse_postgres_url(url))
        self._payload = self._db.config.schema or ""
        self._writer: GroupCommit | None = None
        self._subscribers: list[Callable[[], object]] = []
        self._listener: WorkListener | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresStore({self.url!r})"

    @property
    def url(self) -> str:
        """The log's URL without its password."""
        return self._db.config.display

    @property
    def commits(self) -> int:
        """Write transactions committed since open (appends share them)."""
        return self._db.commits + (self._writer.commits if self._writer is not None else 0)

    @property
    def listener(self) -> WorkListener | None:
        """The LISTEN connection's keeper, once :meth:`on_new_work` has a subscriber."""
        return self._listener

    # -- life cycle --

    async def open(self) -> None:
        """Connect and create or migrate the schema as :attr:`open_policy` allows (once, even
        with replicas starting together)."""
        if self._closed:
            raise StoreError("the event log is closed")
        if self._writer is not None:
            return
        self.migrations_applied = await self._db.open(self.open_policy)
        self._writer = GroupCommit(self._commit)
        self._writer.start()
        if self._subscribers:
            self._start_listener()

    async def close(self) -> None:
        """Commit what is queued, stop listening, close the pools."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            await self._writer.close()
        if self._listener is not None:
            await self._listener.stop()
        await self._db.close()

    async def ready(self) -> bool:
        """Open, the last commit of appends successful (after a failure: a transaction of its
        own, see :meth:`CommitQueue.recheck`), and the database answering on the ingest
        connection."""
        if self._writer is None or not self._writer.running:
            return False
        if not await self._writer.recheck(self._touch):
            return False
        return await self._db.ping()

    async def _touch(self) -> None:
        """Commit a transaction that writes (an id assigned is a commit record in the WAL)."""

        async def touch(conn: Conn) -> object:
            return await conn.fetchval("SELECT txid_current()")

        await self._db.run(touch, ingest=True)

    def on_new_work(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` on the loop whenever any process logs new work in this log.

        Uses LISTEN/NOTIFY on a connection of its own, reconnected after outages (and then
        called once, for what was missed). Optional: polling finds the same work later.
        """
        self._subscribers.append(callback)
        if self._writer is not None and not self._closed:
            self._start_listener()

    def _start_listener(self) -> None:
        if self._listener is None:
            self._listener = WorkListener(self._db.connect, self._payload, self._subscribers)
            self._listener.start()


    # -- ingest --

    def stored_text(self, value: str) -> str:
        """``value`` as this log stores it: NUL and lone surrogates mapped
        (:func:`~callbacks.store.postgres.sql.text`)."""
        return q.text(value)

    async def append(
        self,
        events: Sequence[Event],
        path_context: str | None,
        *,
        received_at: datetime | None = None,
    ) -> Receipt:
        """Insert the new events in the next shared transaction; return after its commit."""
        if self._writer is None:
            raise StoreError("the event log is not open")
        if not events:
            return Receipt(0, 0)
        received = q.event_time(received_at) or datetime.now(UTC)
        context = q.maybe_text(path_context)
        rows: list[Row] = [
            (
                q.text(e.identity),
                q.text(e.type),
                q.text(e.full_type),
                str(e.dialect),
                q.lane_of(e.call_id),
                q.maybe_text(e.call_id),
                q.maybe_text(e.operation_context),
                q.bigint(e.sequence),
                q.event_time(e.time),
                received,
                context,
                e.raw,
            )
            for e in events
        ]
        return await self._writer.append(rows)

    async def _commit(self, rows: Sequence[Row]) -> set[str]:
        """One statement (one transaction) inserting ``rows``; the identities that were new."""
        columns: list[list[Any]] = [list(column) for column in zip(*rows, strict=True)]

        async def insert(conn: Conn) -> set[str]:
            records = await conn.fetch(q.APPEND, *columns, CHANNEL, self._payload)
            return {record["identity"] for record in records}

        return await self._db.run(insert, ingest=True, rejected=BatchRejected)

    # -- claims --

    async def recover(self, owner: str) -> int:
        """Release what an earlier run under ``owner`` held (it died without releasing)."""
        return await self.release_all(owner)

    async def claim_calls(self, owner: str, limit: int, lease: float) -> list[Claim]:
        """Lease up to ``limit`` calls with runnable work to ``owner``, oldest work first."""
        if limit <= 0:
            return []

        async def claim(conn: Conn) -> list[Claim]:
            rows = await conn.fetch(q.CLAIM, owner, limit, float(lease))
            rows = sorted(rows, key=lambda row: int(row["ticket"]))
            return [
                Claim(row["call_id"], owner, row["expires_at"],
                      row["previous"] if row["previous"] not in (None, owner) else None)
                for row in rows
            ]

        return await self._db.run(claim, write=True)

    async def renew(
        self, owner: str, call_ids: Sequence[str | None], lease: float
    ) -> list[str | None]:
        """Extend ``owner``'s leases; return the calls it no longer holds."""
        if not call_ids:
            return []
        lanes = sorted({q.lane_of(call) for call in call_ids})

        async def renew(conn: Conn) -> set[str]:
            return {row["lane"] for row in await conn.fetch(q.RENEW, lanes, owner, float(lease))}

        held = await self._db.run(renew, write=True, idempotent=True)
        return [call for call in call_ids if q.lane_of(call) not in held]

    async def next_events(self, call_id: str | None, limit: int) -> list[PendingEvent]:
        """The call's unfinished events in seq order, with earlier outcomes."""

        async def select(conn: Conn) -> list[PendingEvent]:
            rows = await conn.fetch(q.NEXT_EVENTS, q.lane_of(call_id), limit)
            return [q.pending_event(row) for row in rows]

        return await self._db.run(select, idempotent=True)

    async def finish(
        self, owner: str, seq: int, status: EventStatus, outcomes: Sequence[Outcome]
    ) -> None:
        """Set the event's status and add its outcomes, if ``owner`` still holds its call."""
        status_value = EventStatus(status).value
        columns = (
            [q.text(o.handler) for o in outcomes],
            [o.attempt for o in outcomes],
            [q.maybe_text(o.error) for o in outcomes],
            [float(o.duration) for o in outcomes],
            [q.event_time(o.finished_at) for o in outcomes],
            [q.maybe_text(o.replica) for o in outcomes],
        )

        async def finish(conn: Conn) -> int:
            return int(await conn.fetchval(q.FINISH, seq, owner, status_value, *columns))

        if await self._db.run(finish, write=True) == 0:
            raise ClaimLost(f"event {seq} is gone or its call is no longer held by {owner}")

    async def release(
        self, owner: str, call_id: str | None, *, not_before: float | None = None
    ) -> bool:
        """Give the call back; whether it still has unfinished events."""
        lane = q.lane_of(call_id)

        async def release(conn: Conn) -> bool:
            released = await conn.fetchrow(q.RELEASE_ONE, lane, owner, not_before)
            if released is None:  # not ours (any more): say what is there all the same
                return bool(await conn.fetchval(q.LANE_READY, lane))
            return bool(released["has_work"])

        # Twice is harmless: the second finds the call no longer ours and says what is there.
        return await self._db.run(release, write=True, idempotent=True)

    async def release_all(self, owner: str) -> int:
        """Give back every call ``owner`` holds."""

        async def release(conn: Conn) -> int:
            return int(await conn.fetchval(q.RELEASE_ALL, owner))

        return await self._db.run(release, write=True, idempotent=True)
