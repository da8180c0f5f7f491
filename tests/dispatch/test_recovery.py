"""Nothing logged is lost: graceful stop with runs in flight, and recovery after a SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest

from callbacks.context import Context
from callbacks.dispatch.dispatcher import DispatchConfig, Dispatcher
from callbacks.events import Event
from callbacks.routing import Router
from callbacks.server.intake import IntakeUnavailable
from callbacks.store import EventFilter, EventStatus, open_store
from tests.support import ROOT
from tests.support.dispatch import context, settled, wait_until
from tests.support.log_bodies import ga_events

FAST = DispatchConfig(backoff=0.05, poll_interval=0.05, lease=5, stop_timeout=2)


def recording_router(handled: list[str], started: list[str] | None = None) -> Router:
    """A router whose one handler records every event identity it finishes."""
    router = Router()

    @router.on("*")
    async def record(event: Event, ctx: Context) -> None:
        if started is not None:
            started.append(event.identity)
        handled.append(event.identity)

    return router


async def statuses(url: str) -> dict[str, EventStatus]:
    """Every logged event's status, read through a fresh store."""
    async with open_store(url) as store:
        return {r.id: r.status async for r in store.list_events(EventFilter())}


async def test_stop_lets_running_handlers_finish_and_keeps_the_rest_pending(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    running, release = asyncio.Event(), asyncio.Event()
    handled: list[str] = []
    router = Router()

    @router.on("*")
    async def slow(event: Event, ctx: Context) -> None:
        running.set()
        await release.wait()
        handled.append(event.identity)

    dispatcher = Dispatcher(open_store(url), router, context, FAST)
    await dispatcher.start()
    await dispatcher.submit(ga_events("c", 1, 2, 3), None)
    await running.wait()
    stopping = asyncio.create_task(dispatcher.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waiting for the run in flight
    with pytest.raises(IntakeUnavailable):
        await dispatcher.submit(ga_events("c", 4), None)
    assert not await dispatcher.ready()
    release.set()
    await stopping
    assert handled == ["c/1"]
    assert await statuses(url) == {
        "c/1": EventStatus.DONE,
        "c/2": EventStatus.PENDING,
        "c/3": EventStatus.PENDING,
    }

    again: list[str] = []
    restarted = Dispatcher(open_store(url), recording_router(again), context, FAST)
    await restarted.start()
    try:
        await settled(restarted.store, "c/3", EventStatus.DONE)
    finally:
        await restarted.stop()
    assert again == ["c/2", "c/3"]


async def test_a_run_past_the_stop_timeout_is_cancelled_and_runs_again_later(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    running = asyncio.Event()
    router = Router()

    @router.on("*")
    async def stuck(event: Event, ctx: Context) -> None:
        running.set()
        await asyncio.sleep(60)

    config = DispatchConfig(poll_interval=0.05, stop_timeout=0.1)
    dispatcher = Dispatcher(open_store(url), router, context, config, owner="a")
    await dispatcher.start()
    await dispatcher.submit(ga_events("c", 1), None)
    await running.wait()
    began = time.monotonic()
    await dispatcher.stop()
    assert time.monotonic() - began < 1.5
    assert await statuses(url) == {"c/1": EventStatus.PENDING}

    # another owner takes the call at once: stop released it instead of letting it expire
    again: list[str] = []
    restarted = Dispatcher(open_store(url), recording_router(again), context, FAST, owner="b")
    await restarted.start()
    try:
        record = await settled(restarted.store, "c/1", EventStatus.DONE)
    finally:
        await restarted.stop()
    assert again == ["c/1"]
    assert [(o.attempt, o.ok) for o in record.outcomes] == [(1, True)]


CRASHING_SERVER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from callbacks.dispatch.dispatcher import DispatchConfig, Dispatcher
    from callbacks.routing import Router
    from callbacks.store import open_store
    from tests.support.log_bodies import ga_events

    url, marks, owner, lease = sys.argv[1], Path(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    router = Router()

    @router.on("*")
    async def handle(event, ctx):
        with marks.open("a") as out:
            out.write(event.identity + "\\n")
        if event.identity == "c/3":
            await asyncio.sleep(3600)  # killed while this run is in flight

    async def main():
        config = DispatchConfig(lease=lease, poll_interval=0.05)
        dispatcher = Dispatcher(open_store(url), router, lambda *a: None, config, owner=owner)
        await dispatcher.start()
        await dispatcher.submit(ga_events("c", 1, 2, 3, 4, 5) + ga_events("d", 1, 2), None)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


@pytest.mark.parametrize(
    ("crashed_owner", "lease", "successor"),
    [("host-1", 600.0, "host-1"), ("host-1", 0.5, "host-2")],
    ids=["same-owner-recovers-at-once", "other-owner-after-the-lease"],
)
async def test_events_of_a_killed_process_are_dispatched_after_restart(
    tmp_path: Path, crashed_owner: str, lease: float, successor: str
) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    marks = tmp_path / "handled.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [url, str(marks), crashed_owner, str(lease)]
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASHING_SERVER, *args, env=env, cwd=ROOT
    )
    try:
        await wait_until(lambda: marks.exists() and "c/3" in marks.read_text(), within=20)
        await wait_until(lambda: "d/2" in marks.read_text())
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    before = marks.read_text().split()
    assert before.index("c/1") < before.index("c/2") < before.index("c/3")

    handled: list[str] = []
    restarted = Dispatcher(open_store(url), recording_router(handled), context, FAST,
                           owner=successor)
    await restarted.start()
    began = time.monotonic()
    try:
        await settled(restarted.store, "c/5", EventStatus.DONE)
    finally:
        await restarted.stop()
    assert handled == ["c/3", "c/4", "c/5"]  # the interrupted run again, then the rest
    if successor == crashed_owner:
        assert time.monotonic() - began < lease / 2
    final = await statuses(url)
    assert set(final.values()) == {EventStatus.DONE}
    assert len(final) == 7


async def test_a_log_only_process_leaves_its_owner_s_claims_to_the_dispatching_one(
    tmp_path: Path,
) -> None:
    """Under --dispatch process the server (concurrency 0) and its child share an owner name:
    the server opening the log, even after the child (a database that came up late), must not
    take back the calls the child holds for runs in progress."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    async with open_store(url) as store:
        await store.append(ga_events("c", 1), None)
        [claim] = await store.claim_calls("host-1", 10, 600.0)  # the child, mid-run
        assert claim.call_id == "c"
        log_only = Dispatcher(open_store(url), Router(), context,
                              DispatchConfig(concurrency=0), owner="host-1")
        await log_only.start()
        try:
            assert await store.claim_calls("host-2", 10, 600.0) == []  # still held
        finally:
            await log_only.stop()
        assert await store.claim_calls("host-2", 10, 600.0) == []  # and not released at stop
