"""Replay runs in the PostgreSQL log: ``callbacks_replays``, beside (never in) the outcomes.

Outcomes and REST calls are JSON text (ASCII, so never a NUL that TEXT cannot hold); a batch
of results is one statement, whose rows find their event by identity.
"""

from __future__ import annotations

from collections.abc import Sequence

from callbacks.store.postgres import sql as q
from callbacks.store.postgres.connections import Conn, Database
from callbacks.store.replays import (
    ReplayMode,
    ReplayResult,
    decode_outcomes,
    decode_requests,
    encode_outcomes,
    encode_requests,
    latest_per_run,
)

_RECORD = """INSERT INTO callbacks_replays
    (seq, run_id, mode, target, replayed_at, outcomes, requests)
SELECT e.seq, b.run_id, b.mode, b.target, b.replayed_at, b.outcomes, b.requests
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[],
    $7::text[]) AS b (identity, run_id, mode, target, replayed_at, outcomes, requests)
JOIN callbacks_events AS e ON e.identity = b.identity
ON CONFLICT (seq, run_id) DO UPDATE SET mode = excluded.mode, target = excluded.target,
    replayed_at = excluded.replayed_at, outcomes = excluded.outcomes,
    requests = excluded.requests"""
_OF_EVENT = """SELECT r.run_id, e.identity, r.mode, r.target, r.replayed_at, r.outcomes,
    r.requests FROM callbacks_replays AS r JOIN callbacks_events AS e ON e.seq = r.seq
    WHERE e.identity = $1 ORDER BY r.replayed_at, r.run_id"""


class PostgresReplays:
    """The replay half of :class:`~callbacks.store.postgres.store.PostgresStore`."""

    _db: Database

    async def record_replays(self, results: Sequence[ReplayResult]) -> int:
        """Keep replay results of logged events in one statement; how many were logged."""
        # ON CONFLICT cannot touch a row twice in one statement: one result per (run, event).
        kept = latest_per_run(list(results))
        if not kept:
            return 0
        columns = (
            [q.text(r.event_id) for r in kept],
            [q.text(r.run_id) for r in kept],
            [r.mode.value for r in kept],
            [q.maybe_text(r.target) for r in kept],
            [q.event_time(r.replayed_at) for r in kept],
            [encode_outcomes(r.outcomes) for r in kept],
            [encode_requests(r.requests) for r in kept],
        )

        async def insert(conn: Conn) -> int:
            status = await conn.execute(_RECORD, *columns)
            return int(status.rsplit(" ", 1)[-1])

        return await self._db.run(insert, write=True)

    async def replay_outcomes(self, event_id: str) -> list[ReplayResult]:
        """Every recorded replay of the event, oldest first."""

        async def select(conn: Conn) -> list[ReplayResult]:
            rows = await conn.fetch(_OF_EVENT, q.text(event_id))
            return [
                ReplayResult(
                    run_id=row["run_id"],
                    event_id=row["identity"],
                    mode=ReplayMode(row["mode"]),
                    replayed_at=row["replayed_at"],
                    outcomes=decode_outcomes(row["outcomes"]),
                    requests=decode_requests(row["requests"]),
                    target=row["target"],
                )
                for row in rows
            ]

        return await self._db.run(select)
