"""Run the built-in flows for real: the emulator in the test's loop, ``callbacks serve`` as a
process (killable and restartable on the same log), and read outcomes back like the CLI does.

The flows run on the API version the service is configured with: ``2021-overview`` (the 2021
calls of the emulator) or a GA version (its GA call connections). With ``incoming`` the
emulator's Event Grid subscription is the receiver's callback endpoint, so :meth:`Service.ring`
delivers an IncomingCall to ``serve`` as Event Grid would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2

from callbacks.emulator import DeliveryConfig, EmulatorConfig, RunningEmulator, serve_emulator
from callbacks.emulator.calls import Call
from callbacks.emulator.ga.connection import Connection
from callbacks.emulator.ga.incoming import IncomingCall
from callbacks.emulator.journal import RequestRecord
from callbacks.emulator.scenario import parse_scenario
from callbacks.flows.flow import FlowRecord
from callbacks.flows.outcomes import flow_records
from callbacks.flows.state import decode_context
from callbacks.identifiers import identifier
from callbacks.plugins.loader import load_plugin
from callbacks.store import EventStatus, open_store
from tests.support.emulator_harness import KEY
from tests.support.servers import ROOT, free_port, start_cli, stop

SECRET = "flows-test-secret"
API_KEY = "flows-test-api-key"
SOURCE = "8:acs:resource_app"
GA = "2026-03-12"
OVERVIEW = "2021-overview"
TIMEOUT_SCALE = 0.05
"""GA timeouts (initial silence, invitations) run 20 times faster: 5 s of silence take 0.25 s."""


def emulator_config(
    scenario: Mapping[str, Any], *, incoming_url: str | None = None, ring_timeout: float = 0.3
) -> EmulatorConfig:
    """Fast calls; callbacks retried every ~0.1 s for several seconds while serve is down."""
    return EmulatorConfig(
        access_key=KEY, answer_delay=0.02, play_duration=0.05, ring_timeout=ring_timeout,
        tone_interval=0.01, timeout_scale=TIMEOUT_SCALE, incoming_url=incoming_url,
        scenario=parse_scenario(scenario),
        delivery=DeliveryConfig(max_attempts=80, backoff=0.05, max_backoff=0.1, timeout=5),
    )


def callback_url(port: int) -> str:
    """The receiver's callback URL with its secret (also its Event Grid endpoint)."""
    return f"http://127.0.0.1:{port}/api/callbacks?secret={SECRET}"


@dataclass
class Service:
    """A real ``callbacks serve`` with some plugins, against a running emulator."""

    emulator: RunningEmulator
    handlers: str
    settings: dict[str, str]
    db: Path
    port: int = field(default_factory=free_port)
    api_version: str = OVERVIEW
    process: subprocess.Popen[bytes] | None = None
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The receiver's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def callback_url(self) -> str:
        """The receiver's callback URL with its secret, as flows give it to the service."""
        return callback_url(self.port)

    @property
    def env(self) -> dict[str, str]:
        """What ``serve`` and ``callbacks call`` get: secret, connection, plugin settings."""
        return {
            "CALLBACKS_SECRET": SECRET, "CALLBACKS_API_KEY": API_KEY,
            "CALLBACKS_CONNECTION_STRING": self.emulator.connection_string,
            "CALLBACKS_CALLBACK_URL": self.callback_url,
            "CALLBACKS_API_VERSION": self.api_version, **self.settings,
        }

    async def start(self) -> None:
        """Start ``serve`` on the same port and log as before; wait until it is ready."""
        self.process = start_cli(
            "serve", "--port", str(self.port), "--store", f"sqlite:///{self.db}",
            "--handlers", self.handlers, "--log-level", "warning", env=self.env,
        )
        async with httpx2.AsyncClient() as client:
            for _ in range(300):
                if self.process.poll() is not None:
                    raise RuntimeError(f"serve exited: {await self.stop()}")
                with contextlib.suppress(httpx2.TransportError):
                    if (await client.get(self.url + "/readyz", timeout=1)).status_code == 200:
                        return
                await asyncio.sleep(0.05)
        raise TimeoutError("serve did not become ready")

    async def stop(self, sig: int = signal.SIGTERM) -> str:
        """Stop ``serve`` (SIGKILL to crash it); what it printed."""
        if self.process is None:
            return ""
        output = await asyncio.to_thread(stop, self.process, sig)
        self.output.append(output)
        self.process = None
        return output

    async def records(self, flow: str) -> dict[str, FlowRecord]:
        """The flow's records by id, read from the log as ``callbacks flows`` does."""
        plugin = load_plugin(flow)
        assert plugin.flow is not None
        async with open_store(f"sqlite:///{self.db}") as store:
            found = await flow_records(store, {flow: plugin.flow})
        return {record.id: record for record in found}

    def flow_calls(self, flow: str, flow_id: str) -> list[Call | Connection]:
        """The emulator's calls (2021) and call connections (GA) of one flow, by the state in
        their callback URL."""
        found: list[Call | Connection] = []
        emulator = self.emulator.emulator
        for call in [*emulator.calls.values(), *emulator.ga.connections.values()]:
            decoded = decode_context(urlsplit(call.callback_uri).path.rsplit("/", 1)[-1])
            if decoded is not None and decoded[0] == flow and decoded[1].get("id") == flow_id:
                found.append(call)
        return found

    async def settled(
        self, flow: str, flow_id: str, *, ended: bool = True, within: float = 15
    ) -> FlowRecord:
        """The flow's record once it is decided, its calls have ended (unless ``ended`` is
        False) and every event is handled."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            calls_over = not ended or not any(
                c.active if isinstance(c, Call) else not c.ended
                for c in self.flow_calls(flow, flow_id)
            )
            # Read the record only once everything is handled: read first, it could predate the
            # last events (e.g. "agent" before the agent's failed invitation made it
            # "agent-unreached").
            if calls_over and await self.idle():
                record = (await self.records(flow)).get(flow_id)
                if record is not None and record.outcome != "in-progress":
                    return record
            await asyncio.sleep(0.05)
        raise AssertionError(f"{flow} {flow_id} not settled: {await self.records(flow)}")

    async def idle(self) -> bool:
        """Every logged event is handled, none failed; callbacks are all delivered."""
        async with open_store(f"sqlite:///{self.db}") as store:
            stats = await store.stats()
        busy = {EventStatus.PENDING, EventStatus.FAILED}
        unfinished = sum(stats.by_status.get(status, 0) for status in busy)
        assert not stats.by_status.get(EventStatus.DEAD), stats
        pending = [c for c in self.emulator.emulator.journal.callbacks
                   if c.status in ("queued", "delivering")]
        return unfinished == 0 and not pending

    async def wait_idle(self, within: float = 10) -> None:
        """Wait until :meth:`idle`."""
        deadline = time.monotonic() + within
        while not await self.idle():
            if time.monotonic() > deadline:
                raise AssertionError("events still unhandled")
            await asyncio.sleep(0.02)

    async def handler_errors(self) -> list[str]:
        """Every failed handler run in the log (a flow's handlers never fail)."""
        async with open_store(f"sqlite:///{self.db}") as store:
            return [
                f"{record.type}: {outcome.error}"
                async for record in store.list_events()
                for outcome in record.outcomes if outcome.error
            ]

    async def start_flow(self, flow: str, body: Mapping[str, Any], **headers: str
                         ) -> httpx2.Response:
        """``POST /api/flows/{flow}`` with the API key."""
        async with httpx2.AsyncClient(base_url=self.url) as client:
            return await client.post(
                f"/api/flows/{flow}", json=dict(body),
                headers={"Authorization": f"Bearer {API_KEY}", **headers},
            )

    async def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the ``callbacks`` console script with this service's environment."""
        command = [str(Path(sys.executable).parent / "callbacks"), *args]
        env = {**os.environ, "PYTHONPATH": str(ROOT), **self.env}
        process = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode is not None
        return subprocess.CompletedProcess(command, process.returncode, out.decode(), err.decode())

    # -- what the emulator saw --

    def calls_to(self, target: str) -> list[Call]:
        """The emulator's calls to ``target`` (phone number or raw id), oldest first."""
        return [
            call for call in self.emulator.emulator.calls.values()
            if call.participants and call.participants[0].named(target)
        ]

    def connections_to(self, target: str) -> list[Connection]:
        """The emulator's GA call connections placed to ``target``, oldest first."""
        return [
            connection for connection in self.emulator.emulator.ga.connections.values()
            if connection.parties and connection.parties[0].named(target)
        ]

    async def ring(self, caller: str, callee: str) -> IncomingCall:
        """An incoming call from ``caller`` to ``callee``, delivered to ``serve`` by Event Grid."""
        return await self.emulator.emulator.ga.ring(identifier(caller), identifier(callee), "")

    def requests(self, call_id: str) -> list[RequestRecord]:
        """REST requests on one call that executed (not repeats answered from the cache)."""
        return [
            r for r in self.emulator.emulator.journal.requests
            if r.call_id == call_id and not r.replayed and r.fault is None and r.status < 300
        ]

    def actions(self, call_id: str) -> list[tuple[str, str | None]]:
        """(operation, operation context) of each executed request on the call, in order."""
        return [(r.operation, r.operation_context) for r in self.requests(call_id)]

    def executed_once(self) -> bool:
        """No repeatability id made the emulator act twice."""
        return set(self.emulator.emulator.repeatability.executions.values()) <= {1}


async def wait_until(condition: Callable[[], bool], within: float = 10) -> None:
    """Poll ``condition`` until true; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def running_service(
    tmp: Path,
    scenario: Mapping[str, Any],
    handlers: str,
    settings: dict[str, str],
    *,
    api_version: str = OVERVIEW,
    incoming: bool = False,
    ring_timeout: float = 0.3,
) -> AsyncIterator[Service]:
    """An emulator with ``scenario`` and a started ``serve`` with ``handlers``, speaking
    ``api_version``; with ``incoming``, the emulator rings ``serve`` through Event Grid (an
    incoming call rings ``ring_timeout`` seconds, as does every callee)."""
    port = free_port()
    config = emulator_config(scenario, incoming_url=callback_url(port) if incoming else None,
                             ring_timeout=ring_timeout)
    async with serve_emulator(config) as emulator:
        service = Service(emulator, handlers, settings, tmp / "log.db", port, api_version)
        await service.start()
        try:
            yield service
        finally:
            output = await service.stop()
            assert SECRET not in "".join(service.output) + output
            assert API_KEY not in "".join(service.output) + output
