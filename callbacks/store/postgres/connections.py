"""The PostgreSQL log's connections: two pools, bounded operations, one error mapping.

``ingest`` is one connection for group commits and readiness, so appends never queue behind
the dispatcher's bookkeeping; ``main`` (``pool_size`` connections) serves everything else.
Every operation, connecting included, is bounded by the URL's ``timeout``. asyncpg replaces a
pool's broken connections on the next acquire, which is how the log recovers by itself once
the database is back. Error messages name the URL without its password, and driver messages
are scrubbed of it.

A server process that is terminated (``pg_terminate_backend``, a restart, a failover) sends its
error to an idle pooled connection a few milliseconds before it closes the socket. In between
the pool still lends that connection, and asyncpg refuses to start an operation on it ("cannot
switch to state 12; another operation (2) is in progress": the "operation" is the unread end of
the connection, not a second caller). Such an operation was never sent, so it is run again on
another connection. An operation that loses its connection midway has an unknown outcome: it is
run again only if running it twice is harmless (``idempotent``: reads, renewing and releasing
claims). Without that, a release lost this way left its call claimed until the lease expired.

Errors::

    StoreError       the database is unreachable, timed out, or gave an unknown outcome
     +- rejected     (chosen by the caller) the server refused the statement; nothing written
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeAlias, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from callbacks.store.base import OpenPolicy, StoreError
from callbacks.store.postgres.schema import SCHEMA_VERSION, migrate, schema_version
from callbacks.store.postgres.url import PostgresConfig

T = TypeVar("T")
Conn: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"
"""A connection lent by a pool for one operation."""

FAILURES = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)
"""What the driver raises when the database is unreachable, slow or refuses."""

_RETRIES = 3
_MIGRATION_PATIENCE = 60.0
_RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
# The connection was lost, or the server cannot say whether the statement committed: the
# operation failed as a whole, and it is not retried piecemeal either.
_UNKNOWN = (asyncpg.StatementCompletionUnknownError, asyncpg.TransactionResolutionUnknownError)
_LOST = (*_UNKNOWN, asyncpg.ConnectionDoesNotExistError, asyncpg.AdminShutdownError)
"""The operation's connection went away while it ran: its outcome is unknown."""
_NEVER_SENT = "cannot switch to state"
"""How asyncpg's InternalClientError begins when it refused to start an operation on a
connection still reading another message (see the module's docstring)."""
_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,  # includes the driver's "connection does not exist"
    asyncpg.OperatorInterventionError,  # shutdown, restart, cancelled
    asyncpg.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)


class Database:
    """The pools of one PostgreSQL log, and how operations run on them."""

    def __init__(self, config: PostgresConfig) -> None:
        self.config = config
        self._main: asyncpg.Pool[asyncpg.Record] | None = None
        self._ingest: asyncpg.Pool[asyncpg.Record] | None = None
        self._closed = False
        self.commits = 0
        """Write transactions committed through :meth:`run` with ``write=True``."""

    @property
    def is_open(self) -> bool:
        """Whether the pools are up and not closed."""
        return self._main is not None and not self._closed

    def describe(self, exc: BaseException) -> str:
        """A message for ``exc`` that carries no secret of the URL."""
        if isinstance(exc, TimeoutError):
            return f"no answer within {self.config.timeout:g} s"
        return self.config.scrub(f"{type(exc).__name__}: {exc}")

    async def open(self, policy: OpenPolicy) -> int:
        """Create both pools and create or migrate the schema as ``policy`` allows (once, even
        with replicas starting); how many migrations that took."""
        try:
            ingest = await self._create_pool(1)
            try:
                async with asyncio.timeout(max(self.config.timeout, _MIGRATION_PATIENCE)):
                    async with ingest.acquire() as conn:
                        applied = await self._prepare(conn, policy)
                main = await self._create_pool(self.config.pool_size)
            except BaseException:
                ingest.terminate()
                raise
        except StoreError:
            raise
        except (*FAILURES, ValueError) as exc:
            url, why = self.config.display, self.describe(exc)
            raise StoreError(f"cannot open the event log at {url}: {why}") from None
        self._ingest, self._main = ingest, main
        return applied

    async def _prepare(self, conn: Conn, policy: OpenPolicy) -> int:
        schema = self.config.schema
        if policy.create:
            return await migrate(conn, schema)
        # Read first: a log that must not be created or migrated is left untouched.
        version = await schema_version(conn, schema, policy, self.config.display)
        return await migrate(conn, schema) if version < SCHEMA_VERSION else 0

    def _settings(self) -> dict[str, str]:
        return {"search_path": self.config.schema} if self.config.schema else {}

    async def _create_pool(self, size: int) -> asyncpg.Pool[asyncpg.Record]:
        async with asyncio.timeout(self.config.timeout):
            return await asyncpg.create_pool(
                self.config.dsn,
                min_size=0,  # connect on demand: no background reconnect loop during outages
                max_size=size,
                timeout=self.config.timeout,
                server_settings=self._settings(),
                reset=_keep_session,
            )

    async def connect(self) -> asyncpg.Connection[asyncpg.Record]:
        """A connection of its own (outside the pools), within the timeout."""
        async with asyncio.timeout(self.config.timeout):
            return await asyncpg.connect(
                self.config.dsn, timeout=self.config.timeout, server_settings=self._settings()
            )

    async def close(self) -> None:
        """Close both pools; a pool that does not close in time is dropped."""
        self._closed = True
        for pool in (self._main, self._ingest):
            if pool is None:
                continue
            try:
                async with asyncio.timeout(self.config.timeout):
                    await pool.close()
            except FAILURES:
                pool.terminate()
        self._main = self._ingest = None

    async def ping(self) -> bool:
        """Whether the database answers on the ingest connection (at most 2 s)."""
        pool = self._ingest
        if pool is None or self._closed:
            return False
        try:
            async with asyncio.timeout(min(self.config.timeout, 2.0)), pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except FAILURES:
            return False
        return True

    def _failure(self, exc: BaseException, rejected: type[StoreError]) -> StoreError:
        """The StoreError for a driver failure ``exc``."""
        why = self.describe(exc)
        if isinstance(exc, (*_RETRYABLE, *_UNKNOWN)):
            return StoreError(f"event log write failed: {why}")
        if isinstance(exc, _UNAVAILABLE):  # the URL is named once, when opening fails
            return StoreError(f"the event log is unavailable: {why}")
        # A data or schema error: nothing was written.
        return rejected(f"the event log refused the operation: {why}")

    async def run(
        self,
        op: Callable[[Conn], Awaitable[T]],
        *,
        write: bool = False,
        transaction: bool = False,
        ingest: bool = False,
        rejected: type[StoreError] = StoreError,
        idempotent: bool = False,
    ) -> T:
        """Run ``op`` on a pooled connection within the timeout; retry deadlocks, operations
        that were never sent, and (if ``idempotent``) once one whose connection was lost.

        Database trouble becomes StoreError; a statement the server refused (so nothing of
        it was written) becomes ``rejected``. StoreErrors raised by ``op`` pass through.
        """
        retries = _RETRIES - 1  # deadlocks and serialization failures
        lost_retries = 1 if idempotent else 0
        # Every idle connection may be one a terminated server process left behind: asyncpg
        # drops each as it refuses it, so one more try than the pool holds finds a live one.
        unsent_retries = (1 if ingest else self.config.pool_size) + 1
        while True:
            pool = self._ingest if ingest else self._main
            if pool is None or self._closed:
                raise StoreError("the event log is not open")
            try:
                async with asyncio.timeout(self.config.timeout), pool.acquire() as conn:
                    if transaction:
                        async with conn.transaction():
                            result = await op(conn)
                    else:
                        result = await op(conn)
            except StoreError:
                raise
            except FAILURES as exc:
                if isinstance(exc, _RETRYABLE) and retries:
                    retries -= 1
                elif _never_sent(exc) and unsent_retries:
                    unsent_retries -= 1
                elif isinstance(exc, _LOST) and lost_retries:
                    lost_retries -= 1
                else:
                    raise self._failure(exc, rejected) from None
                continue
            if write:
                self.commits += 1
            return result


def _never_sent(exc: BaseException) -> bool:
    return isinstance(exc, asyncpg.InternalClientError) and str(exc).startswith(_NEVER_SENT)


async def _keep_session(_conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Skip the pool's reset query on release: a round trip per operation for nothing, since
    the log keeps no session state (transaction-level locks only, no LISTEN or SET on pooled
    connections). An open transaction is still rolled back by the pool."""
