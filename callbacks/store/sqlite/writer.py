"""Group commit for SQLite: many writers, few transactions, no event loop blocked on fsync.

Callers ``await writer.write(op)``; ``op(connection)`` runs on the event loop inside the current
transaction (inserts take microseconds), and the caller resumes only after the COMMIT that holds
its work. Whatever queues while a COMMIT runs shares the next transaction: no fixed gather
window, so a lone request is not delayed and a burst costs one fsync.

Where a COMMIT runs is the writer's ``commit_thread`` (the store chooses it; the dispatching child
of ``callbacks serve`` has every COMMIT on its loop, see ``SQLiteStore.favour_other_writers``).
At ``synchronous=full`` it fsyncs, so it otherwise runs in a dedicated thread and the loop goes
on meanwhile. At ``normal`` it depends on how long the COMMITs take. A short one (a group of
single events: a few hundred microseconds of writes to the WAL) is cheaper on the loop: the hop
to the thread and back, and the two threads taking turns at the GIL, cost more CPU than the
COMMIT itself, and kept the write lock held until the thread got to it. A long one (a group of
10-event arrays, ~1 ms) is better in the thread, where
the loop parses the next requests meanwhile. Measured with ``callbacks serve`` (inline
dispatch, SQLite log at ``normal``), wrk -t2 -c64, 8 s runs alternating. Single events: COMMIT
always in the thread 5 575-5 746 req/s with an ack p99 of 40-44 ms, always on the loop 6 511-6 962
with ~28 ms, with this rule the same as on the loop. 10-event arrays: always on the loop 1 270-1 322
req/s, with this rule 1 585-1 650.

One op's error fails only that op. Ops first run one after the other in the transaction; if one
raises, the transaction is rolled back and the batch runs again with each op under a SAVEPOINT,
so that the others still commit. (Savepoints for every op would cost two statements per op when
nothing fails, which is nearly always.) So an op may run twice, the first run undone: it must act
only through the connection it is given. A failed BEGIN or COMMIT fails every op of the
transaction: nothing is reported written that was not committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from callbacks.store.group_commit import CommitQueue, fail_all
from callbacks.store.records import StoreError

T = TypeVar("T")


def is_locked(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` means another connection holds a lock we must wait for."""
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc)
    )


SPIN = 0.001
"""Seconds during which a locked database is tried again at every loop iteration."""


async def wait_unlocked(run: Callable[[], T], patience: float) -> T:
    """Run ``run`` on the loop, retrying while the database is locked, without blocking.

    The lock is mostly held by another process's short transactions (the dispatcher child of
    ``--dispatch process`` commits ~250 times a second under full load). For the first
    :data:`SPIN` seconds the retry comes at the loop's next iteration, after whatever I/O is
    ready: a timer cannot wait less than a millisecond on uvloop, and every request waiting on
    this commit would wait that long too. Alternating runs (``wrk -t2 -c64 -d8s``, six pairs):
    +13 % requests/s at the median with it. After that the delay doubles from 1 ms and stops
    growing at 4 ms: a longer one only adds to the ack latency (measured: ack p99 ~27 ms
    instead of ~40 ms), and a retry costs a few microseconds.
    """
    started = time.monotonic()
    deadline = started + patience
    spin_until = started + SPIN
    delay = 0.001
    while True:
        try:
            return run()
        except sqlite3.OperationalError as exc:
            now = time.monotonic()
            if not is_locked(exc) or now >= deadline:
                raise
        if now < spin_until:
            await asyncio.sleep(0)
            continue
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.004)


CommitThread = Literal["never", "when slow", "always"]
"""Where a COMMIT runs: on the loop, in the commit thread, or in it after a slow one."""

SLOW_COMMIT = 0.0007
"""A COMMIT on the loop that took longer than this (seconds) sends the next ones to the thread.
Between the two cases measured on this project's machine: a group of single events took
0.24 ms at p50 and 0.53 ms at p99, a group of 10-event arrays 1.06 ms at p50."""
PROBE_EVERY = 16
"""While COMMITs go to the thread, every 16th runs on the loop again, to see if they are still
slow (in the thread, the time would include waiting for the GIL)."""


RECHECK_AFTER = 5.0
"""Seconds after a failed commit before a readiness probe commits a page of its own."""


@dataclass(slots=True)
class _Op:
    run: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]


class GroupCommitWriter(CommitQueue[_Op]):
    """Serialises every write to one connection and shares transactions between them."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        commit_thread: CommitThread,
        lock_timeout: float,
    ) -> None:
        # A full disk may take a commit of one page and still refuse appends: after a failure
        # a readiness probe waits before trying its own.
        super().__init__("callbacks-sqlite-writer", recheck_after=RECHECK_AFTER)
        self._connection = connection
        self._lock_timeout = lock_timeout
        self._always_in_thread = commit_thread == "always"
        self._executor = (
            ThreadPoolExecutor(1, thread_name_prefix="callbacks-sqlite-commit")
            if commit_thread != "never"
            else None
        )
        self._slow = False  # the last COMMIT on the loop took longer than SLOW_COMMIT
        self._in_thread = 0  # COMMITs sent to the thread since the last one on the loop
        self.commits_in_thread = 0
        """COMMITs that ran in the commit thread (the rest ran on the loop)."""

    async def write(self, run: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``run`` in the next transaction; return its result once committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        result: T = await self._submit(_Op(run, future))
        return result

    async def close(self) -> None:
        """Commit what is queued, stop the task and the commit thread."""
        await super().close()
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def _transaction(self, batch: list[_Op]) -> None:
        if not batch or not await self._begin(batch):
            return
        results: list[tuple[_Op, Any, BaseException | None]] | None = self._run_all(batch)
        if results is None:  # an op failed: run them again, each able to fail alone
            self._rollback()
            if not await self._begin(batch):
                return
            results = []
            for op in batch:
                result = self._run_op(op)
                if result is None:  # the whole transaction is gone; nothing of it was written
                    self._rollback()
                    self._commit_failed("a transaction was aborted")
                    fail_all(batch, StoreError("the event log aborted a transaction"))
                    return
                results.append((op, *result))
        try:
            if self._commit_in_thread():
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._executor, self._commit)
                self.commits_in_thread += 1
            else:
                self._slow = self._commit() > SLOW_COMMIT
        except sqlite3.Error as exc:
            self._commit_failed(f"commit failed: {exc}")
            self._rollback()
            fail_all(batch, StoreError(f"the event log could not commit: {exc}"))
            return
        self._committed()
        for op, value, error in results:
            if op.future.done():
                continue
            if error is None:
                op.future.set_result(value)
            else:
                op.future.set_exception(error)

    def _commit_in_thread(self) -> bool:
        if self._executor is None:
            return False
        if self._always_in_thread:
            return True
        if not self._slow or self._in_thread >= PROBE_EVERY:
            self._in_thread = 0
            return False
        self._in_thread += 1
        return True

    def _commit(self) -> float:
        """COMMIT; how long it took."""
        started = time.perf_counter()
        self._connection.execute("COMMIT")
        return time.perf_counter() - started

    async def _begin(self, batch: list[_Op]) -> bool:
        """BEGIN IMMEDIATE, waiting out other writers; False (the batch failed) if it cannot."""
        conn = self._connection
        try:
            await wait_unlocked(lambda: conn.execute("BEGIN IMMEDIATE"), self._lock_timeout)
        except sqlite3.Error as exc:
            self._commit_failed(f"cannot begin a transaction: {exc}")
            fail_all(batch, StoreError(f"the event log cannot begin a transaction: {exc}"))
            return False
        return True

    def _run_all(self, batch: list[_Op]) -> list[tuple[_Op, Any, BaseException | None]] | None:
        """Run every op in the open transaction: their results, or None as soon as one fails."""
        conn = self._connection
        results: list[tuple[_Op, Any, BaseException | None]] = []
        for op in batch:
            try:
                results.append((op, op.run(conn), None))
            except Exception:
                return None
        return results

    def _run_op(self, op: _Op) -> tuple[Any, BaseException | None] | None:
        """Run one op under a savepoint: (value, None), (None, error), or None if aborted."""
        conn = self._connection
        conn.execute("SAVEPOINT op")
        try:
            value = op.run(conn)
        except Exception as exc:
            error: BaseException = (
                StoreError(f"event log write failed: {exc}")
                if isinstance(exc, sqlite3.Error)
                else exc
            )
            try:
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
            except sqlite3.Error:
                return None
            return None if not conn.in_transaction else (None, error)
        conn.execute("RELEASE op")
        return value, None

    def _rollback(self) -> None:
        if self._connection.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._connection.execute("ROLLBACK")
