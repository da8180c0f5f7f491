"""Rows to records and filters to SQL for the SQLite log (pure helpers, no I/O of their own)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from callbacks.store.patterns import LIKE_ESCAPE, is_glob, like_superset
from callbacks.store.records import (
    EventFilter,
    EventRecord,
    EventStatus,
    Outcome,
    PendingEvent,
    utc,
    utf8_text,
)
from callbacks.store.sqlite.schema import FINISHED_SQL, UNFINISHED_SQL

EVENT_COLUMNS = (
    "seq, identity, type, full_type, dialect, lane, operation_context, sequence,"
    " event_time, received_at, path_context, status, attempts, raw"
)
_NO_CALL = ""
INT64 = 2**63
PAGE = 500
"""Rows per read when listing: bounds memory whatever the log's size."""
LANE_HAS_WORK = """INSERT INTO lanes (lane, ready, ready_at) VALUES (?, 1, ?)
    ON CONFLICT (lane) DO UPDATE SET ready = 1, ready_at = excluded.ready_at
    WHERE lanes.ready = 0"""
"""Mark a lane as having work (keeping its place in line if it had some already). A lane that
has work already is not written at all, rather than rewritten with the same values."""
_FULL_TYPE_PREFIX = "Microsoft."


def lane_of(call_id: str | None) -> str:
    """The lane key of a call; events outside any call share the empty lane."""
    return utf8_text(call_id) if call_id else _NO_CALL


def call_of(lane: str) -> str | None:
    """The call id of a lane key."""
    return lane or None


def iso(moment: datetime) -> str:
    """Fixed-width UTC ISO 8601, so that text order is time order."""
    return utc(moment).isoformat(timespec="microseconds")


def select_events(
    conditions: Sequence[str],
    params: Sequence[Any],
    *,
    call: str | None,
    order: str,
    limit: int,
) -> tuple[str, tuple[Any, ...]]:
    """A query for the first ``limit`` events by seq (``order``: ASC or DESC) that meet every
    condition and, if ``call`` is given (a lane), are that call's; and its parameters.

    A call's events are in two partial indexes, the unfinished and the finished. The query reads
    each half in its index's order and merges the two, stopping at the limit, so a page reads
    about a page of rows whatever the call's size: read through an OR of the halves, every event
    of the call would be sorted before the limit applies.
    """
    if call is None:
        where = " AND ".join(conditions) or "1"
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE {where} ORDER BY seq {order} LIMIT ?"
        return sql, (*params, limit)
    halves = " UNION ALL ".join(
        f"SELECT {EVENT_COLUMNS} FROM events WHERE {' AND '.join(['lane = ?', half, *conditions])}"
        for half in (UNFINISHED_SQL, FINISHED_SQL)
    )
    return f"{halves} ORDER BY seq {order} LIMIT ?", (call, *params, call, *params, limit)


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


def filter_sql(where: EventFilter) -> tuple[list[str], list[Any]]:
    """SQL conditions and parameters for ``where`` (every condition must hold), but for its
    call: give that to :func:`select_events`."""
    clauses: list[str] = []
    params: list[Any] = []
    if where.type is not None:
        column = "full_type" if where.type.startswith(_FULL_TYPE_PREFIX) else "type"
        clauses.append(f"{column} = ?")
        params.append(utf8_text(where.type))
    if where.status is not None:
        # A literal, not a parameter: only then can SQLite use the partial index of dead (or
        # failed) events, whose condition it must see the query imply when preparing it.
        clauses.append(f"status = '{EventStatus(where.status).value}'")
    if where.since is not None:
        clauses.append("received_at >= ?")
        params.append(iso(where.since))
    if where.until is not None:
        clauses.append("received_at < ?")
        params.append(iso(where.until))
    context = where.operation_context
    if context is not None:
        if is_glob(context):  # LIKE narrows; the caller tests the rows with glob_test
            clauses.append(f"operation_context LIKE ? ESCAPE '{LIKE_ESCAPE}'")
            params.append(like_superset(utf8_text(context)))
        else:
            clauses.append("operation_context = ?")
            params.append(utf8_text(context))
    if where.id is not None:
        clauses.append("identity = ?")
        params.append(utf8_text(where.id))
    if where.id_prefix is not None:
        prefix = utf8_text(where.id_prefix)
        clauses.append("substr(identity, 1, ?) = ?")
        params.extend((len(prefix), prefix))
    if where.after_seq is not None:
        clauses.append("seq > ?")
        params.append(where.after_seq)
    if where.before_seq is not None:
        clauses.append("seq < ?")
        params.append(min(where.before_seq, INT64 - 1))
    return clauses, params


def outcomes_by_seq(
    conn: sqlite3.Connection, seqs: Sequence[int]
) -> dict[int, tuple[Outcome, ...]]:
    """Every outcome of the events ``seqs``, in the order the runs finished."""
    if not seqs:
        return {}
    found: dict[int, list[Outcome]] = {}
    for start in range(0, len(seqs), 500):
        chunk = seqs[start : start + 500]
        rows = conn.execute(
            "SELECT seq, handler, attempt, error, duration, finished_at, replica FROM outcomes"
            f" WHERE seq IN ({','.join('?' * len(chunk))}) ORDER BY seq, finished_at, attempt",
            chunk,
        )
        for seq, handler, attempt, error, duration, finished_at, replica in rows:
            found.setdefault(seq, []).append(Outcome(
                handler, attempt, error, duration, datetime.fromisoformat(finished_at), replica
            ))
    return {seq: tuple(outcomes) for seq, outcomes in found.items()}


def event_record(row: Sequence[Any], outcomes: tuple[Outcome, ...]) -> EventRecord:
    """An :class:`EventRecord` from a row of :data:`EVENT_COLUMNS`."""
    (seq, identity, type_, full_type, dialect, lane, context, sequence) = row[:8]
    (event_time, received_at, path_context, status, attempts, raw) = row[8:]
    return EventRecord(
        seq=seq,
        id=identity,
        type=type_,
        full_type=full_type,
        dialect=dialect,
        call_id=call_of(lane),
        operation_context=context,
        sequence=sequence,
        event_time=_time(event_time),
        received_at=datetime.fromisoformat(received_at),
        path_context=path_context,
        status=EventStatus(status),
        attempts=attempts,
        raw=bytes(raw),
        outcomes=outcomes,
    )


def pending_event(row: Sequence[Any], outcomes: tuple[Outcome, ...]) -> PendingEvent:
    """A :class:`PendingEvent` from (seq, identity, lane, raw, path_context, received_at,
    status, attempts)."""
    seq, identity, lane, raw, path_context, received_at, status, attempts = row
    return PendingEvent(
        seq=seq,
        id=identity,
        call_id=call_of(lane),
        raw=bytes(raw),
        path_context=path_context,
        received_at=datetime.fromisoformat(received_at),
        status=EventStatus(status),
        attempts=attempts,
        outcomes=outcomes,
    )
