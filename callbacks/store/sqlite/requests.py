"""The REST requests of handler runs in the SQLite log: the ``requests`` table."""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypeVar

from callbacks.store.records import maybe_utf8_text, utf8_text
from callbacks.store.requests import RequestRecord
from callbacks.store.sqlite.rows import iso

T = TypeVar("T")

_RECORD = """INSERT OR REPLACE INTO requests (seq, handler, idx, attempt, operation, method,
    path, body_hash, status, duration, sent_at, repeatability_id, error_code, answer, replica)
    SELECT seq, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM events WHERE identity = ?"""
_OF_EVENT = """SELECT e.identity, r.handler, r.idx, r.attempt, r.operation, r.method, r.path,
    r.body_hash, r.status, r.duration, r.sent_at, r.repeatability_id, r.error_code, r.answer,
    r.replica FROM requests AS r JOIN events AS e ON e.seq = r.seq
    WHERE e.identity = ?"""


WITHOUT_REQUESTS_KEPT = 4096
"""Events remembered as having no recorded request (see :meth:`SQLiteRequests.requests_of`)."""


class SQLiteRequests(ABC):
    """The request half of :class:`~callbacks.store.sqlite.store.SQLiteStore`.

    A handler run's journal asks for the event's recorded requests before its first REST request
    (:mod:`callbacks.dispatch.journal`); nearly always there are none. ``next_events`` reads
    whether there are with the events, and those without are remembered here (in insertion
    order, the oldest dropped past :data:`WITHOUT_REQUESTS_KEPT`), so that the lookup costs no
    query: ~30 us less between a callback and the request its handler makes
    (bench/reaction.py). Only this process's dispatcher records requests of the events it holds
    (the call's claim keeps other dispatchers away), and it forgets an event here before it
    records one of its requests.
    """

    _without_requests: dict[str, None]

    @abstractmethod
    async def _read(self, run: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read on the reader connection."""

    @abstractmethod
    async def _write(self, run: Callable[[sqlite3.Connection], T]) -> T:
        """Run a write in the next group commit."""

    def _note_without_requests(self, identities: Iterable[str]) -> None:
        """Remember events read with no recorded request."""
        known = self._without_requests
        for identity in identities:
            known[identity] = None
        while len(known) > WITHOUT_REQUESTS_KEPT:
            del known[next(iter(known))]

    async def record_request(self, record: RequestRecord) -> None:
        """Keep one request of a handler run (dropped if its event is not in the log)."""
        self._without_requests.pop(utf8_text(record.event_id), None)
        row = (
            utf8_text(record.handler), record.index, record.attempt, record.operation,
            record.method, utf8_text(record.path), record.body_hash, record.status,
            record.duration, iso(record.sent_at), maybe_utf8_text(record.repeatability_id),
            maybe_utf8_text(record.error_code), record.answer, maybe_utf8_text(record.replica),
            utf8_text(record.event_id),
        )
        await self._write(lambda conn: conn.execute(_RECORD, row))

    async def requests_of(self, event_id: str, handler: str | None = None) -> list[RequestRecord]:
        """The event's recorded requests (of ``handler`` only, if given), in the order sent."""
        if utf8_text(event_id) in self._without_requests:
            return []
        query, params = _OF_EVENT, [utf8_text(event_id)]
        if handler is not None:
            query += " AND r.handler = ?"
            params.append(utf8_text(handler))
        query += " ORDER BY r.sent_at, r.handler, r.attempt, r.idx"
        rows = await self._read(lambda c: c.execute(query, params).fetchall())
        return [
            RequestRecord(
                event_id=identity, handler=handler_name, index=idx, attempt=attempt,
                operation=operation, method=method, path=path, body_hash=body_hash,
                status=status, duration=duration, sent_at=datetime.fromisoformat(sent_at),
                repeatability_id=repeatability_id, error_code=error_code,
                answer=bytes(answer) if answer is not None else None, replica=replica,
            )
            for (identity, handler_name, idx, attempt, operation, method, path, body_hash, status,
                 duration, sent_at, repeatability_id, error_code, answer, replica) in rows
        ]
