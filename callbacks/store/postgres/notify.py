"""Wake-ups across replicas: one connection LISTENs for "new work" notifications.

Appends (and ``callbacks events retry``, from any process) notify at commit, in the same
statement that logs the events. The listener calls its subscribers on every notification
for its log, and once more each time it (re)connects, since notifications sent while it was
disconnected are lost. The dispatcher's polling stays the fallback: a lost notification
costs latency, never an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

log = logging.getLogger("callbacks.store.postgres")

CHANNEL = "acs_callbacks_work"
"""The notification channel; the payload names the log's schema (empty for the default)."""

_FAILURES = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)


class WorkListener:
    """Keeps a LISTEN connection open (reconnecting with backoff) and calls the subscribers."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        payload: str,
        subscribers: list[Callable[[], object]],
        *,
        keepalive: float = 30.0,
        max_backoff: float = 5.0,
    ) -> None:
        self._connect = connect
        self._payload = payload
        self._subscribers = subscribers
        self._keepalive = keepalive
        self._max_backoff = max_backoff
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        """Set while the LISTEN is in place (tests wait on it)."""

    def start(self) -> None:
        """Start listening in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="callbacks-postgres-listen")

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _notify(self) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber()
            except Exception:  # one broken subscriber must not silence the others
                log.exception("event log: a new-work subscriber failed")

    def _on_notification(
        self, _conn: object, _pid: int, _channel: str, payload: object
    ) -> None:
        if payload == self._payload:
            self._notify()

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                conn = await self._connect()
            except _FAILURES as exc:
                log.debug("event log: cannot listen for new work yet: %s", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            try:
                await self._listen(conn)
                delay = 0.1
            except _FAILURES as exc:
                log.info("event log: listening for new work stopped: %s", type(exc).__name__)
            finally:
                self.connected.clear()
                conn.terminate()  # never wait on a connection that may be dead

    async def _listen(self, conn: asyncpg.Connection) -> None:
        """Listen on ``conn`` until it is closed or stops answering."""
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(CHANNEL, self._on_notification)
        self.connected.set()
        self._notify()  # work logged while we were not listening
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._keepalive):
                    await lost.wait()
            if not lost.is_set():  # a half-open connection is only found by using it
                await conn.fetchval("SELECT 1", timeout=self._keepalive)
