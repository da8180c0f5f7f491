"""The embedded event log: one SQLite file in WAL mode, written with group commit.

Writes go through :class:`~callbacks.store.sqlite.writer.GroupCommitWriter` (statements on the
loop; a COMMIT that fsyncs or takes long, in a thread); reads use a second connection on the
loop, which in WAL mode never waits for the writer. The claims are rows of ``lanes``; one
process is the only dispatcher, but the leases work as they will for PostgreSQL replicas.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from callbacks.events.base import Event
from callbacks.store.base import (
    Claim,
    ClaimLost,
    EventStatus,
    EventStore,
    Outcome,
    PendingEvent,
    Receipt,
    StoreError,
)
from callbacks.store.records import maybe_utf8_text, utf8_text
from callbacks.store.sqlite.calls import SQLiteCalls
from callbacks.store.sqlite.checkpoint import Checkpointer
from callbacks.store.sqlite.queries import SQLiteQueries
from callbacks.store.sqlite.replays import SQLiteReplays
from callbacks.store.sqlite.requests import SQLiteRequests
from callbacks.store.sqlite.rows import (
    INT64,
    LANE_HAS_WORK,
    call_of,
    iso,
    lane_of,
    outcomes_by_seq,
    pending_event,
)
from callbacks.store.sqlite.schema import (
    SCHEMA_VERSION,
    UNFINISHED_SQL,
    Synchronous,
    connect_log,
    open_connections,
)
from callbacks.store.sqlite.writer import CommitThread, GroupCommitWriter, wait_unlocked

T = TypeVar("T")

_INSERT_EVENT = """INSERT INTO events (identity, type, full_type, dialect, lane,
    operation_context, sequence, event_time, received_at, path_context, raw)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (identity) DO NOTHING"""
_CLAIMABLE = """SELECT lane, owner FROM lanes WHERE ready = 1
    AND (owner IS NULL OR expires_at < ?1) AND (not_before IS NULL OR not_before <= ?1)
    ORDER BY ready_at LIMIT ?2"""
_RELEASE = f"""UPDATE lanes SET owner = NULL, expires_at = NULL, not_before = ?, ready_at = ?,
    ready = EXISTS (SELECT 1 FROM events WHERE events.lane = lanes.lane AND {UNFINISHED_SQL})"""
_FINISH = """UPDATE events SET status = ?, attempts = attempts + 1 WHERE seq = ?
    AND EXISTS (SELECT 1 FROM lanes WHERE lanes.lane = events.lane AND lanes.owner = ?)"""
_NEXT = f"""SELECT seq, identity, lane, raw, path_context, received_at, status, attempts,
    EXISTS (SELECT 1 FROM outcomes WHERE outcomes.seq = events.seq),
    EXISTS (SELECT 1 FROM requests WHERE requests.seq = events.seq)
    FROM events WHERE lane = ? AND {UNFINISHED_SQL} ORDER BY seq LIMIT ?"""
"""A call's unfinished events, and whether each has outcomes and recorded REST requests: most
have neither (never run), and then the dispatcher's hot path needs no second query."""


class SQLiteStore(SQLiteQueries, SQLiteReplays, SQLiteRequests, SQLiteCalls, EventStore):
    """The event log in one SQLite file (or ``:memory:``, for tests and demos)."""

    def __init__(
        self,
        path: str,
        *,
        synchronous: Synchronous = Synchronous.NORMAL,
        lock_timeout: float = 5.0,
    ) -> None:
        self.path = path
        self.synchronous = synchronous
        self._lock_timeout = lock_timeout
        self._writer: GroupCommitWriter | None = None
        self._checkpointer: Checkpointer | None = None
        self._maintained_elsewhere: Callable[[], bool] = lambda: False
        self._favour_others = False
        self._write_conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        self._closed = False
        self._without_requests = {}

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, synchronous={self.synchronous.value})"

    @property
    def shareable(self) -> bool:
        """An in-memory database belongs to this process."""
        return self.path != ":memory:"

    @property
    def commits(self) -> int:
        """Write transactions committed since open."""
        return self._writer.commits if self._writer is not None else 0

    def maintain_elsewhere(self, while_: Callable[[], bool]) -> None:
        """Pause this process's WAL checkpoints while ``while_()`` returns True."""
        self._maintained_elsewhere = while_

    def favour_other_writers(self) -> None:
        """COMMIT on the event loop, never in the commit thread (at ``synchronous=full`` too).

        A COMMIT sent to the thread holds the write lock until that thread gets the GIL from a
        busy loop, and the other process waits that long. For ``callbacks serve``'s dispatching
        child: alternating runs, six pairs, the child's COMMITs on the loop against "when slow":
        +8 % requests/s at the median (one pair lost). The loop itself waits for each COMMIT
        (a few hundred microseconds; an fsync at ``full``), which delays only handler runs.
        """
        self._favour_others = True

    @property
    def checkpoints_paused(self) -> bool:
        """Whether this process leaves the WAL checkpoints to another one just now."""
        return self._maintained_elsewhere()

    def check(self) -> None:
        """Open the file as a log and close it again, blocking: StoreError if it cannot hold
        one (a missing directory, another program's database). Creates and migrates it."""
        for connection in set(open_connections(self.path, self.synchronous, self._lock_timeout)):
            connection.close()

    async def open(self) -> None:
        """Open both connections off the loop, migrate, start the writer."""
        if self._closed:
            raise StoreError("the event log is closed")
        if self._writer is not None:
            return
        loop = asyncio.get_running_loop()
        writer, reader, self.migrations_applied = await loop.run_in_executor(
            None, connect_log, self.path, self.synchronous, self._lock_timeout, self.open_policy
        )
        self._write_conn, self._read_conn = writer, reader
        memory = not self.shareable
        commit_thread: CommitThread = (
            "never" if memory or self._favour_others
            else "always" if self.synchronous is Synchronous.FULL
            else "when slow"
        )
        self._writer = GroupCommitWriter(
            writer, commit_thread=commit_thread, lock_timeout=self._lock_timeout
        )
        self._writer.start()
        if not memory:
            self._checkpointer = Checkpointer(
                self.path, paused=lambda: self.checkpoints_paused
            )
            self._checkpointer.start()

    async def close(self) -> None:
        """Commit what is queued, then close the connections."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            await self._writer.close()
        if self._checkpointer is not None:
            await self._checkpointer.close()
        connections = {id(c): c for c in (self._read_conn, self._write_conn) if c}.values()
        self._read_conn = self._write_conn = None

        def close_all() -> None:
            for conn in connections:
                conn.close()

        # The last connection to close checkpoints the WAL into the file: an fsync.
        await asyncio.get_running_loop().run_in_executor(None, close_all)

    async def ready(self) -> bool:
        """Open, the writer running, its last commit successful (after a failure: a commit of
        one page, see :meth:`CommitQueue.recheck`), and the file readable."""
        if self._writer is None or not self._writer.running:
            return False
        if not await self._writer.recheck(self._touch):
            return False
        try:
            await self._read(lambda c: c.execute("SELECT 1").fetchone())
        except StoreError:
            return False
        return True

    async def _touch(self) -> None:
        """Commit a change of one page (the header's unchanged schema version): a write that
        needs the disk, as every append does."""
        await self._write(lambda c: c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}"))

    async def _write(self, run: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            raise StoreError("the event log is not open")
        return await self._writer.write(run)

    async def _read(self, run: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._read_conn
        if conn is None:
            raise StoreError("the event log is not open")
        try:
            return await wait_unlocked(lambda: run(conn), self._lock_timeout)
        except sqlite3.Error as exc:
            raise StoreError(f"event log read failed: {exc}") from None

    # -- ingest --

    async def append(
        self,
        events: Sequence[Event],
        path_context: str | None,
        *,
        received_at: datetime | None = None,
    ) -> Receipt:
        """Insert the new events in the next shared transaction; return after its commit."""
        if not events:
            return Receipt(0, 0)
        received = iso(received_at or datetime.now(UTC))
        context = maybe_utf8_text(path_context)
        rows = [
            (
                utf8_text(e.identity),
                utf8_text(e.type),
                utf8_text(e.full_type),
                str(e.dialect),
                lane_of(e.call_id),
                maybe_utf8_text(e.operation_context),
                e.sequence if e.sequence is not None and -INT64 <= e.sequence < INT64 else None,
                iso(e.time) if e.time is not None else None,
                received,
                context,
                e.raw,
            )
            for e in events
        ]
        lanes = {row[4] for row in rows}

        def insert(conn: sqlite3.Connection) -> Receipt:
            accepted = conn.executemany(_INSERT_EVENT, rows).rowcount
            if accepted:
                now = time.time()
                conn.executemany(LANE_HAS_WORK, [(lane, now) for lane in lanes])
            return Receipt(accepted, len(rows) - accepted)

        return await self._write(insert)

    # -- claims --

    async def recover(self, owner: str) -> int:
        """Release what an earlier run under ``owner`` held (it died without releasing)."""
        return await self.release_all(owner)

    async def claim_calls(self, owner: str, limit: int, lease: float) -> list[Claim]:
        """Lease up to ``limit`` calls with runnable work to ``owner``, oldest work first."""
        if limit <= 0:
            return []

        def claim(conn: sqlite3.Connection) -> list[Claim]:
            now = time.time()
            rows = conn.execute(_CLAIMABLE, (now, limit)).fetchall()
            expires = now + lease
            conn.executemany(
                "UPDATE lanes SET owner = ?, expires_at = ?, not_before = NULL WHERE lane = ?",
                [(owner, expires, lane) for lane, _ in rows],
            )
            return [
                Claim(call_of(lane), owner, expires, held if held not in (None, owner) else None)
                for lane, held in rows
            ]

        return await self._write(claim)

    async def renew(
        self, owner: str, call_ids: Sequence[str | None], lease: float
    ) -> list[str | None]:
        """Extend ``owner``'s leases; return the calls it no longer holds."""

        def renew(conn: sqlite3.Connection) -> list[str | None]:
            expires = time.time() + lease
            sql = "UPDATE lanes SET expires_at = ? WHERE lane = ? AND owner = ?"
            return [
                call
                for call in call_ids
                if conn.execute(sql, (expires, lane_of(call), owner)).rowcount == 0
            ]

        return await self._write(renew)

    async def next_events(self, call_id: str | None, limit: int) -> list[PendingEvent]:
        """The call's unfinished events in seq order, with earlier outcomes."""

        def select(conn: sqlite3.Connection) -> list[PendingEvent]:
            rows = conn.execute(_NEXT, (lane_of(call_id), limit)).fetchall()
            outcomes = outcomes_by_seq(conn, [row[0] for row in rows if row[8]])
            self._note_without_requests(row[1] for row in rows if not row[9])
            return [pending_event(row[:8], outcomes.get(row[0], ())) for row in rows]

        return await self._read(select)

    async def finish(
        self, owner: str, seq: int, status: EventStatus, outcomes: Sequence[Outcome]
    ) -> None:
        """Set the event's status and add its outcomes, if ``owner`` still holds its call."""
        rows = [
            (
                seq,
                utf8_text(o.handler),
                o.attempt,
                maybe_utf8_text(o.error),
                o.duration,
                iso(o.finished_at),
                maybe_utf8_text(o.replica),
            )
            for o in outcomes
        ]

        def finish(conn: sqlite3.Connection) -> None:
            if conn.execute(_FINISH, (status.value, seq, owner)).rowcount == 0:
                raise ClaimLost(f"event {seq} is gone or its call is no longer held by {owner}")
            conn.executemany("INSERT OR REPLACE INTO outcomes VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

        await self._write(finish)

    async def release(
        self, owner: str, call_id: str | None, *, not_before: float | None = None
    ) -> bool:
        """Give the call back; whether it still has unfinished events."""

        def release(conn: sqlite3.Connection) -> bool:
            lane = lane_of(call_id)
            conn.execute(
                _RELEASE + " WHERE lane = ? AND owner = ?", (not_before, time.time(), lane, owner)
            )
            row = conn.execute("SELECT ready FROM lanes WHERE lane = ?", (lane,)).fetchone()
            return bool(row and row[0])

        return await self._write(release)

    async def release_all(self, owner: str) -> int:
        """Give back every call ``owner`` holds."""

        def release(conn: sqlite3.Connection) -> int:
            return conn.execute(_RELEASE + " WHERE owner = ?", (None, time.time(), owner)).rowcount

        return await self._write(release)
