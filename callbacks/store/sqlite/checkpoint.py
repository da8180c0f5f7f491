"""Checkpoint the SQLite WAL in a thread of its own, so no COMMIT ever waits for it.

With SQLite's automatic checkpoint, the COMMIT that crosses the WAL threshold copies pages
into the database file and fsyncs it; every request sharing that commit waits (measured:
commit p50 0.3 ms, p99 23 ms). Here the writer's automatic checkpoint is off and this task
runs ``PRAGMA wal_checkpoint(PASSIVE)`` from its own connection, which never blocks writers.
Durability does not change: a commit is as safe in the WAL as in the database file.

A passive checkpoint alone is not enough under sustained writes. SQLite starts the WAL over
from its beginning only when a write transaction begins while every frame is already copied
back, and with commits every millisecond a passive checkpoint never catches up: the WAL grows
without bound, and COMMITs get slower as it grows, since each one extends the file. ``python
bench/wal.py --no-restart`` (84 000 events of 1.5 KB): WAL 1.2 GB, COMMIT CPU per event 13 us in
the first 160 MB, ~50 us past 500 MB; ``python bench/wal.py``: WAL steady at 90 MB, 9 us. So
once the WAL holds ``restart_frames`` frames, the passive round is followed by a RESTART
checkpoint, so that the next transaction writes the WAL from its beginning again. The RESTART
takes the write lock (waiting up to ``RESTART_PATIENCE_MS`` for it), copies what the passive
round left behind (the frames written meanwhile), fsyncs the database file and waits for readers
to leave the WAL, all while holding it: writes wait that long. Measured under full load with
``--dispatch process`` (when both processes still had a checkpointer): 14 restarts in ~9 s,
each taking 5-20 ms (waiting for the lock included). The writers' event loops do not block
meanwhile: they retry (``wait_unlocked``).

Measured with ``callbacks serve --concurrency 0`` and ``wrk -t2 -c64 -d6s -s bench/post.lua``,
runs alternating: 7 652-9 339 req/s at 116-141 us of server CPU per request before, 10 901-11 429
req/s at 90-97 us with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("callbacks.store.sqlite")

RESTART_FRAMES = 4096
"""WAL frames (pages, 16 MB at 4 KB) past which a checkpoint also restarts the WAL."""
RESTART_PATIENCE_MS = 50
"""SQLite's busy timeout for the restarting checkpoint: how long it waits for the write lock,
and then (holding it) for readers on older snapshots and again for readers to leave the WAL,
before it gives up until the next round. So while a long read runs (``callbacks events list``
filtering a large log on an unindexed column, say), writes can be held back about twice this
long, plus the copy and an fsync, once a round."""


class Checkpointer:
    """Runs a passive checkpoint every ``interval`` seconds while commits keep coming (from any
    connection, in any process), and restarts the WAL once it is long.

    ``paused`` is asked before every round: while it returns True, another process checkpoints
    this log and this one does nothing (``callbacks serve``'s receiving process, while its
    dispatching child runs: the child has the spare CPU, the receiver has none).
    """

    def __init__(
        self,
        path: str,
        *,
        interval: float = 0.5,
        restart_frames: int = RESTART_FRAMES,
        paused: Callable[[], bool] = lambda: False,
    ) -> None:
        self._path = path
        self._interval = interval
        self._restart_frames = restart_frames
        self._paused = paused
        self._seen: int | None = None  # PRAGMA data_version at the last completed checkpoint
        self.rounds = 0
        """Passive checkpoints that ran (rounds that found no new commit do not count)."""
        self.restarts = 0
        """RESTART checkpoints that completed (the next write starts the WAL over)."""
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
        while True:
            await asyncio.sleep(self._interval)
            if self._paused():
                continue
            try:
                await loop.run_in_executor(self._executor, self._checkpoint)
            except sqlite3.Error as exc:  # busy or locked: the next round tries again
                log.debug("event log checkpoint skipped: %s", exc)

    def _checkpoint(self) -> None:
        if self._conn is None:
            self._conn = sqlite3.connect(self._path, isolation_level=None, timeout=0)
        # Changes whenever another connection has committed since the last look: a round
        # without new commits costs this one read of the WAL index.
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version == self._seen:
            return
        _, frames, _ = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self._seen = version  # not before: a round that failed is tried again
        self.rounds += 1
        if frames < self._restart_frames:
            return
        self._conn.execute(f"PRAGMA busy_timeout = {RESTART_PATIENCE_MS}")
        try:
            busy, _, _ = self._conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        finally:
            self._conn.execute("PRAGMA busy_timeout = 0")
        if not busy:
            self.restarts += 1

    def _close_conn(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
