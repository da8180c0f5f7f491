"""Replay runs in the SQLite log: the ``replays`` table, beside (never in) ``outcomes``."""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from callbacks.store.records import maybe_utf8_text, utf8_text
from callbacks.store.replays import (
    ReplayMode,
    ReplayResult,
    decode_outcomes,
    decode_requests,
    encode_outcomes,
    encode_requests,
    latest_per_run,
)
from callbacks.store.sqlite.rows import iso

T = TypeVar("T")

_RECORD = """INSERT OR REPLACE INTO replays
    (seq, run_id, mode, target, replayed_at, outcomes, requests)
    SELECT seq, ?, ?, ?, ?, ?, ? FROM events WHERE identity = ?"""
_OF_EVENT = """SELECT r.run_id, e.identity, r.mode, r.target, r.replayed_at, r.outcomes,
    r.requests FROM replays AS r JOIN events AS e ON e.seq = r.seq
    WHERE e.identity = ? ORDER BY r.replayed_at, r.run_id"""


class SQLiteReplays(ABC):
    """The replay half of :class:`~callbacks.store.sqlite.store.SQLiteStore`."""

    @abstractmethod
    async def _read(self, run: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read on the reader connection."""

    @abstractmethod
    async def _write(self, run: Callable[[sqlite3.Connection], T]) -> T:
        """Run a write in the next group commit."""

    async def record_replays(self, results: Sequence[ReplayResult]) -> int:
        """Keep replay results of logged events in one transaction; how many were logged."""
        rows = [
            (
                utf8_text(r.run_id),
                r.mode.value,
                maybe_utf8_text(r.target),
                iso(r.replayed_at),
                encode_outcomes(r.outcomes),
                encode_requests(r.requests),
                utf8_text(r.event_id),
            )
            for r in latest_per_run(list(results))
        ]
        if not rows:
            return 0

        def insert(conn: sqlite3.Connection) -> int:
            return conn.executemany(_RECORD, rows).rowcount

        return await self._write(insert)

    async def replay_outcomes(self, event_id: str) -> list[ReplayResult]:
        """Every recorded replay of the event, oldest first."""
        rows = await self._read(lambda c: c.execute(_OF_EVENT, (utf8_text(event_id),)).fetchall())
        return [
            ReplayResult(
                run_id=run_id,
                event_id=identity,
                mode=ReplayMode(mode),
                replayed_at=datetime.fromisoformat(replayed_at),
                outcomes=decode_outcomes(outcomes),
                requests=decode_requests(requests),
                target=target,
            )
            for run_id, identity, mode, target, replayed_at, outcomes, requests in rows
        ]
