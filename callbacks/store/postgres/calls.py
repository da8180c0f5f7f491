"""Calls in the PostgreSQL log, for ``callbacks calls`` and the console: which calls a span of the
log holds, and a call's REST requests (read through the ``(lane, seq)`` index)."""

from __future__ import annotations

from dataclasses import replace

from callbacks.store.patterns import glob_test
from callbacks.store.postgres import sql as q
from callbacks.store.postgres.connections import Conn, Database
from callbacks.store.postgres.schema import UNFINISHED_SQL
from callbacks.store.records import EventFilter
from callbacks.store.requests import RequestRecord

_OF_CALL = """SELECT e.identity, r.handler, r.idx, r.attempt, r.operation, r.method, r.path,
    r.body_hash, r.status, r.duration, r.sent_at, r.repeatability_id, r.error_code, r.replica
    FROM callbacks_requests AS r JOIN callbacks_events AS e ON e.seq = r.seq
    WHERE e.lane = $1 ORDER BY r.sent_at, r.seq, r.handler, r.attempt, r.idx"""


class PostgresCalls:
    """The calls half of :class:`~callbacks.store.postgres.store.PostgresStore`."""

    _db: Database

    async def seq_bounds(self) -> tuple[int, int] | None:
        """The first and last ``seq`` (both ends of the primary key)."""

        async def bounds(conn: Conn) -> tuple[int, int] | None:
            row = await conn.fetchrow("SELECT min(seq), max(seq) FROM callbacks_events")
            return None if row is None or row[0] is None else (int(row[0]), int(row[1]))

        return await self._db.run(bounds)

    async def activity(self) -> tuple[int, int, int]:
        """Last seq, unfinished and dead counts (each condition as its partial index has it)."""

        async def read(conn: Conn) -> tuple[int, int, int]:
            row = await conn.fetchrow(
                "SELECT (SELECT max(seq) FROM callbacks_events),"
                f" (SELECT count(*) FROM callbacks_events WHERE {UNFINISHED_SQL}),"
                " (SELECT count(*) FROM callbacks_events WHERE status = 'dead')"
            )
            assert row is not None
            return int(row[0] or 0), int(row[1]), int(row[2])

        return await self._db.run(read)

    async def call_scan(self, where: EventFilter, low: int, high: int) -> list[tuple[str, int]]:
        """Calls with matching events in ``[low, high)``, newest matching position first."""
        clauses, params = q.filter_sql(replace(where, call_id=None))
        args: list[object] = [*params, low, high]
        conditions = [*clauses, f"seq >= ${len(params) + 1}", f"seq < ${len(params) + 2}",
                      "lane <> ''"]
        if where.call_id is not None:
            args.append(q.lane_of(where.call_id))
            conditions.append(f"starts_with(lane, ${len(args)})")
        wanted = glob_test(q.maybe_text(where.operation_context))
        where_sql = " AND ".join(conditions)

        async def scan(conn: Conn) -> list[tuple[str, int]]:
            if wanted is None:
                rows = await conn.fetch(
                    f"SELECT lane, max(seq) AS seq FROM callbacks_events WHERE {where_sql}"
                    " GROUP BY lane ORDER BY 2 DESC", *args,
                )
                return [(row["lane"], int(row["seq"])) for row in rows]
            found: dict[str, int] = {}
            for row in await conn.fetch(
                f"SELECT lane, seq, operation_context FROM callbacks_events WHERE {where_sql}"
                " ORDER BY seq DESC", *args,
            ):
                if row["lane"] not in found and wanted(row["operation_context"]):
                    found[row["lane"]] = int(row["seq"])
            return list(found.items())

        return await self._db.run(scan)

    async def call_requests(self, call_id: str) -> list[RequestRecord]:
        """Every recorded request of the call's events, in the order sent."""

        async def select(conn: Conn) -> list[RequestRecord]:
            return [
                RequestRecord(
                    event_id=row["identity"], handler=row["handler"], index=row["idx"],
                    attempt=row["attempt"], operation=row["operation"], method=row["method"],
                    path=row["path"], body_hash=row["body_hash"], status=row["status"],
                    duration=row["duration"], sent_at=row["sent_at"],
                    repeatability_id=row["repeatability_id"], error_code=row["error_code"],
                    replica=row["replica"],
                )
                for row in await conn.fetch(_OF_CALL, q.lane_of(call_id))
            ]

        return await self._db.run(select)
