"""The dispatcher on a real SQLite log: per-call order, concurrency, retries, dead events."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest

from callbacks import FileSource
from callbacks.client.automation import CallAutomationClient
from callbacks.client.retry import RetryPolicy
from callbacks.context import Context, context_factory
from callbacks.dispatch.dispatcher import (
    DISPATCH_HANDLER,
    HELD_PER_SLOT,
    DispatchConfig,
    Dispatcher,
)
from callbacks.errors import PermanentError
from callbacks.events import Event
from callbacks.routing import Router
from callbacks.server.intake import IntakeUnavailable
from callbacks.store import EventRecord, EventStatus, open_store
from tests.support.dispatch import context, settled, wait_until
from tests.support.log_bodies import ga_events, incoming_calls, number

FAST = DispatchConfig(backoff=0.05, poll_interval=0.05, lease=5, stop_timeout=2)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'log.db'}"


@pytest.fixture
async def run(url: str) -> AsyncIterator[Callable[..., Any]]:
    """Start a dispatcher on ``url`` with a router and config; stopped at the end."""
    started: list[Dispatcher] = []

    async def start(router: Router, config: DispatchConfig = FAST, **kw: Any) -> Dispatcher:
        dispatcher = Dispatcher(open_store(url), router, context, config, **kw)
        await dispatcher.start()
        started.append(dispatcher)
        return dispatcher

    yield start
    for dispatcher in started:
        await dispatcher.stop()


async def test_calls_run_concurrently_each_in_log_order(run: Callable[..., Any]) -> None:
    handled: dict[str, list[int]] = defaultdict(list)
    running: dict[str, int] = defaultdict(int)
    overlap = {"calls": 0, "same_call": 0}
    router = Router()

    @router.on("PlayCompleted")
    async def record(event: Event, ctx: Context) -> None:
        call = str(event.call_id)
        running[call] += 1
        overlap["same_call"] = max(overlap["same_call"], running[call])
        overlap["calls"] = max(overlap["calls"], sum(1 for n in running.values() if n))
        await asyncio.sleep(random.uniform(0, 0.003))
        handled[call].append(number(event.identity))
        running[call] -= 1

    dispatcher = await run(router)
    calls = [f"call-{i}" for i in range(8)]
    for start in range(1, 16, 3):
        receipts = await asyncio.gather(
            *(dispatcher.submit(ga_events(c, start, start + 1, start + 2), None) for c in calls)
        )
        assert all(r.accepted == 3 for r in receipts)
    for c in calls:
        await settled(dispatcher.store, f"{c}/15", EventStatus.DONE)
    assert all(handled[c] == list(range(1, 16)) for c in calls), dict(handled)
    assert overlap["same_call"] == 1
    assert overlap["calls"] > 1
    stats = await dispatcher.store.stats()
    assert stats.by_status == {"done": 120}


async def test_concurrency_is_bounded(run: Callable[..., Any]) -> None:
    gate = asyncio.Event()
    running: set[str] = set()
    peak = [0]
    router = Router()

    @router.on("*")
    async def block(event: Event, ctx: Context) -> None:
        running.add(str(event.call_id))
        peak[0] = max(peak[0], len(running))
        await gate.wait()
        running.discard(str(event.call_id))

    config = DispatchConfig(concurrency=2, poll_interval=0.05)
    dispatcher = await run(router, config)
    for i in range(5):
        await dispatcher.submit(ga_events(f"c{i}", 1), None)
    await wait_until(lambda: len(running) == 2)
    await asyncio.sleep(0.1)
    assert peak[0] == 2
    gate.set()
    for i in range(5):
        await settled(dispatcher.store, f"c{i}/1", EventStatus.DONE)
    assert peak[0] == 2


async def test_a_lingering_worker_holds_no_slot_and_keeps_its_call(
    run: Callable[..., Any],
) -> None:
    """Two slots: a's drained worker lingers, b's blocks; d still runs at once, and a's next
    event goes to a's lingering worker: no second claim of a."""
    handled: dict[str, float] = {}
    gate = asyncio.Event()
    router = Router()

    @router.on("*")
    async def note(event: Event, ctx: Context) -> None:
        if event.call_id == "b":
            await gate.wait()
        handled[event.identity] = time.monotonic()

    dispatcher = await run(router, DispatchConfig(concurrency=2, linger=5, poll_interval=0.05))
    claims: list[str | None] = []
    claim_calls = dispatcher.store.claim_calls

    async def counted(owner: str, limit: int, lease: float) -> Any:
        found = await claim_calls(owner, limit, lease)
        claims.extend(claim.call_id for claim in found)
        return found

    dispatcher.store.claim_calls = counted
    await dispatcher.submit(ga_events("a", 1), None)
    await wait_until(lambda: "a/1" in handled)
    await asyncio.sleep(0.05)  # a's worker lingers
    await dispatcher.submit(ga_events("b", 1), None)  # b's runs, and blocks
    await asyncio.sleep(0.1)
    sent = time.monotonic()
    await dispatcher.submit(ga_events("d", 1), None)
    await dispatcher.submit(ga_events("a", 2), None)
    try:
        await wait_until(lambda: "d/1" in handled and "a/2" in handled, within=2)
    finally:
        gate.set()
    assert handled["d/1"] - sent < 1 and handled["a/2"] - sent < 1
    assert claims == ["a", "b", "d"]


async def test_a_lingering_worker_woken_waits_for_a_slot(run: Callable[..., Any]) -> None:
    """One slot: while b's handler runs, a's lingering worker learns of a/2 but runs it only
    once b's handler has returned."""
    handled: list[str] = []
    gate = asyncio.Event()
    running: set[str] = set()
    peak = [0]
    router = Router()

    @router.on("*")
    async def note(event: Event, ctx: Context) -> None:
        running.add(event.identity)
        peak[0] = max(peak[0], len(running))
        if event.call_id == "b":
            await gate.wait()
        running.discard(event.identity)
        handled.append(event.identity)

    dispatcher = await run(router, DispatchConfig(concurrency=1, linger=5, poll_interval=0.05))
    await dispatcher.submit(ga_events("a", 1), None)
    await wait_until(lambda: handled == ["a/1"])
    await asyncio.sleep(0.05)  # a's worker lingers, holding no slot
    await dispatcher.submit(ga_events("b", 1), None)
    await wait_until(lambda: running == {"b/1"})
    await dispatcher.submit(ga_events("a", 2), None)
    await asyncio.sleep(0.2)
    assert handled == ["a/1"]  # a/2 waits for the slot b holds
    gate.set()
    await wait_until(lambda: handled == ["a/1", "b/1", "a/2"], within=2)
    assert peak[0] == 1


async def test_lingering_workers_give_their_calls_back_once_as_many_as_allowed_are_held(
    run: Callable[..., Any],
) -> None:
    """One slot holds at most HELD_PER_SLOT calls: with that many lingering, a new call's
    event is still handled at once (the lingering ones give theirs back)."""
    handled: dict[str, float] = {}
    router = Router()

    @router.on("*")
    async def note(event: Event, ctx: Context) -> None:
        handled[event.identity] = time.monotonic()

    dispatcher = await run(router, DispatchConfig(concurrency=1, linger=30, poll_interval=5))
    for n in range(HELD_PER_SLOT):
        await dispatcher.submit(ga_events(f"c{n}", 1), None)
        await wait_until(lambda n=n: f"c{n}/1" in handled)  # type: ignore[misc]
    await asyncio.sleep(0.05)  # all of them linger
    sent = time.monotonic()
    await dispatcher.submit(ga_events("new", 1), None)
    await wait_until(lambda: "new/1" in handled, within=2)
    assert handled["new/1"] - sent < 1


async def test_a_lingering_worker_is_woken_when_the_log_had_to_escape_its_call_id(
    run: Callable[..., Any],
) -> None:
    """The worker holds the call id as the log stores it (a lone surrogate as its escape);
    a new event of that call must still ring its doorbell instead of waiting out the linger."""
    handled: dict[str, float] = {}
    router = Router()

    @router.on("*")
    async def note(event: Event, ctx: Context) -> None:
        handled[event.identity] = time.monotonic()

    dispatcher = await run(router, DispatchConfig(linger=5, poll_interval=5))
    await dispatcher.submit(ga_events("c-\ud800", 1), None)
    await wait_until(lambda: "c-\ud800/1" in handled)
    await asyncio.sleep(0.05)  # the worker lingers
    sent = time.monotonic()
    await dispatcher.submit(ga_events("c-\ud800", 2), None)
    await wait_until(lambda: "c-\ud800/2" in handled, within=2)
    assert handled["c-\ud800/2"] - sent < 1


async def test_concurrency_0_logs_only_and_a_later_dispatcher_handles_the_events(
    run: Callable[..., Any],
) -> None:
    handled: list[str] = []
    router = Router()

    @router.on("*")
    async def record(event: Event, ctx: Context) -> None:
        handled.append(event.identity)

    log_only = await run(router, DispatchConfig(concurrency=0, poll_interval=0.02))
    receipt = await log_only.submit(ga_events("a", 1, 2, 3), None)
    assert (receipt.accepted, await log_only.ready()) == (3, True)
    await asyncio.sleep(0.2)  # several poll intervals: nothing may run
    assert handled == []
    assert (await log_only.store.stats()).by_status == {"pending": 3}
    await log_only.stop()
    dispatcher = await run(router)
    await settled(dispatcher.store, "a/3", EventStatus.DONE)
    assert handled == ["a/1", "a/2", "a/3"]


async def test_a_failing_event_is_retried_with_backoff_then_dead_and_its_call_moves_on(
    run: Callable[..., Any],
) -> None:
    log: list[tuple[str, float, Any]] = []
    router = Router()

    @router.on("PlayCompleted")
    async def flaky(event: Event, ctx: Context) -> None:
        log.append((event.identity, time.monotonic(), ctx))
        if event.identity == "a/1":
            raise RuntimeError("service said no")

    config = DispatchConfig(max_attempts=3, backoff=0.05, backoff_factor=2, poll_interval=0.02)
    dispatcher = await run(router, config)
    await dispatcher.submit(ga_events("a", 1, 2), "tenant-7")
    await dispatcher.submit(ga_events("b", 1, 2), None)
    await wait_until(lambda: any(i == "a/2" for i, _, _ in log))

    order = [i for i, _, _ in log]
    attempts = [(t, ctx) for i, t, ctx in log if i == "a/1"]
    assert [ctx[1:] for _, ctx in attempts] == [(1, "tenant-7"), (2, "tenant-7"), (3, "tenant-7")]
    assert attempts[1][0] - attempts[0][0] >= 0.045
    assert attempts[2][0] - attempts[1][0] >= 0.095
    assert order.index("a/2") > max(n for n, i in enumerate(order) if i == "a/1")
    assert order.index("b/2") < [n for n, i in enumerate(order) if i == "a/1"][1]

    dead = await settled(dispatcher.store, "a/1", EventStatus.DEAD)
    assert dead.attempts == 3
    assert [(o.attempt, o.error) for o in dead.outcomes] == [
        (n, "RuntimeError: service said no") for n in (1, 2, 3)
    ]
    assert {o.handler for o in dead.outcomes} == {flaky.__module__ + "." + flaky.__qualname__}
    await settled(dispatcher.store, "a/2", EventStatus.DONE)
    assert len(log) == 6


async def test_only_the_failed_handler_is_retried(run: Callable[..., Any]) -> None:
    runs: list[str] = []
    router = Router()

    @router.on("PlayCompleted")
    async def first(event: Event, ctx: Context) -> None:
        runs.append("first")

    @router.on("*")
    async def second(event: Event, ctx: Context) -> None:
        runs.append("second")
        if runs.count("second") == 1:
            raise ValueError("not yet")

    dispatcher = await run(router)
    await dispatcher.submit(ga_events("c", 1), None)
    record = await settled(dispatcher.store, "c/1", EventStatus.DONE)
    assert runs == ["first", "second", "second"]
    assert [(o.handler.rsplit(".", 1)[-1], o.attempt, o.ok) for o in record.outcomes] == [
        ("first", 1, True),
        ("second", 1, False),
        ("second", 2, True),
    ]


async def test_a_retried_dead_event_runs_only_its_failed_handlers_again(
    run: Callable[..., Any],
) -> None:
    runs: list[tuple[str, int]] = []
    fixed = False
    router = Router()

    @router.on("PlayCompleted")
    async def steady(event: Event, ctx: Context) -> None:
        runs.append(("steady", ctx[1]))

    @router.on("*")
    async def broken(event: Event, ctx: Context) -> None:
        runs.append(("broken", ctx[1]))
        if not fixed:
            raise ValueError("not yet")

    dispatcher = await run(router, DispatchConfig(max_attempts=2, backoff=0.01, poll_interval=0.02))
    await dispatcher.submit(ga_events("d", 1), None)
    await settled(dispatcher.store, "d/1", EventStatus.DEAD)
    fixed = True
    assert await dispatcher.store.retry(["d/1"]) == 1
    dispatcher.wake()
    record = await settled(dispatcher.store, "d/1", EventStatus.DONE)
    # `events retry` gives the event a fresh round, but what already succeeded stays done.
    assert runs == [("steady", 1), ("broken", 1), ("broken", 2), ("broken", 3)]
    assert [(o.handler.rsplit(".", 1)[-1], o.attempt, o.ok) for o in record.outcomes] == [
        ("steady", 1, True), ("broken", 1, False), ("broken", 2, False), ("broken", 3, True),
    ]


async def test_events_outside_calls_have_their_own_lane(run: Callable[..., Any]) -> None:
    handled: list[str] = []
    router = Router()

    @router.on("*")
    async def record(event: Event, ctx: Context) -> None:
        handled.append(event.identity)

    dispatcher = await run(router)
    await dispatcher.submit(incoming_calls(1, 2, 3) + ga_events("c", 1), None)
    await dispatcher.submit(incoming_calls(4), None)
    await wait_until(lambda: len(handled) == 5)
    incoming = [i for i in handled if i.startswith("incoming")]
    assert incoming == [f"incoming/{n}" for n in range(1, 5)]


async def test_duplicates_reach_handlers_once(run: Callable[..., Any]) -> None:
    handled: list[str] = []
    router = Router()

    @router.on("*")
    async def record(event: Event, ctx: Context) -> None:
        handled.append(event.identity)

    dispatcher = await run(router)
    receipts = await asyncio.gather(
        dispatcher.submit(ga_events("c", 1, 1), None), dispatcher.submit(ga_events("c", 1), None)
    )
    assert sum(r.accepted for r in receipts) == 1
    assert sum(r.duplicates for r in receipts) == 2
    await wait_until(lambda: len(handled) == 1)
    await asyncio.sleep(0.1)
    assert handled == ["c/1"]


async def test_an_event_that_cannot_be_matched_is_dead_and_others_proceed(
    run: Callable[..., Any],
) -> None:
    handled: list[str] = []
    router = Router()

    def broken(call_id: str | None) -> bool:
        if call_id == "bad":
            raise KeyError("matcher bug")
        return True

    @router.on("*", call_id=broken)
    async def record(event: Event, ctx: Context) -> None:
        handled.append(event.identity)

    dispatcher = await run(router)
    await dispatcher.submit(ga_events("bad", 1) + ga_events("good", 1), None)
    await wait_until(lambda: handled == ["good/1"])
    bad = await settled(dispatcher.store, "bad/1", EventStatus.DEAD)
    assert [(o.handler, o.error) for o in bad.outcomes] == [
        (DISPATCH_HANDLER, "KeyError: 'matcher bug'")
    ]


async def test_a_handler_past_its_timeout_fails(run: Callable[..., Any]) -> None:
    router = Router()

    @router.on("*")
    async def slow(event: Event, ctx: Context) -> None:
        await asyncio.sleep(5)

    config = DispatchConfig(handler_timeout=0.05, max_attempts=1, poll_interval=0.05)
    dispatcher = await run(router, config)
    await dispatcher.submit(ga_events("c", 1), None)
    record = await settled(dispatcher.store, "c/1", EventStatus.DEAD)
    assert record.outcomes[0].error is not None
    assert record.outcomes[0].error.startswith("TimeoutError")


async def test_work_logged_by_another_process_is_found_by_polling(
    run: Callable[..., Any], url: str
) -> None:
    runs: list[str] = []
    router = Router()

    @router.on("*")
    async def fail_once(event: Event, ctx: Context) -> None:
        runs.append(event.identity)
        if len(runs) == 1:
            raise RuntimeError("first run fails")

    config = DispatchConfig(max_attempts=1, poll_interval=0.05)
    await run(router, config)
    async with open_store(url) as cli:  # as `callbacks events` in another process would
        await cli.append(ga_events("c", 1), None)
        await wait_until(lambda: runs == ["c/1"])
        await settled(cli, "c/1", EventStatus.DEAD)
        assert await cli.retry(["c/1"]) == 1
        await wait_until(lambda: runs == ["c/1", "c/1"])


async def test_dispatch_starts_soon_after_the_commit(run: Callable[..., Any]) -> None:
    started: dict[str, float] = {}
    router = Router()

    @router.on("*")
    async def record(event: Event, ctx: Context) -> None:
        started[event.identity] = time.perf_counter()

    dispatcher = await run(router, DispatchConfig(poll_interval=1.0))
    lags = []
    for i in range(40):
        await dispatcher.submit(ga_events(f"c{i % 10}", i), None)
        acked = time.perf_counter()
        await wait_until(lambda i=i: f"c{i % 10}/{i}" in started)  # type: ignore[misc]
        lags.append(started[f"c{i % 10}/{i}"] - acked)
        await asyncio.sleep(0.002)
    lags.sort()
    assert lags[int(len(lags) * 0.9)] < 0.05, lags


async def test_submit_answers_unavailable_when_the_log_cannot_commit(
    run: Callable[..., Any], tmp_path: Path
) -> None:
    path = tmp_path / "locked.db"
    dispatcher = Dispatcher(
        open_store(f"sqlite:///{path}?lock_timeout=0.1"), Router(), context, FAST
    )
    await dispatcher.start()
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(IntakeUnavailable):
            await dispatcher.submit(ga_events("c", 1), None)
        blocker.execute("ROLLBACK")
        assert (await dispatcher.submit(ga_events("c", 1), None)).accepted == 1
    finally:
        blocker.close()
        await dispatcher.stop()
    with pytest.raises(IntakeUnavailable):
        await dispatcher.submit(ga_events("c", 2), None)
    assert not await dispatcher.ready()


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="log only"):
        DispatchConfig(concurrency=-1)
    with pytest.raises(ValueError):
        DispatchConfig(max_attempts=0)
    with pytest.raises(ValueError):
        DispatchConfig(backoff=0)
    assert DispatchConfig(backoff=1, backoff_factor=2, backoff_max=5).retry_delay(1) == 1
    assert DispatchConfig(backoff=1, backoff_factor=2, backoff_max=5).retry_delay(3) == 4
    assert DispatchConfig(backoff=1, backoff_factor=2, backoff_max=5).retry_delay(99) == 5


async def test_a_permanent_error_fails_its_handler_once_and_the_event_is_dead_without_retries(
    run: Callable[..., Any],
) -> None:
    ran: list[tuple[str, int]] = []
    router = Router()

    @router.on("*")
    async def gone(event: Event, ctx: Context) -> None:
        ran.append(("gone", len(ran)))
        raise PermanentError("the customer opted out")

    @router.on("*")
    async def flaky(event: Event, ctx: Context) -> None:
        ran.append(("flaky", len(ran)))
        if sum(1 for name, _ in ran if name == "flaky") == 1:
            raise RuntimeError("try again")

    dispatcher = await run(router, DispatchConfig(max_attempts=5, backoff=0.02,
                                                  poll_interval=0.02))
    await dispatcher.submit(ga_events("c", 1), None)
    record = await settled(dispatcher.store, "c/1", EventStatus.DEAD)
    assert [name for name, _ in ran] == ["gone", "flaky", "flaky"]  # gone: once, not retried
    assert [(o.handler.rpartition(".")[2], o.attempt, o.permanent) for o in record.outcomes] == [
        ("gone", 1, True), ("flaky", 1, False), ("flaky", 2, False),
    ]
    assert record.outcomes[0].error == (
        "PermanentError: the customer opted out (permanent: not retried)"
    )
    assert record.attempts == 2

    # A new round (events retry) runs it again: the user may have fixed what it needed.
    assert await dispatcher.store.retry(["c/1"]) == 1
    dispatcher.wake()
    record = await settled(dispatcher.store, "c/1", EventStatus.DEAD)
    assert [name for name, _ in ran] == ["gone", "flaky", "flaky", "gone"]
    assert record.outcomes[-1].attempt == 2


async def dead_after_playing(url: str, client: CallAutomationClient | None) -> EventRecord:
    """The record of one event whose handler plays on its call through ``client``, once it
    is dead (up to 3 runs)."""
    router = Router()

    @router.on("*")
    async def play(event: Event, ctx: Context) -> None:
        await ctx.call.play_media(FileSource("https://example.com/a.wav"))

    dispatcher = Dispatcher(
        open_store(url), router, context_factory(client),
        DispatchConfig(max_attempts=3, backoff=0.02, poll_interval=0.02), owner="t",
    )
    await dispatcher.start()
    try:
        await dispatcher.submit(ga_events("c", 1), None)
        return await settled(dispatcher.store, "c/1", EventStatus.DEAD)
    finally:
        await dispatcher.stop()


@pytest.mark.parametrize(
    ("status", "code", "runs", "permanent"),
    [(404, "CallNotFound", 1, True), (400, "CallEnded", 1, True), (400, "BadMedia", 3, False),
     (500, "Internal", 3, False), (409, "Conflict", 3, False)],
)
async def test_a_call_that_is_gone_is_not_retried_other_rest_errors_are(
    url: str, status: int, code: str, runs: int, permanent: bool
) -> None:
    requests: list[str] = []

    def service(request: httpx2.Request) -> httpx2.Response:
        requests.append(request.url.path)
        return httpx2.Response(status, json={"code": code, "message": "no"})

    client = CallAutomationClient.from_connection_string(
        "endpoint=https://acs.example.com/;accesskey=a2V5", transport=httpx2.MockTransport(service),
        retry=RetryPolicy(attempts=1),
    )
    async with client:
        record = await dead_after_playing(url, client)
    assert len(requests) == runs
    assert [o.permanent for o in record.outcomes] == [permanent] * runs


async def test_a_handler_without_a_client_fails_for_good(url: str) -> None:
    record = await dead_after_playing(url, None)
    [outcome] = record.outcomes
    assert outcome.permanent
    assert outcome.error is not None and outcome.error.startswith("NoClientError: ")


async def test_a_lease_takeover_is_one_json_line_naming_both_replicas_and_the_call(
    run: Callable[..., Any], url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A replica that died holding a call: the next one takes the call over once the lease has
    expired, says so, and its outcomes name it."""
    from callbacks.server.logs import JsonFormatter

    async with open_store(url) as store:
        await store.append(ga_events("call-\u00e9", 1), None)
        assert len(await store.claim_calls("replica-a", 1, 0.05)) == 1
    await asyncio.sleep(0.1)
    caplog.set_level("WARNING", logger="callbacks.dispatch")
    router = Router()

    @router.on("PlayCompleted")
    async def handle(event: Event, ctx: Context) -> None:
        return None

    dispatcher = await run(router, owner="replica-b")
    record = await settled(dispatcher.store, "call-\u00e9/1", EventStatus.DONE)
    assert [o.replica for o in record.outcomes] == ["replica-b"]
    [line] = [r for r in caplog.records if getattr(r, "takeover", False)]
    document = json.loads(JsonFormatter({"replica": "replica-b"}).format(line))
    assert document["call_id"] == "call-\u00e9"
    assert (document["previous_replica"], document["new_replica"]) == ("replica-a", "replica-b")
    assert document["level"] == "warning" and "took over call" in document["message"]
