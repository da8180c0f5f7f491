"""Queries and maintenance on the SQLite log: list, show, history, retry, prune, stats.

Reads page through the log by ``seq`` (keyset pagination) so a listing of any size runs in
flat memory and never holds a read transaction open between pages.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from callbacks.store.patterns import glob_test
from callbacks.store.records import (
    EventFilter,
    EventRecord,
    EventStatus,
    StoreStats,
    utf8_text,
)
from callbacks.store.sqlite.rows import (
    EVENT_COLUMNS,
    INT64,
    LANE_HAS_WORK,
    PAGE,
    event_record,
    filter_sql,
    iso,
    lane_of,
    outcomes_by_seq,
    select_events,
)
from callbacks.store.sqlite.schema import FINISHED_SQL, UNFINISHED_SQL

T = TypeVar("T")


class SQLiteQueries(ABC):
    """The query half of :class:`~callbacks.store.sqlite.store.SQLiteStore`."""

    @abstractmethod
    async def _read(self, run: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read on the reader connection."""

    @abstractmethod
    async def _write(self, run: Callable[[sqlite3.Connection], T]) -> T:
        """Run a write in the next group commit."""

    async def list_events(
        self,
        where: EventFilter | None = None,
        *,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> AsyncIterator[EventRecord]:
        """Matching events page by page (keyset on seq), so memory stays flat."""
        where = where or EventFilter()
        clauses, params = filter_sql(where)
        context = where.operation_context
        wanted = glob_test(None if context is None else utf8_text(context))
        call = None if where.call_id is None else lane_of(where.call_id)
        order, cursor_op = ("DESC", "<") if newest_first else ("ASC", ">")
        cursor: int | None = None
        remaining = limit
        while remaining is None or remaining > 0:
            page = PAGE if remaining is None else min(PAGE, remaining)
            conditions, values = clauses, params
            if cursor is not None:
                conditions, values = [*clauses, f"seq {cursor_op} ?"], [*params, cursor]
            sql, args = select_events(conditions, values, call=call, order=order, limit=page)
            records = await self._read(functools.partial(_records, sql=sql, args=args))
            for record in records:
                if wanted is None or wanted(record.operation_context):
                    yield record
                    if remaining is not None:
                        remaining -= 1
            if len(records) < page:
                return
            cursor = records[-1].seq

    async def get_event(self, event_id: str) -> EventRecord | None:
        """One event by identity, with every outcome."""
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE identity = ?"
        records = await self._read(lambda c: _records(c, sql, (utf8_text(event_id),)))
        return records[0] if records else None

    async def call_history(
        self, call_id: str | None, *, before_seq: int | None = None, limit: int | None = None
    ) -> list[EventRecord]:
        """The call's events before ``before_seq`` (the latest ``limit``), oldest first."""
        before = INT64 - 1 if before_seq is None else before_seq
        sql, args = select_events(
            ["seq < ?"], [before], call=lane_of(call_id), order="DESC", limit=limit or -1
        )
        records = await self._read(lambda c: _records(c, sql, args))
        return records[::-1]

    async def retry(self, event_ids: Sequence[str] | None = None) -> int:
        """Dead -> pending (a fresh round of attempts); wake their calls."""
        ids = None if event_ids is None else list(dict.fromkeys(map(utf8_text, event_ids)))

        def retry(conn: sqlite3.Connection) -> int:
            sql = "UPDATE events SET status = 'pending', attempts = 0 WHERE status = 'dead'"
            if ids is None:
                lanes = conn.execute(sql + " RETURNING lane").fetchall()
            else:
                lanes = []
                for start in range(0, len(ids), PAGE):
                    chunk = ids[start : start + PAGE]
                    marks = ",".join("?" * len(chunk))
                    sql_ids = f"{sql} AND identity IN ({marks}) RETURNING lane"
                    lanes += conn.execute(sql_ids, chunk).fetchall()
            now = time.time()
            conn.executemany(LANE_HAS_WORK, [(lane, now) for lane in {row[0] for row in lanes}])
            return len(lanes)

        return await self._write(retry)

    async def prune(
        self,
        before: datetime,
        statuses: Sequence[EventStatus] = (EventStatus.DONE, EventStatus.DEAD),
    ) -> int:
        """Delete finished events received before ``before`` and their outcomes."""
        wanted = {EventStatus(s) for s in statuses}
        if not wanted or not wanted <= {EventStatus.DONE, EventStatus.DEAD}:
            raise ValueError("prune deletes only finished events: statuses done and/or dead")
        marks = ",".join("?" * len(wanted))
        condition = f"received_at < ? AND status IN ({marks})"
        params = (iso(before), *sorted(wanted))

        def prune(conn: sqlite3.Connection) -> int:
            conn.execute(
                f"DELETE FROM outcomes WHERE seq IN (SELECT seq FROM events WHERE {condition})",
                params,
            )
            deleted = conn.execute(f"DELETE FROM events WHERE {condition}", params).rowcount
            # A call's events are in two partial indexes: ask each (see select_events).
            in_lane = "SELECT 1 FROM events WHERE lane = lanes.lane AND"
            conn.execute(
                "DELETE FROM lanes WHERE owner IS NULL AND ready = 0"
                f" AND NOT EXISTS ({in_lane} {UNFINISHED_SQL})"
                f" AND NOT EXISTS ({in_lane} {FINISHED_SQL})"
            )
            return deleted

        return await self._write(prune)

    async def stats(self) -> StoreStats:
        """Counts by status and type, and how many calls have work."""

        def count(conn: sqlite3.Connection) -> StoreStats:
            by_status = dict(conn.execute("SELECT status, count(*) FROM events GROUP BY status"))
            by_type = dict(conn.execute("SELECT type, count(*) FROM events GROUP BY type"))
            calls = conn.execute("SELECT count(*) FROM lanes WHERE ready = 1").fetchone()[0]
            return StoreStats(sum(by_status.values()), by_status, by_type, calls)

        return await self._read(count)


def _records(conn: sqlite3.Connection, sql: str, args: Sequence[object]) -> list[EventRecord]:
    rows = conn.execute(sql, args).fetchall()
    outcomes = outcomes_by_seq(conn, [row[0] for row in rows])
    return [event_record(row, outcomes.get(row[0], ())) for row in rows]
