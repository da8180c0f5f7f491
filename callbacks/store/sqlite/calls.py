"""Calls in the SQLite log, for ``callbacks calls`` and the console: which calls a span of the
log holds, and a call's REST requests.

A span is read by position (``seq``, the rowid), so a page of the calls list reads a bounded
number of rows whatever the log's size; dead and failed events are found through their own
partial indexes (schema version 5).
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from callbacks.store.patterns import glob_test
from callbacks.store.records import EventFilter, utf8_text
from callbacks.store.requests import RequestRecord
from callbacks.store.sqlite.rows import filter_sql, lane_of
from callbacks.store.sqlite.schema import FINISHED_SQL, UNFINISHED_SQL

T = TypeVar("T")

_OF_CALL = f"""SELECT e.identity, r.handler, r.idx, r.attempt, r.operation, r.method, r.path,
    r.body_hash, r.status, r.duration, r.sent_at, r.repeatability_id, r.error_code, r.replica
    FROM requests AS r JOIN events AS e ON e.seq = r.seq
    WHERE r.seq IN (SELECT seq FROM events WHERE lane = ?1 AND {UNFINISHED_SQL}
                    UNION ALL SELECT seq FROM events WHERE lane = ?1 AND {FINISHED_SQL})
    ORDER BY r.sent_at, r.seq, r.handler, r.attempt, r.idx"""
"""A call's requests; its events through both partial lane indexes (see ``select_events``)."""


class SQLiteCalls(ABC):
    """The calls half of :class:`~callbacks.store.sqlite.store.SQLiteStore`."""

    @abstractmethod
    async def _read(self, run: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read on the reader connection."""

    async def seq_bounds(self) -> tuple[int, int] | None:
        """The first and last ``seq`` (both ends of the rowid: no scan)."""
        row = await self._read(lambda c: c.execute("SELECT min(seq), max(seq) FROM events")
                               .fetchone())
        return None if row is None or row[0] is None else (int(row[0]), int(row[1]))

    async def activity(self) -> tuple[int, int, int]:
        """Last seq, unfinished and dead counts (each condition as its partial index has it)."""
        sql = (f"SELECT (SELECT max(seq) FROM events), (SELECT count(*) FROM events WHERE "
               f"{UNFINISHED_SQL}), (SELECT count(*) FROM events WHERE status = 'dead')")
        row = await self._read(lambda c: c.execute(sql).fetchone())
        return int(row[0] or 0), int(row[1]), int(row[2])

    async def call_scan(self, where: EventFilter, low: int, high: int) -> list[tuple[str, int]]:
        """Calls with matching events in ``[low, high)``, newest matching position first."""
        clauses, params = filter_sql(replace(where, call_id=None))
        conditions = ["seq >= ?", "seq < ?", "lane <> ''", *clauses]
        args: list[object] = [low, high, *params]
        if where.call_id is not None:
            prefix = lane_of(where.call_id)
            conditions.append("substr(lane, 1, ?) = ?")
            args += [len(prefix), prefix]
        wanted = glob_test(None if where.operation_context is None
                           else utf8_text(where.operation_context))
        where_sql = " AND ".join(conditions)
        if wanted is None:
            sql = f"SELECT lane, max(seq) FROM events WHERE {where_sql} GROUP BY lane"
            rows = await self._read(lambda c: c.execute(sql, args).fetchall())
            return sorted(((lane, seq) for lane, seq in rows), key=lambda hit: -hit[1])
        # A glob: LIKE narrowed the rows, the exact test decides, newest first per call.
        sql = f"SELECT lane, seq, operation_context FROM events WHERE {where_sql} ORDER BY seq DESC"
        found: dict[str, int] = {}
        for lane, seq, context in await self._read(lambda c: c.execute(sql, args).fetchall()):
            if lane not in found and wanted(context):
                found[lane] = seq
        return list(found.items())

    async def call_requests(self, call_id: str) -> list[RequestRecord]:
        """Every recorded request of the call's events, in the order sent."""
        rows = await self._read(lambda c: c.execute(_OF_CALL, (lane_of(call_id),)).fetchall())
        return [
            RequestRecord(
                event_id=identity, handler=handler, index=idx, attempt=attempt,
                operation=operation, method=method, path=path, body_hash=body_hash,
                status=status, duration=duration, sent_at=datetime.fromisoformat(sent_at),
                repeatability_id=repeatability_id, error_code=error_code, replica=replica,
            )
            for (identity, handler, idx, attempt, operation, method, path, body_hash, status,
                 duration, sent_at, repeatability_id, error_code, replica) in rows
        ]
