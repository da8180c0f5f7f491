"""The group-commit queue under both stores: batching, and a bug that does not stop it."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from callbacks.store import StoreError
from callbacks.store.group_commit import CommitQueue, fail_all
from callbacks.store.sqlite.writer import PROBE_EVERY, CommitThread, GroupCommitWriter

T = TypeVar("T")


async def soon(awaitable: Awaitable[T]) -> T:
    """``awaitable``'s result, failing the test rather than hanging if it never comes."""
    return await asyncio.wait_for(awaitable, 5)


@dataclass
class Item:
    value: int
    future: asyncio.Future[int]


class Doubling(CommitQueue[Item]):
    """Commits by doubling; a batch holding 13 hits a 'bug'."""

    def __init__(self) -> None:
        super().__init__("test-writer")
        self.batches: list[list[int]] = []

    async def put(self, value: int) -> int:
        result: int = await self._submit(Item(value, asyncio.get_running_loop().create_future()))
        return result

    async def _transaction(self, batch: list[Item]) -> None:
        self.batches.append([item.value for item in batch])
        await asyncio.sleep(0.01)  # the "commit": writes queued meanwhile share the next one
        if any(item.value == 13 for item in batch):
            raise RuntimeError("bug")
        self._committed()
        for item in batch:
            item.future.set_result(item.value * 2)


async def test_writes_queued_during_a_commit_share_the_next_one() -> None:
    queue = Doubling()
    queue.start()
    results = await soon(asyncio.gather(*(queue.put(n) for n in range(10))))
    await soon(queue.close())
    assert results == [n * 2 for n in range(10)]
    assert queue.commits < 10
    assert sorted(v for batch in queue.batches for v in batch) == list(range(10))


async def test_an_error_in_a_transaction_fails_its_batch_and_the_queue_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = Doubling()
    assert not queue.running  # not before start
    queue.start()
    assert queue._task is not None and queue._task.get_name() == "test-writer"
    with caplog.at_level(logging.WARNING, logger="callbacks.store"):
        with pytest.raises(StoreError) as caught:
            await soon(queue.put(13))
        assert str(caught.value) == "event log write failed: RuntimeError"
        assert queue.failure == "group commit failed: RuntimeError"
        assert await soon(queue.put(4)) == 8
        assert queue.failure is None
    assert [r.getMessage() for r in caplog.records] == [
        "event log: unexpected error in group commit",
        "event log: group commit failed: RuntimeError",
        "event log: commits succeed again",
    ]
    assert queue.running
    await soon(queue.close())
    assert not queue.running
    with pytest.raises(StoreError) as caught:
        await soon(queue.put(1))
    assert str(caught.value) == "the event log is closed"


async def test_sqlite_one_failing_write_in_a_shared_transaction_fails_alone() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (v INTEGER PRIMARY KEY)")
    writer = GroupCommitWriter(conn, commit_thread="never", lock_timeout=1.0)
    writer.start()

    def insert(value: int, *, then_fail: bool = False):  # type: ignore[no-untyped-def]
        def run(c: sqlite3.Connection) -> int:
            c.execute("INSERT INTO t VALUES (?)", (value,))
            if then_fail:  # after a statement: that statement must be undone too
                raise RuntimeError(f"op {value} failed")
            return value

        return run

    ops = [writer.write(insert(n, then_fail=n == 3)) for n in range(6)]
    results = await soon(asyncio.gather(*ops, return_exceptions=True))
    await soon(writer.close())
    assert [r if not isinstance(r, Exception) else str(r) for r in results] == [
        0, 1, 2, "op 3 failed", 4, 5,
    ]
    assert writer.commits == 1  # all six shared one transaction, failure included
    assert [v for (v,) in conn.execute("SELECT v FROM t ORDER BY v")] == [0, 1, 2, 4, 5]


@pytest.mark.parametrize(
    ("commit_thread", "in_thread"), [("never", 0), ("when slow", PROBE_EVERY), ("always", 23)]
)
async def test_sqlite_commits_go_to_the_thread_after_a_slow_one_until_a_probe_finds_them_fast(
    tmp_path: Path, commit_thread: CommitThread, in_thread: int
) -> None:
    conn = sqlite3.connect(tmp_path / "log.db", isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE t (v BLOB)")
    writer = GroupCommitWriter(conn, commit_thread=commit_thread, lock_timeout=1.0)
    writer.start()

    def insert(size: int) -> Callable[[sqlite3.Connection], None]:
        return lambda c: c.execute("INSERT INTO t VALUES (?)", (b"x" * size,)).close()

    for _ in range(2):
        await soon(writer.write(insert(10)))
    await soon(writer.write(insert(32_000_000)))  # writing 32 MB to the WAL: far over SLOW_COMMIT
    for _ in range(PROBE_EVERY + 4):  # in the thread, then a probe on the loop finds them fast
        await soon(writer.write(insert(10)))
    await soon(writer.close())
    assert writer.commits == PROBE_EVERY + 7
    assert writer.commits_in_thread == in_thread
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (PROBE_EVERY + 7,)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Flaky(CommitQueue[Item]):
    """Commits (doubling) unless ``down``; then the whole transaction fails."""

    def __init__(self, clock: Clock, recheck_after: float = 5.0) -> None:
        super().__init__("test-flaky", recheck_after=recheck_after, clock=clock)
        self.down = False
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def put(self, value: int) -> int:
        result: int = await self._submit(Item(value, asyncio.get_running_loop().create_future()))
        return result

    async def _transaction(self, batch: list[Item]) -> None:
        self.started.set()
        await self.release.wait()
        if self.down:
            self._commit_failed("commit failed: disk full")
            fail_all(batch, StoreError("the event log could not commit: disk full"))
            return
        self._committed()
        for item in batch:
            item.future.set_result(item.value * 2)


async def probe_ok() -> None:
    return None


async def probe_down() -> None:
    raise StoreError("still down")


async def test_a_failed_commit_is_remembered_until_one_succeeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    queue = Flaky(clock)
    queue.start()
    assert queue.failure is None and await soon(queue.recheck(probe_down))
    queue.down = True
    with caplog.at_level(logging.WARNING, logger="callbacks.store"):
        with pytest.raises(StoreError):
            await soon(queue.put(1))
        assert queue.failure == "commit failed: disk full"
        assert not await soon(queue.recheck(probe_ok))  # too soon after the failure to probe
        queue.down = False
        assert await soon(queue.put(2)) == 4  # a real commit: ready again at once
        assert queue.failure is None and await soon(queue.recheck(probe_down))
    assert [r.getMessage() for r in caplog.records] == [
        "event log: commit failed: disk full", "event log: commits succeed again",
    ]
    assert queue.commits == 1
    await soon(queue.close())


async def test_after_a_failure_readiness_probes_with_a_commit_of_its_own() -> None:
    clock = Clock()
    queue = Flaky(clock, recheck_after=5.0)
    queue.start()
    queue.down = True
    with pytest.raises(StoreError):
        await soon(queue.put(1))
    clock.now += 4.9
    assert not await soon(queue.recheck(probe_ok))  # not yet: no probe
    clock.now += 0.1
    assert not await soon(queue.recheck(probe_down))  # the probe failed: wait again
    assert queue.failure == "readiness probe failed: still down"
    clock.now += 4.9
    assert not await soon(queue.recheck(probe_ok))
    clock.now += 0.1
    assert await soon(queue.recheck(probe_ok))  # no traffic needed to be ready again
    assert queue.failure is None
    assert queue.commits == 0  # the probe is not counted as one of the log's commits
    await soon(queue.close())


async def test_with_no_wait_a_probe_runs_at_once() -> None:
    clock = Clock()  # and it stands still: the probe fails at the very time of the failure
    queue = Flaky(clock, recheck_after=0.0)
    queue.start()
    queue.down = True
    with pytest.raises(StoreError):
        await soon(queue.put(1))
    assert not await soon(queue.recheck(probe_down))
    assert queue.failure == "readiness probe failed: still down"
    assert await soon(queue.recheck(probe_ok))
    assert queue.failure is None
    await soon(queue.close())


async def test_the_commit_failed_line_is_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    queue = Flaky(clock)
    queue.start()
    queue.down = True
    with caplog.at_level(logging.ERROR, logger="callbacks.store"):
        for _ in range(50):
            with pytest.raises(StoreError):
                await soon(queue.put(1))
            clock.now += 0.01  # 50 failures in half a second: one line
        assert [r.getMessage() for r in caplog.records] == ["event log: commit failed: disk full"]
        clock.now = 105.0  # exactly LINE_INTERVAL after the first line
        with pytest.raises(StoreError):
            await soon(queue.put(1))
    assert caplog.records[-1].getMessage() == (
        "event log: commit failed: disk full (49 more failed commits since the last line)"
    )
    assert len(caplog.records) == 2
    await soon(queue.close())


async def test_close_commits_what_was_queued_before_it_returns() -> None:
    queue = Flaky(Clock())
    queue.start()
    queue.release.clear()  # the first transaction waits: later puts queue up behind it
    puts = [asyncio.create_task(queue.put(0))]
    await soon(queue.started.wait())
    puts += [asyncio.create_task(queue.put(n)) for n in range(1, 5)]
    for _ in range(3):
        await asyncio.sleep(0)
    closing = asyncio.create_task(queue.close())
    await asyncio.sleep(0.01)
    assert not closing.done()  # close waits for the commits, it does not cut them short
    with pytest.raises(StoreError, match="closed"):
        await soon(queue.put(99))  # nothing new once closing
    queue.release.set()
    await soon(closing)
    assert all(put.done() for put in puts)  # settled before close returned
    assert [put.result() for put in puts] == [0, 2, 4, 6, 8]
    assert queue.commits == 2  # the first item alone, then the four queued behind it
    assert not queue.running


async def test_cancelling_the_writer_mid_transaction_fails_every_write_instead_of_hanging() -> None:
    queue = Flaky(Clock())
    queue.start()
    queue.release.clear()
    running = asyncio.create_task(queue.put(1))  # in the transaction when the writer dies
    await soon(queue.started.wait())
    queued = [asyncio.create_task(queue.put(n)) for n in (2, 3)]  # waiting for the next one
    await asyncio.sleep(0)
    assert queue._task is not None
    queue._task.cancel()
    results = await asyncio.wait_for(
        asyncio.gather(running, *queued, return_exceptions=True), 1
    )
    assert [str(r) for r in results] == ["the event log was shut down"] * 3
    assert all(isinstance(r, StoreError) for r in results)
    assert queue._task.cancelled()
    assert not queue.running
    assert queue.commits == 0
    with pytest.raises(StoreError, match="closed"):
        await soon(queue.put(4))


async def test_a_probe_that_fails_in_the_queue_is_one_failure_not_two(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    queue = Flaky(clock, recheck_after=1.0)
    queue.start()
    queue.down = True
    with caplog.at_level(logging.ERROR, logger="callbacks.store"):
        with pytest.raises(StoreError):
            await soon(queue.put(1))
        clock.now += 1.0
        assert not await soon(queue.recheck(lambda: queue.put(2)))  # a probe through the queue
        assert queue.failure == "commit failed: disk full"
        clock.now += 4.0
        with pytest.raises(StoreError):
            await soon(queue.put(3))
    assert [r.getMessage() for r in caplog.records] == [
        "event log: commit failed: disk full",
        "event log: commit failed: disk full (1 more failed commits since the last line)",
    ]
    await soon(queue.close())


async def test_by_default_readiness_probes_at_once_after_a_failure() -> None:
    queue = Doubling()
    queue.start()
    with pytest.raises(StoreError):
        await soon(queue.put(13))
    assert await soon(queue.recheck(probe_ok))
    await soon(queue.close())
