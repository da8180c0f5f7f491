"""The SQLite event log: the store contract on a real file, plus what only SQLite has."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from callbacks.events import parse_events
from callbacks.store import (
    EventFilter,
    EventStatus,
    EventStore,
    SQLiteStore,
    StoreError,
    Synchronous,
    open_store,
)
from callbacks.store.sqlite.checkpoint import Checkpointer
from callbacks.store.sqlite.schema import open_connections
from callbacks.store.sqlite.writer import wait_unlocked
from tests.support.log_bodies import ga_element, ga_events
from tests.support.store_contract import StoreContract
from tests.support.store_contract_calls import StoreCallsContract
from tests.support.store_contract_queries import StoreQueriesContract
from tests.support.store_contract_replays import StoreReplaysContract
from tests.support.store_contract_requests import StoreRequestsContract


@pytest.fixture
def make_store(tmp_path: Path) -> Callable[[], EventStore]:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    return lambda: open_store(url)


class TestSQLiteStore(StoreContract, StoreQueriesContract, StoreReplaysContract,
                      StoreRequestsContract, StoreCallsContract):
    """The whole contract against a SQLite file."""


def test_url_paths_and_options(tmp_path: Path) -> None:
    relative = open_store("sqlite:///callbacks.db")
    absolute = open_store(f"sqlite:///{tmp_path}/a%20b.db?synchronous=FULL&lock_timeout=0.5")
    memory = open_store("sqlite:///:memory:")
    assert isinstance(relative, SQLiteStore) and relative.path == "callbacks.db"
    assert isinstance(absolute, SQLiteStore) and absolute.path == f"{tmp_path}/a b.db"
    assert absolute.synchronous is Synchronous.FULL
    assert isinstance(relative, SQLiteStore) and relative.synchronous is Synchronous.NORMAL
    assert isinstance(memory, SQLiteStore) and memory.path == ":memory:"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mongodb://admin:hunter2@db.example/log", "unsupported event log URL scheme"),
        ("mysql://u:hunter2@h/d", "unsupported"),
        ("hunter2", "must start with a scheme"),
        ("sqlite://hunter2.db", "three slashes"),
        ("sqlite:///", "no path"),
        ("sqlite:///x.db?password=hunter2", "unknown SQLite event log option"),
        ("sqlite:///x.db?synchronous=hunter2", "normal or full"),
        ("sqlite:///x.db?lock_timeout=hunter2", "lock_timeout"),
    ],
)
def test_bad_urls_are_refused_without_echoing_them(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        open_store(url)
    assert "hunter2" not in str(caught.value)


async def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    async with open_store(f"sqlite:///{path}?synchronous=full") as store:
        await store.append(ga_events("c", 1), None)
        with sqlite3.connect(path) as other:
            assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert other.execute("SELECT count(*) FROM events").fetchone()[0] == 1


async def test_nul_is_kept_as_sent_so_older_logs_still_dispatch(tmp_path: Path) -> None:
    """SQLite stores NUL as sent (PostgreSQL cannot): a call id with one must come back from a
    claim in a form that finds its lane again, as in logs written before lone surrogates were
    mapped."""
    element = ga_element("call\u0000x", 1, operation_context="menu\u0000")
    element["id"] = "nul\u0000id"
    [event] = parse_events(json.dumps(element).encode())
    async with open_store(f"sqlite:///{tmp_path / 'log.db'}") as store:
        assert store.stored_text("call\u0000x") == "call\u0000x"
        assert (await store.append([event], None)).accepted == 1
        record = await store.get_event("nul\u0000id")
        assert record is not None and record.operation_context == "menu\u0000"
        [claim] = await store.claim_calls("me", 5, 30)
        assert claim.call_id == "call\u0000x"
        [pending] = await store.next_events(claim.call_id, 10)
        assert pending.id == "nul\u0000id"


async def test_memory_store_works_and_keeps_nothing() -> None:
    async with open_store("sqlite:///:memory:") as store:
        receipt = await store.append(ga_events("c", 1, 2, 2), None)
        assert (receipt.accepted, receipt.duplicates) == (2, 1)
        [claim] = await store.claim_calls("o", 5, 30)
        assert [p.id for p in await store.next_events(claim.call_id, 5)] == ["c/1", "c/2"]
    async with open_store("sqlite:///:memory:") as fresh:
        assert (await fresh.stats()).total == 0


async def test_a_failed_transaction_fails_every_waiting_append(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    async with open_store(f"sqlite:///{path}?lock_timeout=0.2") as store:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        results = await asyncio.gather(
            *(store.append(ga_events(f"c{i}", 1), None) for i in range(5)),
            return_exceptions=True,
        )
        assert all(isinstance(r, StoreError) for r in results), results
        assert "hunter2" not in str(results[0])
        blocker.execute("ROLLBACK")
        blocker.close()
        assert (await store.stats()).total == 0
        assert (await store.append(ga_events("c0", 1), None)).accepted == 1
        assert await store.ready()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    async with open_store(f"sqlite:///{path}"):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer"):
        await open_store(f"sqlite:///{path}").open()


async def test_an_unopenable_path_is_a_clear_error(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/missing-dir/log.db")
    with pytest.raises(StoreError, match="cannot open the event log"):
        await store.open()
    assert not await store.ready()


async def test_closed_store_refuses_writes(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/log.db")
    await store.open()
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.append(ga_events("c", 1), None)
    with pytest.raises(StoreError):
        await store.open()


async def test_the_wal_starts_over_under_sustained_writes(tmp_path: Path) -> None:
    """Commits every millisecond leave a passive checkpoint behind for good; without the
    RESTART the WAL would hold every page ever written (here ~40 MB)."""
    path = str(tmp_path / "log.db")
    writer, reader = open_connections(path, Synchronous.NORMAL, 5.0)
    writer.execute("CREATE TABLE blobs (b BLOB)")
    checkpointer = Checkpointer(path, interval=0.01, restart_frames=256)
    checkpointer.start()
    wal = tmp_path / "log.db-wal"
    written = biggest = 0
    try:
        for _ in range(1200):
            await wait_unlocked(lambda: writer.execute("BEGIN IMMEDIATE"), 5.0)
            writer.executemany("INSERT INTO blobs VALUES (?)", [(b"x" * 4000,)] * 8)
            writer.execute("COMMIT")
            written += 8 * 4096
            biggest = max(biggest, wal.stat().st_size)
            await asyncio.sleep(0.001)  # the lock is free between groups, as in a server
    finally:
        await checkpointer.close()
        reader.close()
        writer.close()
    assert biggest < written / 4, f"the WAL grew to {biggest} bytes of {written} written"
    assert checkpointer.restarts > 0


async def test_a_paused_checkpointer_leaves_the_wal_to_another_process(tmp_path: Path) -> None:
    """While paused (another process checkpoints) it copies nothing back; once unpaused it
    catches up."""
    path = str(tmp_path / "log.db")
    writer, reader = open_connections(path, Synchronous.NORMAL, 5.0)
    writer.execute("CREATE TABLE blobs (b BLOB)")
    paused = True
    checkpointer = Checkpointer(
        path, interval=0.01, restart_frames=64, paused=lambda: paused
    )
    checkpointer.start()
    wal = tmp_path / "log.db-wal"

    async def write(groups: int) -> None:
        for _ in range(groups):
            await wait_unlocked(lambda: writer.execute("BEGIN IMMEDIATE"), 5.0)
            writer.executemany("INSERT INTO blobs VALUES (?)", [(b"x" * 4000,)] * 8)
            writer.execute("COMMIT")
            await asyncio.sleep(0.002)

    try:
        await write(40)
        assert checkpointer.restarts == 0
        assert wal.stat().st_size > 40 * 8 * 4096  # every frame ever written is still there
        paused = False
        for _ in range(200):
            await write(1)
            if checkpointer.restarts:
                break
        assert checkpointer.restarts > 0
    finally:
        await checkpointer.close()
        reader.close()
        writer.close()


async def test_a_locked_database_is_tried_again_at_once_then_after_growing_delays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """For the first millisecond at every loop iteration (sleep(0)), then 1, 2, 4, 4 ms."""
    from types import SimpleNamespace

    from callbacks.store.sqlite import writer as sqlite_writer

    clock = [100.0]
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)
        clock[0] += max(delay, 0.0004)  # an iteration of a busy loop takes a while too

    # The module's own references only: the event loop keeps the real clock and sleep.
    monkeypatch.setattr(sqlite_writer, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(sqlite_writer, "asyncio", SimpleNamespace(sleep=sleep))
    failures = 7

    def begin() -> str:
        nonlocal failures
        if failures:
            failures -= 1
            raise sqlite3.OperationalError("database is locked")
        return "begun"

    assert await wait_unlocked(begin, 5.0) == "begun"
    assert delays == [0, 0, 0, 0.001, 0.002, 0.004, 0.004]

    def broken() -> str:
        raise sqlite3.OperationalError("no such table: events")

    delays.clear()
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        await wait_unlocked(broken, 5.0)
    assert delays == []


@pytest.mark.parametrize("favour", [False, True])
async def test_a_store_that_favours_other_writers_commits_on_the_loop(
    tmp_path: Path, favour: bool
) -> None:
    """At ``synchronous=full`` every COMMIT goes to the commit thread, unless the store was
    told that another process waits on its write lock (the dispatching child)."""
    store = SQLiteStore(str(tmp_path / "log.db"), synchronous=Synchronous.FULL)
    if favour:
        store.favour_other_writers()
    await store.open()
    try:
        for n in range(3):
            assert (await store.append(ga_events("c", n + 1), None)).accepted == 1
        writer = store._writer
        assert writer is not None
        assert writer.commits >= 3
        assert writer.commits_in_thread == (0 if favour else writer.commits)
    finally:
        await store.close()


async def test_a_checkpoint_round_runs_only_after_some_connection_committed(
    tmp_path: Path,
) -> None:
    """The checkpointer's connection never writes: it sees the writers' commits through
    ``PRAGMA data_version``, and a round with none since the last checkpoint does nothing."""
    path = str(tmp_path / "log.db")
    writer, reader = open_connections(path, Synchronous.NORMAL, 5.0)
    writer.execute("CREATE TABLE blobs (b BLOB)")
    checkpointer = Checkpointer(path, interval=3600)  # rounds run by hand below

    async def round_() -> int:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(checkpointer._executor, checkpointer._checkpoint)
        return checkpointer.rounds

    try:
        assert await round_() == 1
        assert await round_() == 1  # nothing committed since
        writer.execute("INSERT INTO blobs VALUES (x'00')")
        assert await round_() == 2
        assert await round_() == 2
    finally:
        await checkpointer.close()
        reader.close()
        writer.close()


def _with_statuses(path: Path, statuses: dict[str, str]) -> None:
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "UPDATE events SET status = ? WHERE identity = ?",
            [(status, event_id) for event_id, status in statuses.items()],
        )


async def test_a_calls_events_in_every_status_are_read_through_indexes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call's events are indexed in two halves (unfinished, finished): every reading by call
    must see both halves, in order, and none may scan the log or sort what it reads."""
    monkeypatch.setattr("callbacks.store.sqlite.queries.PAGE", 2)  # pages that cross the halves
    path = tmp_path / "log.db"
    later = datetime.now(UTC) + timedelta(days=2)
    async with open_store(f"sqlite:///{path}") as store:
        await store.append([*ga_events("c", 1, 2, 3, 4, 5), *ga_events("f", 1)], None)
        await store.append(ga_events("e", 1), None, received_at=later)
    _with_statuses(path, {"c/1": "done", "c/2": "failed", "c/3": "dead", "c/5": "done",
                          "e/1": "done", "f/1": "done"})
    with sqlite3.connect(path) as conn:  # e and f have no work left, as release() leaves them
        conn.execute("UPDATE lanes SET ready = 0 WHERE lane IN ('e', 'f')")
    statements: list[str] = []
    async with open_store(f"sqlite:///{path}") as store:
        assert isinstance(store, SQLiteStore)
        for conn in (store._read_conn, store._writer._connection):  # type: ignore[union-attr]
            conn.set_trace_callback(statements.append)
        listed = [r.id async for r in store.list_events(EventFilter(call_id="c"))]
        assert listed == ["c/1", "c/2", "c/3", "c/4", "c/5"]
        newest = [r.id async for r in store.list_events(EventFilter(call_id="c"),
                                                        newest_first=True, limit=3)]
        assert newest == ["c/5", "c/4", "c/3"]
        done = EventFilter(call_id="c", status=EventStatus.DONE)
        assert [r.id async for r in store.list_events(done)] == ["c/1", "c/5"]
        assert [r.id for r in await store.call_history("c")] == listed
        assert [r.id for r in await store.call_history("c", before_seq=5, limit=3)] == [
            "c/2", "c/3", "c/4"
        ]
        # c/1, c/3, c/5 and f/1; e/1 was received after the cutoff
        assert await store.prune(datetime.now(UTC) + timedelta(days=1)) == 4
    with sqlite3.connect(path) as conn:
        # f's lane goes with its last event; e's stays: its one event is finished, not gone
        assert sorted(r[0] for r in conn.execute("SELECT lane FROM lanes")) == ["c", "e"]
        reads = [s for s in statements if "lane =" in s and s.lstrip().startswith(
            ("SELECT", "DELETE FROM lanes"))]
        assert len(reads) >= 8, statements
        for statement in reads:
            plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + statement)]
            assert not any(step.startswith("SCAN events") for step in plan), (statement, plan)
            if "LIMIT" in statement:  # read in index order up to the limit, never sorted
                assert not any("TEMP B-TREE" in step for step in plan), (statement, plan)


async def test_a_log_of_schema_version_2_is_upgraded_with_its_events(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    async with open_store(f"sqlite:///{path}") as store:
        await store.append(ga_events("c", 1, 2, 3), None)
    _with_statuses(path, {"c/1": "done", "c/2": "dead"})
    with sqlite3.connect(path) as conn:  # as version 2 left it
        conn.execute("DROP INDEX events_dead")
        conn.execute("DROP INDEX events_failed")
        conn.execute("ALTER TABLE outcomes DROP COLUMN replica")
        conn.execute("DROP TRIGGER events_pruned_requests")
        conn.execute("DROP TABLE requests")
        conn.execute("DROP INDEX events_finished")
        conn.execute("CREATE INDEX events_by_lane ON events(lane, seq)")
        conn.execute("PRAGMA user_version = 2")
    async with open_store(f"sqlite:///{path}") as store:
        assert [r.id async for r in store.list_events(EventFilter(call_id="c"))] == [
            "c/1", "c/2", "c/3"
        ]
    with sqlite3.connect(path) as conn:
        indexes = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'"
            " AND name NOT LIKE 'sqlite_autoindex%'"
        )}
        assert indexes == {"events_unfinished", "events_finished", "events_dead", "events_failed"}
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 5


def _open_at_once(path: str, barrier: Any, results: Any) -> None:
    """In a child process: open the log as soon as the other process is ready too."""
    barrier.wait()
    try:
        for connection in set(open_connections(path, Synchronous.NORMAL, 5.0)):
            connection.close()
        results.put("ok")
    except StoreError as exc:
        results.put(str(exc))


def test_two_processes_creating_the_same_log_at_once_both_open_it(tmp_path: Path) -> None:
    """Two commands started together on a log that does not exist yet (say, callbacks serve
    and callbacks events stats): both open it, neither fails with "database is locked"."""
    fork = multiprocessing.get_context("fork")
    for trial in range(20):
        path = str(tmp_path / f"log{trial}.db")
        barrier, results = fork.Barrier(2), fork.Queue()
        processes = [
            fork.Process(target=_open_at_once, args=(path, barrier, results)) for _ in range(2)
        ]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=30) for _ in processes]
        for process in processes:
            process.join(timeout=30)
        assert outcomes == ["ok", "ok"], (trial, outcomes)
