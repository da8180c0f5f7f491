"""Checkpoint the SQLite WAL in a thread of its own, so no COMMIT ever waits for it.

With SQLite's automatic checkpoint, the COMMIT that crosses the WAL threshold copies pages
into the database file and fsyncs it; every request sharing that commit waits (measured:
commit p50 0.3 ms, p99 23 ms). Here the writer's automatic checkpoint is off and this task
runs ``PRAGMA wal_checkpoint(PASSIVE)`` from its own connection, which never blocks writers.
Durability does not change: a commit is as safe in the WAL as in the database file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("callbacks.store.sqlite")


class Checkpointer:
    """Runs a passive checkpoint every ``interval`` seconds while commits keep coming."""

    def __init__(self, path: str, commits: Callable[[], int], *, interval: float = 0.5) -> None:
        self._path = path
        self._commits = commits
        self._interval = interval
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="callbacks-sqlite-checkpoint")
        self._conn: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start checkpointing on the running loop."""
        self._task = asyncio.create_task(self._run(), name="callbacks-sqlite-checkpoint")

    async def close(self) -> None:
        """Stop, and close the checkpoint connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close_conn)
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        seen = self._commits()
        while True:
            await asyncio.sleep(self._interval)
            now = self._commits()
            if now == seen:
                continue
            seen = now
            try:
                await loop.run_in_executor(self._executor, self._checkpoint)
            except sqlite3.Error as exc:  # busy or locked: the next round tries again
                log.debug("event log checkpoint skipped: %s", exc)

    def _checkpoint(self) -> None:
        if self._conn is None:
            self._conn = sqlite3.connect(self._path, isolation_level=None, timeout=0)
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    def _close_conn(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
