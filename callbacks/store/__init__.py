"""The durable event log: one interface (:class:`EventStore`), chosen by URL.

``open_store("sqlite:///callbacks.db")`` (relative path), ``sqlite:////var/lib/cb.db``
(absolute), ``sqlite:///:memory:`` (nothing kept; tests and demos). Query options:

- ``synchronous=normal`` (default): survives the process being killed at any moment
  (``kill -9``, OOM); the last commits may be lost on power loss or an OS crash.
- ``synchronous=full``: the WAL is fsynced at every commit, so it also survives power loss;
  group commit shares one fsync among all requests that arrived during the previous one.
- ``lock_timeout=SECONDS`` (default 5): how long a write waits for another process's lock
  (e.g. ``callbacks events prune`` running beside the server) before failing with 503.

``postgresql://user@host:5432/db?schema=NAME`` (or ``postgres://``): the log shared by
replicas; its options are in :mod:`callbacks.store.postgres.url`, its design in
docs/replicas.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qs, unquote

from callbacks.store.base import (
    Claim,
    ClaimLost,
    EventFilter,
    EventRecord,
    EventStatus,
    EventStore,
    LogMissing,
    LogOutdated,
    OpenPolicy,
    Outcome,
    PendingEvent,
    Receipt,
    ReplayMode,
    ReplayResult,
    RequestRecord,
    RestCall,
    StoreError,
    StoreStats,
)
from callbacks.store.sqlite.schema import Synchronous
from callbacks.store.sqlite.store import SQLiteStore

__all__ = [
    "Claim",
    "ClaimLost",
    "EventFilter",
    "EventRecord",
    "EventStatus",
    "EventStore",
    "LogMissing",
    "LogOutdated",
    "OpenPolicy",
    "Outcome",
    "PendingEvent",
    "Receipt",
    "ReplayMode",
    "ReplayResult",
    "RequestRecord",
    "RestCall",
    "SQLiteStore",
    "StoreError",
    "StoreStats",
    "Synchronous",
    "open_store",
]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]{0,20}):")
_EXAMPLE = "sqlite:///path/to/callbacks.db"


def _sqlite(url: str) -> EventStore:
    rest = url[len("sqlite:") :]
    if not rest.startswith("///"):
        raise ValueError(f"a SQLite event log URL has three slashes: {_EXAMPLE}")
    path, _, query = rest[3:].partition("?")
    path = unquote(path)
    if not path:
        raise ValueError(f"the SQLite event log URL has no path: {_EXAMPLE}")
    options = parse_qs(query, keep_blank_values=True, strict_parsing=False) if query else {}
    unknown = sorted(set(options) - {"synchronous", "lock_timeout"})
    if unknown:
        raise ValueError(
            f"unknown SQLite event log option(s) {', '.join(unknown)}: "
            "use synchronous=normal|full, lock_timeout=SECONDS"
        )
    synchronous = Synchronous.NORMAL
    lock_timeout = 5.0
    if "synchronous" in options:
        try:
            synchronous = Synchronous(options["synchronous"][-1].lower())
        except ValueError:
            raise ValueError("synchronous must be normal or full") from None
    if "lock_timeout" in options:
        try:
            lock_timeout = float(options["lock_timeout"][-1])
        except ValueError:
            lock_timeout = -1.0
        if not 0 < lock_timeout < 3600:
            raise ValueError("lock_timeout must be a number of seconds between 0 and 3600")
    return SQLiteStore(path, synchronous=synchronous, lock_timeout=lock_timeout)


def _postgres(url: str) -> EventStore:
    from callbacks.store.postgres.store import PostgresStore  # asyncpg loads only when it is used

    return PostgresStore(url)


_OPENERS: dict[str, Callable[[str], EventStore]] = {
    "sqlite": _sqlite,
    "postgresql": _postgres,
    "postgres": _postgres,
}


def open_store(url: str) -> EventStore:
    """The store for ``url``, not connected yet: ``await store.open()`` or ``async with``.

    Raises ValueError for a malformed URL or an unknown scheme; the message never repeats
    the URL, which may carry credentials.
    """
    if not isinstance(url, str):
        raise ValueError("the event log URL must be a string")
    match = _SCHEME.match(url)
    if match is None:
        raise ValueError(f"the event log URL must start with a scheme, e.g. {_EXAMPLE}")
    scheme = match.group(1).lower()
    opener = _OPENERS.get(scheme)
    if opener is None:
        supported = ", ".join(f"{name}://" for name in sorted(_OPENERS))
        raise ValueError(f"unsupported event log URL scheme {scheme!r}: use {supported}")
    return opener(url)
