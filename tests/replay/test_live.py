"""``callbacks replay --live`` against the emulator: the handlers act again, on purpose.

A re-run of a handler for the same event is answered from the log (a play is not sent twice);
a live replay is salted, so it acts again: fresh repeatability ids for what the service
de-duplicates, and no answer from the log for the rest."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from callbacks.client.automation import CallAutomationClient
from callbacks.client.retry import RetryPolicy
from callbacks.context import context_factory
from callbacks.dispatch.dispatcher import DispatchConfig, Dispatcher
from callbacks.dispatch.journal import log_journals
from callbacks.emulator import RunningEmulator, serve_asgi, serve_emulator
from callbacks.identifiers import CommunicationUserIdentifier
from callbacks.replay.clients import CallRecorder, RecordingTransport
from callbacks.replay.sources import ReplayItem
from callbacks.replay.targets import HandlerTarget, TargetUnreachable
from callbacks.store import EventStatus, ReplayMode, open_store
from tests.support.emulator_harness import fast_config
from tests.support.log_bodies import ga_events
from tests.support.replay_plugin import router
from tests.support.servers import ROOT, free_port

PLUGIN = "tests.support.replay_plugin:router"
CALLS = 3


@pytest.fixture
async def sink_url() -> AsyncIterator[str]:
    """Where the emulator posts the calls' callbacks (answered 200, not looked at)."""

    async def ok(request: Request) -> Response:
        return Response(status_code=200)

    async with serve_asgi(Starlette(routes=[Route("/{path:path}", ok, methods=["POST"])])) as url:
        yield url


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with serve_emulator(fast_config()) as running:
        yield running


async def place_calls(running: RunningEmulator, sink_url: str) -> list[str]:
    async with CallAutomationClient.from_connection_string(running.connection_string) as client:
        calls = [
            (await client.create_call(
                CommunicationUserIdentifier(f"8:acs:resource_callee{i}"),
                f"{sink_url}/api/callbacks",
            )).call_connection_id
            for i in range(CALLS)
        ]
    await asyncio.sleep(0.3)  # every callee answers after 20 ms
    return calls


async def dispatch_once(db: Path, running: RunningEmulator, calls: list[str]) -> None:
    """What `callbacks serve` did when the events came: each handler acted once."""
    store = open_store(f"sqlite:///{db}")
    async with CallAutomationClient.from_connection_string(running.connection_string) as client:
        dispatcher = Dispatcher(
            store, router, context_factory(client, journals=log_journals(store, "original")),
            DispatchConfig(poll_interval=0.02), owner="original",
        )
        await dispatcher.start()
        for call in calls:
            await dispatcher.submit(ga_events(call, 1, 2), None)
        for _ in range(200):
            if (await store.stats()).by_status == {"done": 2 * CALLS}:
                break
            await asyncio.sleep(0.02)
        await dispatcher.stop()


def run_replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "callbacks"), "replay", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )


def executed_plays(running: RunningEmulator) -> list[Any]:
    return [
        r for r in running.emulator.journal.requests
        if r.operation == "play" and r.status == 202 and not r.replayed
    ]


async def test_a_live_replay_acts_again_with_new_repeatability_ids(
    emulator: RunningEmulator, sink_url: str, tmp_path: Path
) -> None:
    db = tmp_path / "log.db"
    calls = await place_calls(emulator, sink_url)
    await dispatch_once(db, emulator, calls)
    assert len(executed_plays(emulator)) == 2 * CALLS

    # The same handler run again for the same event (a retry, another replica) finds its
    # completed play in the log and does not send it again: the service would play it twice.
    store = open_store(f"sqlite:///{db}")
    async with store, CallAutomationClient.from_connection_string(
        emulator.connection_string
    ) as client:
        event = ga_events(calls[0], 1)[0]
        route = router.match(event)[0]
        again = context_factory(client, journals=log_journals(store, "another"))
        await route.handler(event, again(event, route, 2, None))
        [earlier] = await store.requests_of(event.identity, route.name)
    assert len(executed_plays(emulator)) == 2 * CALLS
    assert (earlier.operation, earlier.status, earlier.replica) == ("play_media", 202, "original")

    args = ("--live", "--json", "--store", f"sqlite:///{db}", "--handlers", PLUGIN,
            "--connection-string", emulator.connection_string)
    first = await asyncio.to_thread(run_replay, *args)
    assert first.returncode == 0, first.stderr
    lines = [json.loads(line) for line in first.stdout.splitlines()]
    events, summary = lines[:-1], lines[-1]["summary"]
    assert summary["mode"] == "live" and summary["events"] == 2 * CALLS
    assert summary["rest_calls"] == 2 * CALLS and summary["failures"] == 0
    sent = [e["requests"][0] for e in events]
    assert {s["status"] for s in sent} == {202}
    assert {s["repeatability_id"] for s in sent} == {None}  # a play is not de-duplicated
    # Each replayed play ran on the service, once.
    assert len(executed_plays(emulator)) == 4 * CALLS
    assert emulator.connection_string.split("accesskey=")[1] not in first.stdout + first.stderr

    # Another run acts again.
    second = await asyncio.to_thread(run_replay, *args, "--call", calls[0])
    assert second.returncode == 0, second.stderr
    assert len(executed_plays(emulator)) == 4 * CALLS + 2

    # The log's events are as the dispatcher left them; the live runs are kept beside them.
    async with open_store(f"sqlite:///{db}") as store:
        record = await store.get_event(f"{calls[0]}/1")
        replays = await store.replay_outcomes(f"{calls[0]}/1")
        originals = await store.requests_of(f"{calls[0]}/1")
    # The handler run's own requests are untouched by the replays, whose requests are their own.
    assert originals == [earlier]
    assert record is not None and record.status is EventStatus.DONE
    assert len(record.outcomes) == 1
    assert [(r.mode, r.target) for r in replays] == [(ReplayMode.LIVE, emulator.url)] * 2
    assert replays[0].requests[0].status == 202


async def test_a_live_replay_reports_a_service_that_refuses(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    db = tmp_path / "log.db"
    async with open_store(f"sqlite:///{db}") as store:  # calls the service does not know
        await store.append(ga_events("no-such-call", 1), None)
    result = await asyncio.to_thread(
        run_replay, "--live", "--json", "--store", f"sqlite:///{db}", "--handlers", PLUGIN,
        "--connection-string", emulator.connection_string,
    )
    assert result.returncode == 1
    [event, summary] = [json.loads(line) for line in result.stdout.splitlines()]
    assert "CallNotFound" in event["outcomes"][0]["error"]
    assert event["requests"][0]["status"] == 404
    assert summary["summary"]["failures"] == 1


def test_a_live_replay_stops_when_the_service_cannot_be_reached(tmp_path: Path) -> None:
    db = tmp_path / "log.db"

    async def build() -> None:
        async with open_store(f"sqlite:///{db}") as store:
            await store.append(ga_events("c", 1, 2, 3), None)

    asyncio.run(build())
    endpoint = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = run_replay(
        "--live", "--quiet", "--store", f"sqlite:///{db}", "--handlers", PLUGIN,
        "--connection-string", f"endpoint={endpoint};accesskey=a2V5LWZvci10ZXN0cw==",
    )
    assert result.returncode == 1
    assert time.monotonic() - started < 10
    assert result.stderr.startswith(f"callbacks replay: cannot reach the service at {endpoint}: ")
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
    assert "a2V5LWZvci10ZXN0cw==" not in result.stderr


async def test_a_service_lost_in_the_middle_stops_the_live_replay() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    recorder = CallRecorder()
    transport = RecordingTransport(recorder, httpx2.MockTransport(refuse))
    client = CallAutomationClient(
        "https://acs.example/base", b"key", transport=transport, retry=RetryPolicy(attempts=1)
    )
    transport.below(client.endpoint)
    target = HandlerTarget(router, context_factory(client, salt="run"), recorder,
                           ReplayMode.LIVE, target=client.endpoint)
    with pytest.raises(TargetUnreachable) as stopped:
        await target.replay("run", ReplayItem(ga_events("c", 1)[0], "seq 1 (c/1)"))
    await target.aclose()
    await client.aclose()
    assert str(stopped.value) == (
        "cannot reach the service at https://acs.example/base (event c/1, seq 1 (c/1)): "
        "ConnectError: connection refused"
    )
    [call] = recorder.take()
    assert (call.method, call.path, call.status) == (
        "POST", "/calling/callConnections/c:play?api-version=2026-03-12", None
    )
