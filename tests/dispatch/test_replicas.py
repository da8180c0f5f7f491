"""Replicas on one PostgreSQL log: real ``callbacks serve`` processes under load and faults.

Three replicas (distinct names and ports, one schema per test) reach the database through a
TCP proxy that the test can cut. Several posters send ``Tick`` events for many calls to the
replicas in turn and, like Event Grid, send an event again (to the next replica) until it is
acknowledged. Mid-run one replica is SIGKILLed and later the database becomes unreachable for
longer than a lease. The handler (tests/replica_plugin.py) records when each run started and
ended and on which replica, which is what the invariants are checked against.

The proxy runs on this test's event loop, so nothing here may block the loop.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from callbacks.context import Context
from callbacks.dispatch.dispatcher import DispatchConfig, Dispatcher
from callbacks.events import Event
from callbacks.routing import Router
from callbacks.server.intake import IntakeUnavailable
from callbacks.store import EventStatus, open_store
from tests.support.dispatch import context, settled, wait_until
from tests.support.log_bodies import ga_events
from tests.support.postgres import (
    POSTGRES_URL,
    TcpProxy,
    fresh_schema,
    needs_postgres,
    with_options,
)
from tests.support.servers import free_port, start_cli, stop

SECRET = "replica-test-secret-77f3"
LEASE = 2.0
JSON = {"content-type": "application/json"}


def tick(call_id: str, n: int) -> bytes:
    return json.dumps([{
        "id": f"tick-{call_id}-{n}", "type": "Contoso.Test.Tick", "specversion": "1.0",
        "source": f"calling/callConnections/{call_id}",
        "data": {"callConnectionId": call_id, "n": n},
    }]).encode()


@dataclass
class Run:
    """One recorded handler run."""

    call: str
    n: int
    replica: str
    start: float
    end: float
    attempt: int


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema() as name:
        yield name


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy.to(POSTGRES_URL)
    await proxy.start()
    yield proxy
    await proxy.close()


class Replicas:
    """``callbacks serve`` processes sharing one log; stopped (and their output kept) at the end."""

    def __init__(self, store_url: str, records: Path) -> None:
        self.store_url = store_url
        self.records = records
        self.ports: dict[str, int] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.outputs: dict[str, str] = {}

    def start(self, name: str) -> str:
        """Start replica ``name``; its base URL."""
        port = self.ports.setdefault(name, free_port())
        self.processes[name] = start_cli(
            "serve", "--port", str(port), "--store", self.store_url,
            "--handlers", "tests.support.replica_plugin:router", "--lease", str(LEASE),
            "--log-level", "warning",
            # Handlers in the replica's own process: it dispatches from the moment it answers
            # ready, so the calls spread over all three before the kill. A child process starts
            # dispatching half a second or more later, when the others may hold every call.
            "--dispatch", "inline",
            env={
                "CALLBACKS_SECRET": SECRET,
                "CALLBACKS_REPLICA_NAME": name,
                "CALLBACKS_TEST_RECORD_DIR": str(self.records),
            },
        )
        return self.url(name)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    async def stop(self, name: str, sig: int = signal.SIGTERM) -> str:
        """Signal replica ``name`` and collect its output (off the event loop)."""
        process = self.processes[name]
        self.outputs[name] = await asyncio.to_thread(stop, process, sig)
        return self.outputs[name]

    async def stop_all(self) -> None:
        for name, process in self.processes.items():
            if process.returncode is None:
                await self.stop(name)


async def status(http: httpx2.AsyncClient, url: str) -> int | None:
    try:
        return (await http.get(url, timeout=3)).status_code
    except httpx2.TransportError:
        return None


async def wait_status(http: httpx2.AsyncClient, url: str, wanted: int, within: float) -> None:
    deadline = time.monotonic() + within
    while (got := await status(http, url)) != wanted:
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} answered {got}, not {wanted}, for {within} s")
        await asyncio.sleep(0.05)


def runs_of(records: Path) -> list[Run]:
    return [
        Run(**json.loads(line))
        for path in sorted(records.glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line
    ]


@needs_postgres
async def test_replicas_survive_a_sigkill_and_a_database_outage(
    tmp_path: Path, schema: str, proxy: TcpProxy
) -> None:
    calls = [f"call-{i:02d}" for i in range(24)]
    ticks, posters = 24, 6
    total = len(calls) * ticks
    records = tmp_path / "runs"
    records.mkdir()
    store_url = with_options(POSTGRES_URL, netloc=proxy.netloc, schema=schema, timeout=2)
    replicas = Replicas(store_url, records)
    names = ["replica-a", "replica-b", "replica-c"]
    victim = names[-1]
    acked: set[tuple[str, int]] = set()
    answers: dict[str, int] = defaultdict(int)
    seen: dict[str, Any] = {}
    try:
        async with httpx2.AsyncClient(timeout=5) as http:
            for name in names:
                replicas.start(name)
            for name in names:
                await wait_status(http, replicas.url(name) + "/readyz", 200, within=30)

            async def poster(mine: list[str]) -> None:
                turn = random.randrange(len(names))
                for n in range(ticks):
                    for call_id in mine:
                        while True:  # the same event, to the next replica, until it is acked
                            turn += 1
                            base = replicas.url(names[turn % len(names)])
                            try:
                                answer = await http.post(
                                    f"{base}/api/callbacks?secret={SECRET}",
                                    content=tick(call_id, n), headers=JSON,
                                )
                                answers[str(answer.status_code)] += 1
                                if answer.status_code == 200:
                                    acked.add((call_id, n))
                                    break
                            except httpx2.TransportError:
                                answers["refused"] += 1
                            await asyncio.sleep(0.02)

            async def faults() -> None:
                while len(acked) < total // 4:  # noqa: ASYNC110 - polling the posters
                    await asyncio.sleep(0.01)
                seen["killed_at"] = time.time()
                await replicas.stop(victim, signal.SIGKILL)
                while len(acked) < total // 2:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                before = dict(answers)
                await proxy.cut()
                seen["cut_at"] = time.time()
                for name in names[:-1]:
                    await wait_status(http, replicas.url(name) + "/readyz", 503, within=10)
                    assert await status(http, replicas.url(name) + "/healthz") == 200
                await asyncio.sleep(LEASE * 1.5)  # past the leases held when it went away
                seen["outage_503s"] = answers["503"] - before.get("503", 0)
                seen["acked_during_outage"] = len(acked)
                await proxy.restore()
                for name in names[:-1]:
                    await wait_status(http, replicas.url(name) + "/readyz", 200, within=15)
                seen["acked_after_outage"] = len(acked)

            share = [calls[i::posters] for i in range(posters)]
            await asyncio.gather(faults(), *(poster(mine) for mine in share))

            async with open_store(with_options(POSTGRES_URL, schema=schema)) as log:
                deadline = time.monotonic() + 30
                while True:
                    stats = await log.stats()
                    unfinished = stats.by_status.get("pending", 0) + stats.by_status.get(
                        "failed", 0
                    )
                    if stats.by_type.get("Tick") == total and unfinished == 0:
                        break
                    assert time.monotonic() < deadline, stats
                    await asyncio.sleep(0.1)
                logged = {record.id async for record in log.list_events()}
                assert stats.by_status.get("dead", 0) == 0, stats
            metrics = (await http.get(replicas.url(names[0]) + "/metrics")).text
    finally:
        await replicas.stop_all()

    # Acknowledged means logged: nothing acked was lost, through the kill and the outage.
    assert len(acked) == total
    assert {f"tick-{call}-{n}" for call, n in acked} <= logged
    # The outage was real: 503s (never a false 200) while the database was away.
    assert seen["outage_503s"] > 0
    assert answers["503"] >= seen["outage_503s"]
    assert seen["acked_after_outage"] < total, "posting went on after the database came back"

    runs = runs_of(records)
    by_call: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_call[run.call].append(run)
    for call_id in calls:
        ordered = sorted(by_call[call_id], key=lambda run: run.start)
        # Every tick handled at least once, and per call in order: a rerun repeats only the
        # tick that was cut short, so the sequence never goes back.
        assert sorted({run.n for run in ordered}) == list(range(ticks)), call_id
        assert [run.n for run in ordered] == sorted(run.n for run in ordered), call_id
        # Never two runs of one call at once, whichever replicas ran them.
        for earlier, later in itertools.pairwise(ordered):
            assert later.start >= earlier.end, (call_id, earlier, later)

    # Calls were spread over the replicas, and the killed replica's calls were taken over.
    before_kill = [run for run in runs if run.end < seen["killed_at"]]
    assert {run.replica for run in before_kill} == set(names)
    victims_calls = {run.call for run in runs if run.replica == victim}
    assert victims_calls
    for call_id in victims_calls:
        assert any(run.replica != victim and run.start > seen["killed_at"]
                   for run in by_call[call_id]), call_id
    assert all(run.end <= seen["killed_at"] + 0.5 for run in runs if run.replica == victim)

    # The survivors were never restarted, stop cleanly, and said nothing secret.
    for name in names[:-1]:
        assert replicas.processes[name].returncode == 0, replicas.outputs[name]
        assert SECRET not in replicas.outputs[name]
        assert "Traceback" not in replicas.outputs[name], replicas.outputs[name]
    assert "callbacks_events_received_total" in metrics


@needs_postgres
async def test_serve_started_before_the_database_waits_for_it(
    tmp_path: Path, schema: str, proxy: TcpProxy
) -> None:
    await proxy.cut()
    records = tmp_path / "runs"
    records.mkdir()
    replicas = Replicas(with_options(POSTGRES_URL, netloc=proxy.netloc, schema=schema, timeout=1),
                        records)
    base = replicas.start("early")
    try:
        async with httpx2.AsyncClient(timeout=5) as http:
            await wait_status(http, base + "/healthz", 200, within=30)
            assert await status(http, base + "/readyz") == 503
            post = f"{base}/api/callbacks?secret={SECRET}"
            refused = await http.post(post, content=tick("call-1", 0), headers=JSON)
            assert refused.status_code == 503
            assert refused.json()["code"] == "unavailable"
            await proxy.restore()
            await wait_status(http, base + "/readyz", 200, within=20)
            accepted = await http.post(post, content=tick("call-1", 0), headers=JSON)
            assert accepted.json() == {"accepted": 1, "duplicates": 0}
            await wait_until(lambda: len(runs_of(records)) == 1, within=10)
    finally:
        output = await replicas.stop("early")
    assert replicas.processes["early"].returncode == 0, output
    assert "cannot open the event log yet" in output
    assert "Traceback" not in output


# --- the same without PostgreSQL: a log that cannot be opened at start --------------------------


@pytest.fixture
def missing_dir(tmp_path: Path) -> Path:
    return tmp_path / "not-yet"


async def test_dispatcher_waits_for_a_log_it_cannot_open_yet(missing_dir: Path) -> None:
    handled: list[str] = []
    router = Router()

    @router.on("PlayCompleted")
    async def record(event: Event, ctx: Context) -> None:
        handled.append(event.identity)

    store = open_store(f"sqlite:///{missing_dir / 'log.db'}")
    config = DispatchConfig(poll_interval=0.05, stop_timeout=2)
    dispatcher = Dispatcher(store, router, context, config, wait_for_log=True)
    await dispatcher.start()
    try:
        assert not await dispatcher.ready()
        with pytest.raises(IntakeUnavailable):
            await dispatcher.submit(ga_events("call-1", 1), None)
        await asyncio.to_thread(missing_dir.mkdir)
        deadline = time.monotonic() + 10
        while not await dispatcher.ready():
            assert time.monotonic() < deadline, "never opened"
            await asyncio.sleep(0.05)
        assert (await dispatcher.submit(ga_events("call-1", 1), None)).accepted == 1
        await settled(store, "call-1/1", EventStatus.DONE)
        assert handled == ["call-1/1"]
    finally:
        await dispatcher.stop()


async def test_a_dispatcher_still_waiting_for_its_log_stops_at_once(missing_dir: Path) -> None:
    store = open_store(f"sqlite:///{missing_dir / 'log.db'}")
    dispatcher = Dispatcher(store, Router(), context, wait_for_log=True)
    await dispatcher.start()
    started = time.monotonic()
    await dispatcher.stop()
    assert time.monotonic() - started < 1
    assert not await dispatcher.ready()


async def test_without_waiting_a_log_that_cannot_open_fails_start(missing_dir: Path) -> None:
    store = open_store(f"sqlite:///{missing_dir / 'log.db'}")
    dispatcher = Dispatcher(store, Router(), context)
    with pytest.raises(Exception, match="cannot open the event log"):
        await dispatcher.start()


@needs_postgres
async def test_a_replica_cut_off_from_the_log_stops_its_handler_before_its_lease_ends(
    schema: str, proxy: TcpProxy
) -> None:
    # Replica "a" runs a long handler when it loses the database: it cannot renew its lease,
    # and once the lease ends "b" takes the call over. "a" must have stopped by then.
    spans: list[tuple[str, float, float]] = []
    started = asyncio.Event()

    def router_of(owner: str, seconds: float) -> Router:
        router = Router()

        @router.on("PlayCompleted")
        async def slow(event: Event, ctx: Context) -> None:
            begin = time.monotonic()
            started.set()
            try:
                await asyncio.sleep(seconds)
            finally:
                spans.append((owner, begin, time.monotonic()))

        return router

    lease = 1.0
    config = DispatchConfig(lease=lease, poll_interval=0.05, stop_timeout=1, linger=0)
    cut_off = open_store(
        with_options(POSTGRES_URL, netloc=proxy.netloc, schema=schema, timeout=0.5)
    )
    direct = open_store(with_options(POSTGRES_URL, schema=schema))
    a = Dispatcher(cut_off, router_of("a", 3 * lease), context, config, owner="a")
    b = Dispatcher(direct, router_of("b", 0.01), context, config, owner="b")
    await a.start()
    try:
        await a.submit(ga_events("call-1", 1), None)
        await asyncio.wait_for(started.wait(), 5)
        await proxy.cut()
        await b.start()
        await settled(direct, "call-1/1", EventStatus.DONE)
    finally:
        await b.stop()
        await proxy.restore()
        await a.stop()
    (first, a_began, a_ended), (second, b_began, _) = sorted(spans, key=lambda s: s[1])
    assert (first, second) == ("a", "b")
    assert a_ended - a_began < lease, "a's run went on past its lease"
    assert b_began >= a_ended, "both replicas ran the call at once"
