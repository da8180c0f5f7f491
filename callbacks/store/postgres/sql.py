"""The PostgreSQL log's SQL, and rows to records (pure helpers, no I/O of their own).

Lock order, which keeps the statements free of deadlocks between replicas: a lane row is
locked before it is read to decide whether the lane still has work, several lanes are locked
in ``lane`` order, and new events are inserted before their lanes are woken.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from callbacks.store.base import EventFilter, EventRecord, EventStatus, Outcome, PendingEvent, utc
from callbacks.store.patterns import LIKE_ESCAPE, is_glob, like_superset
from callbacks.store.postgres.schema import UNFINISHED_SQL
from callbacks.store.records import utf8_text

if TYPE_CHECKING:
    from asyncpg import Record

NOW = "extract(epoch FROM clock_timestamp())::float8"
"""The database's clock in epoch seconds: every replica measures leases by the same clock."""

EVENT_COLUMNS = (
    "seq, identity, type, full_type, dialect, call_id, operation_context, sequence,"
    " event_time, received_at, path_context, status, attempts, raw"
)
PENDING_COLUMNS = (
    "e.seq, e.identity, e.lane, e.call_id, e.raw, e.path_context, e.received_at, e.status,"
    " e.attempts"
)

_WAKE_LANES = """INSERT INTO callbacks_lanes (lane, call_id, ready, ticket)
    SELECT lane, call_id, true, nextval('callbacks_lane_ticket')
    FROM (SELECT DISTINCT ON (lane) lane, call_id FROM {source} ORDER BY lane) AS woken
    ON CONFLICT (lane) DO UPDATE SET ready = true, ticket = CASE
        WHEN callbacks_lanes.ready THEN callbacks_lanes.ticket ELSE excluded.ticket END
    RETURNING pg_notify({channel}, {payload})"""

APPEND = f"""WITH new AS (
    INSERT INTO callbacks_events (identity, type, full_type, dialect, lane, call_id,
        operation_context, sequence, event_time, received_at, path_context, raw)
    SELECT identity, type, full_type, dialect, lane, call_id,
        operation_context, sequence, event_time, received_at, path_context, raw
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::bigint[], $9::timestamptz[], $10::timestamptz[], $11::text[],
        $12::bytea[])
        WITH ORDINALITY AS batch (identity, type, full_type, dialect, lane, call_id,
            operation_context, sequence, event_time, received_at, path_context, raw, n)
    ORDER BY n
    ON CONFLICT (identity) DO NOTHING
    RETURNING identity, lane, call_id
), woken AS ({_WAKE_LANES.format(source="new", channel="$13", payload="$14")})
SELECT identity, (SELECT count(*) FROM woken) AS woken FROM new"""
"""One statement, so one implicit transaction and one round trip, for a whole group commit.
The lanes of new events are woken (and listeners notified at commit) in the same statement."""

RETRY = f"""WITH back AS (
    UPDATE callbacks_events SET status = 'pending', attempts = 0
    WHERE status = 'dead' AND ($1::text[] IS NULL OR identity = ANY($1::text[]))
    RETURNING lane, call_id
), woken AS ({_WAKE_LANES.format(source="back", channel="$2", payload="$3")})
SELECT (SELECT count(*) FROM back), (SELECT count(*) FROM woken)"""

CLAIM = f"""WITH clock AS (SELECT {NOW} AS now), picked AS (
    SELECT lane, owner AS previous FROM callbacks_lanes, clock
    WHERE ready AND (owner IS NULL OR expires_at < clock.now)
        AND (not_before IS NULL OR not_before <= clock.now)
    ORDER BY ticket LIMIT $2
    FOR UPDATE OF callbacks_lanes SKIP LOCKED
)
UPDATE callbacks_lanes AS l
SET owner = $1, expires_at = (SELECT now FROM clock) + $3, not_before = NULL
FROM picked WHERE l.lane = picked.lane
RETURNING l.lane, l.call_id, l.expires_at, l.ticket, picked.previous"""

RENEW = f"""WITH mine AS (
    SELECT lane FROM callbacks_lanes WHERE lane = ANY($1::text[]) AND owner = $2
    ORDER BY lane FOR UPDATE
)
UPDATE callbacks_lanes AS l SET expires_at = {NOW} + $3
FROM mine WHERE l.lane = mine.lane RETURNING l.lane"""

FINISH = """WITH held AS (
    SELECT lane FROM callbacks_lanes
    WHERE lane = (SELECT lane FROM callbacks_events WHERE seq = $1) AND owner = $2
    FOR SHARE
), finished AS (
    UPDATE callbacks_events SET status = $3, attempts = attempts + 1
    WHERE seq = $1 AND EXISTS (SELECT 1 FROM held)
    RETURNING seq
), recorded AS (
    INSERT INTO callbacks_outcomes (seq, handler, attempt, error, duration, finished_at, replica)
    SELECT DISTINCT ON (o.handler, o.attempt) finished.seq, o.handler, o.attempt, o.error,
        o.duration, o.finished_at, o.replica
    FROM finished, unnest($4::text[], $5::int[], $6::text[], $7::float8[], $8::timestamptz[],
        $9::text[])
        WITH ORDINALITY AS o (handler, attempt, error, duration, finished_at, replica, n)
    ORDER BY o.handler, o.attempt, o.n DESC
    ON CONFLICT (seq, handler, attempt) DO UPDATE SET error = excluded.error,
        duration = excluded.duration, finished_at = excluded.finished_at,
        replica = excluded.replica
)
SELECT count(*) FROM finished"""
"""One statement (one round trip, one transaction), fenced: the lane row is locked FOR SHARE
only if ``owner`` holds it. A takeover in progress (which updates that row) makes us wait; we
then see the new owner and write nothing. A claim, in turn, skips the row while we hold it."""

RELEASE_ONE = "SELECT has_work FROM callbacks_release(ARRAY[$1], $2, $3)"
RELEASE_ALL = "SELECT count(*) FROM callbacks_release(NULL, $1, NULL)"
LANE_READY = "SELECT ready FROM callbacks_lanes WHERE lane = $1"

NEXT_EVENTS = f"""SELECT {PENDING_COLUMNS}, o.handlers, o.runs, o.errors, o.durations, o.finished,
    o.replicas
FROM callbacks_events AS e
LEFT JOIN LATERAL (
    SELECT array_agg(handler ORDER BY finished_at, attempt) AS handlers,
        array_agg(attempt ORDER BY finished_at, attempt) AS runs,
        array_agg(error ORDER BY finished_at, attempt) AS errors,
        array_agg(duration ORDER BY finished_at, attempt) AS durations,
        array_agg(finished_at ORDER BY finished_at, attempt) AS finished,
        array_agg(replica ORDER BY finished_at, attempt) AS replicas
    FROM callbacks_outcomes WHERE callbacks_outcomes.seq = e.seq
) AS o ON true
WHERE e.lane = $1 AND e.{UNFINISHED_SQL} ORDER BY e.seq LIMIT $2"""
"""A call's unfinished events with their outcomes, in one round trip (the dispatcher's hot
path; listings use :data:`OUTCOMES` instead, a page at a time)."""
OUTCOMES = """SELECT seq, handler, attempt, error, duration, finished_at, replica
    FROM callbacks_outcomes
    WHERE seq = ANY($1::bigint[]) ORDER BY seq, finished_at, attempt"""
GET_EVENT = f"SELECT {EVENT_COLUMNS} FROM callbacks_events WHERE identity = $1"
HISTORY = f"""SELECT {EVENT_COLUMNS} FROM callbacks_events
    WHERE lane = $1 AND ($2::bigint IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3"""
"""A call's events; ``lane = $1`` rather than ``call_id`` so the (lane, seq) index serves."""

PRUNE = """WITH gone AS (
    DELETE FROM callbacks_events WHERE received_at < $1 AND status = ANY($2::text[])
    RETURNING seq
) SELECT count(*) FROM gone"""
PRUNE_LANES = """DELETE FROM callbacks_lanes AS l WHERE owner IS NULL AND NOT ready
    AND NOT EXISTS (SELECT 1 FROM callbacks_events AS e WHERE e.lane = l.lane)"""
COUNT_BY_STATUS = "SELECT status, count(*) FROM callbacks_events GROUP BY status"
COUNT_BY_TYPE = "SELECT type, count(*) FROM callbacks_events GROUP BY type"
COUNT_READY = "SELECT count(*) FROM callbacks_lanes WHERE ready"

_NO_CALL = ""
_FULL_TYPE_PREFIX = "Microsoft."
_INT64 = 2**63


def text(value: str) -> str:
    """``value`` as PostgreSQL can store it: TEXT cannot hold NUL, so it becomes U+FFFD; a lone
    surrogate becomes its escape (:func:`~callbacks.store.records.utf8_text`).

    Applied to what is written and to what is looked up, so identities stay consistent.
    """
    value = utf8_text(value)
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def maybe_text(value: str | None) -> str | None:
    """:func:`text` for an optional value."""
    return None if value is None else text(value)


def lane_of(call_id: str | None) -> str:
    """The lane of a call: its id; events outside any call share the empty lane."""
    return text(call_id) if call_id else _NO_CALL


def bigint(value: int | None) -> int | None:
    """``value`` if it fits a BIGINT column, else None (a sender's absurd sequence number)."""
    return value if value is not None and -_INT64 <= value < _INT64 else None


def identities(event_ids: Sequence[str] | None) -> list[str] | None:
    """Event ids as looked up in the log, without repeats (None stays None: every event)."""
    return None if event_ids is None else [text(i) for i in dict.fromkeys(event_ids)]


def filter_sql(where: EventFilter) -> tuple[list[str], list[Any]]:
    """SQL conditions (``$n`` numbered from 1) and parameters for ``where``."""
    clauses: list[str] = []
    params: list[Any] = []

    def add(condition: str, value: Any) -> None:
        params.append(value)
        clauses.append(condition.format(f"${len(params)}"))

    if where.call_id is not None:
        add("lane = {}", lane_of(where.call_id))
    if where.type is not None:
        column = "full_type" if where.type.startswith(_FULL_TYPE_PREFIX) else "type"
        add(column + " = {}", text(where.type))
    if where.status is not None:
        # A literal: a generic plan for "status = $n" could not use the dead or failed index.
        clauses.append(f"status = '{EventStatus(where.status).value}'")
    if where.since is not None:
        add("received_at >= {}", utc(where.since))
    if where.until is not None:
        add("received_at < {}", utc(where.until))
    context = where.operation_context
    if context is not None:
        if is_glob(context):  # LIKE narrows; the caller tests the rows with glob_test
            add(f"operation_context LIKE {{}} ESCAPE '{LIKE_ESCAPE}'", like_superset(text(context)))
        else:
            add("operation_context = {}", text(context))
    if where.id is not None:
        add("identity = {}", text(where.id))
    if where.id_prefix is not None:
        add("starts_with(identity, {})", text(where.id_prefix))
    if where.after_seq is not None:
        add("seq > {}", where.after_seq)
    if where.before_seq is not None:
        add("seq < {}", min(where.before_seq, _INT64 - 1))
    return clauses, params


def outcomes_by_seq(rows: Sequence[Record]) -> dict[int, tuple[Outcome, ...]]:
    """Rows of :data:`OUTCOMES` grouped by event, in the order the runs finished."""
    found: dict[int, list[Outcome]] = {}
    for row in rows:
        outcome = Outcome(
            row["handler"], row["attempt"], row["error"], row["duration"], row["finished_at"],
            row["replica"],
        )
        found.setdefault(row["seq"], []).append(outcome)
    return {seq: tuple(outcomes) for seq, outcomes in found.items()}


def event_record(row: Record, outcomes: tuple[Outcome, ...]) -> EventRecord:
    """An :class:`EventRecord` from a row of :data:`EVENT_COLUMNS`."""
    return EventRecord(
        seq=row["seq"],
        id=row["identity"],
        type=row["type"],
        full_type=row["full_type"],
        dialect=row["dialect"],
        call_id=row["call_id"],
        operation_context=row["operation_context"],
        sequence=row["sequence"],
        event_time=row["event_time"],
        received_at=row["received_at"],
        path_context=row["path_context"],
        status=EventStatus(row["status"]),
        attempts=row["attempts"],
        raw=bytes(row["raw"]),
        outcomes=outcomes,
    )


def pending_event(row: Record) -> PendingEvent:
    """A :class:`PendingEvent` from a row of :data:`NEXT_EVENTS`."""
    outcomes: tuple[Outcome, ...] = ()
    if row["handlers"] is not None:
        outcomes = tuple(
            Outcome(*fields)
            for fields in zip(
                row["handlers"],
                row["runs"],
                row["errors"],
                row["durations"],
                row["finished"],
                row["replicas"],
                strict=True,
            )
        )
    return PendingEvent(
        seq=row["seq"],
        id=row["identity"],
        call_id=row["call_id"],
        raw=bytes(row["raw"]),
        path_context=row["path_context"],
        received_at=row["received_at"],
        status=EventStatus(row["status"]),
        attempts=row["attempts"],
        outcomes=outcomes,
    )


def event_time(moment: datetime | None) -> datetime | None:
    """An event's own time, in UTC (naive times are taken as UTC)."""
    return None if moment is None else utc(moment)
