"""The SQLite log's schema, its versioned migrations, and how its connections are opened.

Tables: ``events`` (the log; ``seq`` is the arrival order, AUTOINCREMENT so a position is never
reused after pruning), ``outcomes`` (one row per handler run), ``lanes`` (one row per call: does
it have work, who holds it until when, not before when), ``replays`` (one row per replay run
of an event, deleted with it), ``requests`` (one row per REST request of a handler run, deleted
with its event). Outcomes name the replica that ran them. The lane of events outside a call is
the empty string.
"""

from __future__ import annotations

import sqlite3
import time
import urllib.parse
from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

from callbacks.store.records import LogMissing, OpenPolicy, StoreError
from callbacks.store.sqlite.writer import is_locked

T = TypeVar("T")


class Synchronous(StrEnum):
    """SQLite's durability level for the log (``?synchronous=`` in the store URL)."""

    NORMAL = "normal"
    """WAL synced at checkpoints: survives a killed process, may lose the last commits on
    power loss or an OS crash."""
    FULL = "full"
    """WAL synced at every commit: also survives power loss; group commit keeps it cheap."""


UNFINISHED_SQL = "status IN ('pending', 'failed')"
"""Written exactly like the partial index's condition, so SQLite uses that index."""
FINISHED_SQL = "status IN ('done', 'dead')"
"""The other statuses, likewise written like their partial index's condition."""


MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            identity TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            full_type TEXT NOT NULL,
            dialect TEXT NOT NULL,
            lane TEXT NOT NULL,
            operation_context TEXT,
            sequence INTEGER,
            event_time TEXT,
            received_at TEXT NOT NULL,
            path_context TEXT,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            raw BLOB NOT NULL
        )""",
        "CREATE INDEX events_by_lane ON events(lane, seq)",
        f"CREATE INDEX events_unfinished ON events(lane, seq) WHERE {UNFINISHED_SQL}",
        """CREATE TABLE outcomes (
            seq INTEGER NOT NULL,
            handler TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            error TEXT,
            duration REAL NOT NULL,
            finished_at TEXT NOT NULL,
            PRIMARY KEY (seq, handler, attempt)
        ) WITHOUT ROWID""",
        """CREATE TABLE lanes (
            lane TEXT PRIMARY KEY,
            ready INTEGER NOT NULL,
            ready_at REAL NOT NULL,
            owner TEXT,
            expires_at REAL,
            not_before REAL
        ) WITHOUT ROWID""",
        "CREATE INDEX lanes_ready ON lanes(ready_at) WHERE ready = 1",
        "CREATE INDEX lanes_owner ON lanes(owner) WHERE owner IS NOT NULL",
    ),
    (
        # Replay runs, kept apart from the events' own outcomes (callbacks replay).
        # Rows append to a rowid table; only the small index interleaves runs (3x faster
        # inserts than a (seq, run_id) primary key holding the JSON).
        """CREATE TABLE replays (
            seq INTEGER NOT NULL,
            run_id TEXT NOT NULL,
            mode TEXT NOT NULL,
            target TEXT,
            replayed_at TEXT NOT NULL,
            outcomes TEXT NOT NULL,
            requests TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX replays_of_event ON replays(seq, run_id)",
        """CREATE TRIGGER events_pruned_replays AFTER DELETE ON events
            BEGIN DELETE FROM replays WHERE seq = OLD.seq; END""",
    ),
    (
        # A call's events were indexed twice when received: all of them by (lane, seq), and
        # the unfinished ones again. The receiving process paid for both, and it is the one
        # that limits throughput. Now a finished event joins its own index when the dispatcher
        # finishes it, and the two partial indexes together hold every event (a call's events
        # are read through both: sqlite_queries.select_events). Alternating runs of
        # bench/ingest.py's `ours` (wrk -t2 -c64 -d8s, three rounds): 10 254-10 612 req/s
        # before, 11 076-11 364 after; with no lane index for finished events 11 291-11 648.
        "DROP INDEX events_by_lane",
        f"CREATE INDEX events_finished ON events(lane, seq) WHERE {FINISHED_SQL}",
    ),
    (
        # The REST requests of handler runs: a re-run answers completed ones from here.
        """CREATE TABLE requests (
            seq INTEGER NOT NULL,
            handler TEXT NOT NULL,
            idx INTEGER NOT NULL,
            attempt INTEGER NOT NULL,
            operation TEXT NOT NULL,
            method TEXT NOT NULL,
            path TEXT NOT NULL,
            body_hash TEXT NOT NULL,
            status INTEGER,
            duration REAL NOT NULL,
            sent_at TEXT NOT NULL,
            repeatability_id TEXT,
            error_code TEXT,
            answer BLOB,
            replica TEXT,
            PRIMARY KEY (seq, handler, idx, attempt)
        ) WITHOUT ROWID""",
        """CREATE TRIGGER events_pruned_requests AFTER DELETE ON events
            BEGIN DELETE FROM requests WHERE seq = OLD.seq; END""",
    ),
    (
        # Outcomes name the replica that ran them. Dead and failed events get an index of their
        # own, for the console's dead list and the status filter of `callbacks calls list`: an
        # event is appended pending, so neither index costs the receiver anything; only the
        # dispatcher writes them, and only for the few events that fail.
        "ALTER TABLE outcomes ADD COLUMN replica TEXT",
        "CREATE INDEX events_dead ON events(seq) WHERE status = 'dead'",
        "CREATE INDEX events_failed ON events(seq) WHERE status = 'failed'",
    ),
)
"""Migration n brings ``PRAGMA user_version`` from n to n + 1."""

SCHEMA_VERSION = len(MIGRATIONS)


def _connect(path: str, lock_timeout: float, *, create: bool = True) -> sqlite3.Connection:
    # check_same_thread is off because a COMMIT may run in the writer's thread; the writer
    # never uses a connection from two threads at once.
    if not create and path != ":memory:":
        # mode=rw: a file that is not there is an error, never a new empty database.
        path = "file:" + urllib.parse.quote(path) + "?mode=rw"
    return sqlite3.connect(
        path, timeout=lock_timeout, isolation_level=None, check_same_thread=False,
        uri=not create,
    )


def _newer(version: int) -> StoreError:
    return StoreError(
        f"the event log has schema version {version}, newer than this program's "
        f"{SCHEMA_VERSION}: upgrade acs-callbacks"
    )


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION`, in one transaction per database; how many
    migrations that took."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise _newer(version)
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION - int(version)


def _schema_version(conn: sqlite3.Connection, path: str, policy: OpenPolicy) -> int:
    """The log's schema version; refused as :attr:`policy` says (nothing is written here)."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise _newer(version)
    if version == 0 and not policy.create:
        raise LogMissing(f"no event log at {path}: the file holds none")
    if version < SCHEMA_VERSION and not policy.migrate:
        raise policy.outdated(path, version, SCHEMA_VERSION)
    return version


def _refuse_foreign(conn: sqlite3.Connection, path: str) -> None:
    """A database that holds tables but was never an event log (schema version 0) is someone
    else's: opening it as a log would switch it to WAL mode and add our tables to it."""
    # One statement, one snapshot: another process may create the log between two reads.
    version, has_tables = conn.execute(
        "SELECT (SELECT user_version FROM pragma_user_version),"
        " EXISTS (SELECT 1 FROM sqlite_master)"
    ).fetchone()
    if version == 0 and has_tables:
        raise StoreError(
            f"{path} is a SQLite database but not an event log (it holds other tables); "
            "name a new file or an existing log"
        )


def _retry_locked(run: Callable[[], T], patience: float) -> T:
    """``run()``, tried again while the database is locked, for up to ``patience`` seconds.

    For what SQLite's busy timeout does not cover: switching a new file to WAL mode fails at
    once with "database is locked" while another process is creating the same log (measured:
    32 of 60 pairs of processes opening one new log at the same moment, before this)."""
    deadline = time.monotonic() + patience
    delay = 0.001
    while True:
        try:
            return run()
        except sqlite3.OperationalError as exc:
            if not is_locked(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def open_connections(
    path: str, synchronous: Synchronous, lock_timeout: float
) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    """(writer, reader) on ``path``, created or migrated if need be (see :func:`connect_log`)."""
    writer, reader, _ = connect_log(path, synchronous, lock_timeout, _CREATE_AND_MIGRATE)
    return writer, reader


_CREATE_AND_MIGRATE = OpenPolicy()


def connect_log(
    path: str, synchronous: Synchronous, lock_timeout: float, policy: OpenPolicy
) -> tuple[sqlite3.Connection, sqlite3.Connection, int]:
    """(writer, reader, migrations applied) on ``path``, created and migrated as ``policy``
    allows; one shared connection for ``:memory:``. A log already at :data:`SCHEMA_VERSION`
    is not written to.

    Blocking (it may wait for another process's lock): call it off the event loop.
    """
    try:
        writer = _connect(path, lock_timeout, create=policy.create)
    except sqlite3.Error as exc:
        if not policy.create:
            raise LogMissing(f"no event log at {path}") from None
        raise StoreError(f"cannot open the event log at {path}: {exc}") from None
    try:
        _refuse_foreign(writer, path)
        version = _schema_version(writer, path, policy)
        if path != ":memory:":
            mode = _retry_locked(
                lambda: writer.execute("PRAGMA journal_mode = WAL").fetchone()[0], lock_timeout
            )
            if str(mode).lower() != "wal":
                raise StoreError(f"the event log at {path} cannot use WAL mode (got {mode})")
        writer.execute(f"PRAGMA synchronous = {synchronous.value.upper()}")
        if path != ":memory:":  # the store's Checkpointer does it, off the commit path
            writer.execute("PRAGMA wal_autocheckpoint = 0")
        applied = migrate(writer) if version < SCHEMA_VERSION else 0
        # From here on the loop never waits inside SQLite for a lock: it retries instead.
        writer.execute("PRAGMA busy_timeout = 0")
        if path == ":memory:":
            return writer, writer, applied
        reader = _connect(path, 0, create=policy.create)
        reader.execute("PRAGMA query_only = ON")
        return writer, reader, applied
    except sqlite3.Error as exc:
        writer.close()
        raise StoreError(f"cannot open the event log at {path}: {exc}") from None
    except BaseException:
        writer.close()
        raise
