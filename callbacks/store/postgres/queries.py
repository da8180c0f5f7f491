"""Queries and maintenance on the PostgreSQL log: list, show, history, retry, prune, stats.

Listings page through the log by ``seq`` (keyset pagination), so a listing of any size runs
in flat memory and never holds a transaction open between pages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from callbacks.store.patterns import glob_test
from callbacks.store.postgres import sql as q
from callbacks.store.postgres.connections import Conn, Database
from callbacks.store.postgres.notify import CHANNEL
from callbacks.store.records import EventFilter, EventRecord, EventStatus, Outcome, StoreStats

_PAGE = 200


class PostgresQueries:
    """The query half of :class:`~callbacks.store.postgres.store.PostgresStore`."""

    _db: Database
    _payload: str
    """The notification payload naming this log (its schema)."""

    async def list_events(
        self,
        where: EventFilter | None = None,
        *,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> AsyncIterator[EventRecord]:
        """Matching events page by page (keyset on seq), so memory stays flat."""
        where = where or EventFilter()
        clauses, params = q.filter_sql(where)
        wanted = glob_test(q.maybe_text(where.operation_context))
        order, cursor_op = ("DESC", "<") if newest_first else ("ASC", ">")
        cursor: int | None = None
        remaining = limit
        while remaining is None or remaining > 0:
            page = _PAGE if remaining is None else min(_PAGE, remaining)
            args = [*params] if cursor is None else [*params, cursor]
            conditions = clauses if cursor is None else [*clauses, f"seq {cursor_op} ${len(args)}"]
            sql = (
                f"SELECT {q.EVENT_COLUMNS} FROM callbacks_events"
                f" WHERE {' AND '.join(conditions) or 'true'}"
                f" ORDER BY seq {order} LIMIT ${len(args) + 1}"
            )
            records = await self._records(sql, [*args, page])
            for record in records:
                if wanted is None or wanted(record.operation_context):
                    yield record
                    if remaining is not None:
                        remaining -= 1
            if len(records) < page:
                return
            cursor = records[-1].seq

    async def _records(self, sql: str, args: Sequence[object]) -> list[EventRecord]:
        async def select(conn: Conn) -> list[EventRecord]:
            rows = await conn.fetch(sql, *args)
            outcomes = await _outcomes(conn, [row["seq"] for row in rows])
            return [q.event_record(row, outcomes.get(row["seq"], ())) for row in rows]

        return await self._db.run(select)

    async def get_event(self, event_id: str) -> EventRecord | None:
        """One event by identity, with every outcome."""
        records = await self._records(q.GET_EVENT, [q.text(event_id)])
        return records[0] if records else None

    async def call_history(
        self, call_id: str | None, *, before_seq: int | None = None, limit: int | None = None
    ) -> list[EventRecord]:
        """The call's events before ``before_seq`` (the latest ``limit``), oldest first."""
        records = await self._records(q.HISTORY, [q.lane_of(call_id), before_seq, limit])
        return records[::-1]

    async def retry(self, event_ids: Sequence[str] | None = None) -> int:
        """Dead -> pending (a fresh round of attempts); wake their calls, in every replica."""

        async def retry(conn: Conn) -> int:
            row = await conn.fetchrow(q.RETRY, q.identities(event_ids), CHANNEL, self._payload)
            return int(row[0]) if row is not None else 0

        return await self._db.run(retry, write=True)

    async def prune(
        self,
        before: datetime,
        statuses: Sequence[EventStatus] = (EventStatus.DONE, EventStatus.DEAD),
    ) -> int:
        """Delete finished events received before ``before`` and their outcomes."""
        wanted = {EventStatus(s) for s in statuses}
        if not wanted or not wanted <= {EventStatus.DONE, EventStatus.DEAD}:
            raise ValueError("prune deletes only finished events: statuses done and/or dead")
        cutoff = q.event_time(before)

        async def prune(conn: Conn) -> int:
            deleted = await conn.fetchval(q.PRUNE, cutoff, sorted(s.value for s in wanted))
            await conn.execute(q.PRUNE_LANES)
            return int(deleted)

        return await self._db.run(prune, write=True, transaction=True)

    async def stats(self) -> StoreStats:
        """Counts by status and type, and how many calls have work."""

        async def count(conn: Conn) -> StoreStats:
            by_status = {row[0]: row[1] for row in await conn.fetch(q.COUNT_BY_STATUS)}
            by_type = {row[0]: row[1] for row in await conn.fetch(q.COUNT_BY_TYPE)}
            calls = await conn.fetchval(q.COUNT_READY)
            return StoreStats(sum(by_status.values()), by_status, by_type, int(calls))

        return await self._db.run(count)


async def _outcomes(conn: Conn, seqs: list[int]) -> dict[int, tuple[Outcome, ...]]:
    if not seqs:
        return {}
    return q.outcomes_by_seq(await conn.fetch(q.OUTCOMES, seqs))
