"""The REST requests of handler runs in the PostgreSQL log: ``callbacks_requests``."""

from __future__ import annotations

from callbacks.store.postgres import sql as q
from callbacks.store.postgres.connections import Conn, Database
from callbacks.store.requests import RequestRecord

_RECORD = """INSERT INTO callbacks_requests (seq, handler, idx, attempt, operation, method,
    path, body_hash, status, duration, sent_at, repeatability_id, error_code, answer, replica)
SELECT seq, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15
FROM callbacks_events WHERE identity = $1
ON CONFLICT (seq, handler, idx, attempt) DO UPDATE SET operation = excluded.operation,
    method = excluded.method, path = excluded.path, body_hash = excluded.body_hash,
    status = excluded.status, duration = excluded.duration, sent_at = excluded.sent_at,
    repeatability_id = excluded.repeatability_id, error_code = excluded.error_code,
    answer = excluded.answer, replica = excluded.replica"""
_OF_EVENT = """SELECT e.identity, r.handler, r.idx, r.attempt, r.operation, r.method, r.path,
    r.body_hash, r.status, r.duration, r.sent_at, r.repeatability_id, r.error_code, r.answer,
    r.replica FROM callbacks_requests AS r JOIN callbacks_events AS e ON e.seq = r.seq
    WHERE e.identity = $1 AND ($2::text IS NULL OR r.handler = $2)
    ORDER BY r.sent_at, r.handler, r.attempt, r.idx"""


class PostgresRequests:
    """The request half of :class:`~callbacks.store.postgres.store.PostgresStore`."""

    _db: Database

    async def record_request(self, record: RequestRecord) -> None:
        """Keep one request of a handler run (dropped if its event is not in the log)."""
        values = (
            q.text(record.event_id), q.text(record.handler), record.index, record.attempt,
            record.operation, record.method, q.text(record.path), record.body_hash,
            record.status, record.duration, q.event_time(record.sent_at),
            q.maybe_text(record.repeatability_id), q.maybe_text(record.error_code),
            record.answer, q.maybe_text(record.replica),
        )

        async def insert(conn: Conn) -> None:
            await conn.execute(_RECORD, *values)

        await self._db.run(insert, write=True)

    async def requests_of(self, event_id: str, handler: str | None = None) -> list[RequestRecord]:
        """The event's recorded requests (of ``handler`` only, if given), in the order sent."""

        async def select(conn: Conn) -> list[RequestRecord]:
            rows = await conn.fetch(_OF_EVENT, q.text(event_id), q.maybe_text(handler))
            return [
                RequestRecord(
                    event_id=row["identity"], handler=row["handler"], index=row["idx"],
                    attempt=row["attempt"], operation=row["operation"], method=row["method"],
                    path=row["path"], body_hash=row["body_hash"], status=row["status"],
                    duration=row["duration"], sent_at=row["sent_at"],
                    repeatability_id=row["repeatability_id"], error_code=row["error_code"],
                    answer=bytes(row["answer"]) if row["answer"] is not None else None,
                    replica=row["replica"],
                )
                for row in rows
            ]

        return await self._db.run(select)
