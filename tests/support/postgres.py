"""PostgreSQL test support: the server from CALLBACKS_TEST_POSTGRES_URL, a fresh schema per
test, and a TCP proxy that simulates the database going away and coming back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg
import pytest

POSTGRES_URL = os.environ.get("CALLBACKS_TEST_POSTGRES_URL", "")
needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL,
    reason="PostgreSQL store tests need CALLBACKS_TEST_POSTGRES_URL "
    "(e.g. postgresql://postgres@127.0.0.1:5432/test)",
)


def with_options(url: str, *, netloc: str | None = None, **options: object) -> str:
    """``url`` with query ``options`` added (and its host:port replaced by ``netloc``)."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(options)) if q)
    if netloc is not None:
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{netloc}" if userinfo else netloc
    return urlunsplit((parts.scheme, netloc or parts.netloc, parts.path, query, ""))


@contextlib.asynccontextmanager
async def admin() -> AsyncIterator[asyncpg.Connection[asyncpg.Record]]:
    """A direct connection to the test server, outside any store."""
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        yield conn
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def fresh_schema() -> AsyncIterator[str]:
    """A schema name no other test uses; dropped with everything in it afterwards."""
    name = f"cbtest_{uuid.uuid4().hex[:16]}"
    try:
        yield name
    finally:
        async with admin() as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


class TcpProxy:
    """Forwards a local port to the database; ``cut()`` drops every connection and refuses
    new ones, ``black_hole()`` accepts connections and never answers, ``restore()`` heals."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._silent = False
        self.port = 0

    @classmethod
    def to(cls, url: str) -> TcpProxy:
        """A proxy to the server of ``url``."""
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5432)

    @property
    def netloc(self) -> str:
        """Where clients connect."""
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen (on the same port as before, after a cut)."""
        self._silent = False
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def black_hole(self) -> None:
        """Accept connections but forward nothing, like a hung host."""
        self._silent = True
        self._drop_all()

    async def cut(self) -> None:
        """Drop every connection and stop listening: the database is unreachable."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._drop_all()

    async def restore(self) -> None:
        """Forward again."""
        if self._server is None:
            await self.start()
        self._silent = False

    async def close(self) -> None:
        """Stop everything."""
        await self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if self._silent:
            return  # held open, never answered, until the next cut or restore
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(_pipe(source, sink, (writer, up_writer)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


async def _pipe(
    source: asyncio.StreamReader,
    sink: asyncio.StreamWriter,
    both: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        for writer in both:
            writer.transport.abort()
