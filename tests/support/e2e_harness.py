"""The end-to-end stack: the emulator in the test's loop, the real ``callbacks serve`` process.

``callbacks serve`` runs as a child process with the durable SQLite log, JWT verification on (the
emulator's printed ``receiver_flags``, plus the callback secret: ``--auth jwt+secret``) and handler
plugins from :mod:`tests.support.e2e_plugin`. It can be stopped and started again on the same port
and log. Tests read what happened from the emulator's journal and from the log itself.

Every wait polls with a deadline; a timeout fails with the call's timeline and the receiver's
output, so a failure says where the flow stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx2

from callbacks.client.automation import CallAutomationClient
from callbacks.client.retry import RetryPolicy
from callbacks.emulator import DeliveryConfig, EmulatorConfig, RunningEmulator, serve_emulator
from callbacks.emulator.journal import CallbackRecord, RequestRecord
from callbacks.identifiers import CommunicationUserIdentifier, Identifier
from callbacks.store import EventRecord, open_store
from tests.support import ROOT
from tests.support.servers import free_port

SECRET = "e2e-callback-secret-5f1c"
KEY = b"e2e-access-key-0123456789abcdef!"
APP = CommunicationUserIdentifier("8:acs:resource_app")
ALICE = CommunicationUserIdentifier("8:acs:resource_alice")
STARTUP_TIMEOUT = 20.0


def e2e_config(**overrides: Any) -> EmulatorConfig:
    """Emulator timings for end-to-end tests: fast calls, quick and patient delivery retries."""
    values: dict[str, Any] = {
        "access_key": KEY,
        "answer_delay": 0.02,
        "play_duration": 0.05,
        "ring_timeout": 3.0,
        "tone_interval": 0.01,
        # ~15 s of retries at most 0.25 s apart: a receiver restart loses nothing and is
        # noticed within a quarter second.
        "delivery": DeliveryConfig(
            max_attempts=60, backoff=0.05, backoff_factor=2.0, max_backoff=0.25, timeout=5.0
        ),
    }
    values.update(overrides)
    return EmulatorConfig(**values)


class Receiver:
    """The real ``callbacks serve`` as a child process, restartable on one port and one log."""

    def __init__(
        self,
        tmp_path: Path,
        handlers: str,
        emulator: RunningEmulator,
        *,
        auth: str = "jwt+secret",
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = tmp_path / "events.db"
        self.output_path = tmp_path / "serve.out"
        self.args = [
            "serve",
            "--port", str(self.port),
            "--store", f"sqlite:///{self.db}",
            "--handlers", handlers,
            "--connection-string", emulator.connection_string,
            # the flags the emulator prints, verbatim; a later --auth wins in argparse
            *emulator.receiver_flags,
            "--auth", auth,
            "--log-level", "info",
        ]
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "CALLBACKS_SECRET": SECRET,
                    "CALLBACKS_API_VERSION": "2021-overview"}
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def callback_uri(self) -> str:
        """The callbackUri calls are created with (the secret in its query)."""
        return f"{self.url}/api/callbacks?secret={SECRET}"

    async def start(self) -> None:
        """Start the process and wait until ``/readyz`` answers 200."""
        assert self.process is None, "already running"
        with self.output_path.open("ab") as out:
            # A file, not a pipe: a full pipe would stall the server mid-test.
            self.process = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).parent / "callbacks"), *self.args,
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )
        self.starts += 1
        deadline = time.monotonic() + STARTUP_TIMEOUT
        async with httpx2.AsyncClient(trust_env=False) as http:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise AssertionError(
                        f"callbacks serve exited with {self.process.returncode}:\n{self.output()}"
                    )
                with contextlib.suppress(httpx2.TransportError):
                    if (await http.get(f"{self.url}/readyz", timeout=1)).status_code == 200:
                        return
                await asyncio.sleep(0.05)
        raise AssertionError(
            f"callbacks serve not ready after {STARTUP_TIMEOUT} s:\n{self.output()}"
        )

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the process and wait for it (the emulator keeps serving meanwhile)."""
        process, self.process = self.process, None
        if process is None:
            return 0
        if process.returncode is None:
            process.send_signal(sig)
        try:
            async with asyncio.timeout(30):
                return await process.wait()
        except TimeoutError:
            process.kill()
            return await process.wait()

    def output(self) -> str:
        """Everything the process printed, across restarts."""
        if not self.output_path.exists():
            return ""
        return self.output_path.read_text(errors="replace")

    async def events(self) -> list[EventRecord]:
        """Every logged event with its outcomes, in log order (read beside the running server)."""
        async with open_store(f"sqlite:///{self.db}") as store:
            return [record async for record in store.list_events()]


@dataclass
class Stack:
    """A running emulator and receiver, a REST client, and a client of the control API."""

    emulator: RunningEmulator
    receiver: Receiver
    client: CallAutomationClient
    control: httpx2.AsyncClient

    async def call(
        self,
        *targets: Identifier | str,
        events: Sequence[str] = ("participantsUpdated", "dtmfReceived"),
    ) -> str:
        """Create a call to ``targets`` (Alice by default) posting to the receiver."""
        result = await self.client.create_call(
            list(targets) or [ALICE], self.receiver.callback_uri, source=APP,
            requested_call_events=events,
        )
        return result.call_leg_id

    def requests(self, call_id: str) -> list[RequestRecord]:
        """REST requests about ``call_id`` (create-call included), in arrival order."""
        return [r for r in self.emulator.emulator.journal.requests if r.call_id == call_id]

    def callbacks(self, call_id: str) -> list[CallbackRecord]:
        """Callbacks of ``call_id`` in the order the call produced them."""
        return [r for r in self.emulator.emulator.journal.callbacks if r.call_id == call_id]

    def actions(self, call_id: str) -> list[tuple[str, str | None, int]]:
        """(operation, operation context, status) of each REST request about ``call_id``."""
        return [(r.operation, r.operation_context, r.status) for r in self.requests(call_id)]

    def timeline(self, call_id: str) -> list[str]:
        """REST requests and callbacks of a call merged in journal order, one line each."""
        entries: list[tuple[int, str]] = []
        for request in self.requests(call_id):
            context = f" {request.operation_context}" if request.operation_context else ""
            entries.append((request.seq, f"REST {request.operation}{context} {request.status}"))
        for callback in self.callbacks(call_id):
            entries.append((callback.seq, f"CB   {describe(callback)} [{callback.status}]"))
        return [line for _, line in sorted(entries)]

    def executed_actions(self, call_id: str) -> list[tuple[str, str | None]]:
        """REST actions that really ran (2xx, not a repeatability replay), in order."""
        return [
            (r.operation, r.operation_context)
            for r in self.requests(call_id)
            if 200 <= r.status < 300 and not r.replayed
        ]

    def delivered(self, call_id: str) -> list[CallbackRecord]:
        """The call's callbacks the receiver acknowledged, originals only."""
        return [
            r for r in self.callbacks(call_id) if r.status == "delivered" and r.duplicate_of is None
        ]

    async def until(
        self, condition: Callable[[], bool], what: str, *calls: str, seconds: float = 10.0
    ) -> None:
        """Poll ``condition`` every 20 ms; fail after ``seconds`` with the calls' timelines."""
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(self.report(f"timed out waiting for {what}", calls))
            await asyncio.sleep(0.02)

    async def terminated(self, *calls: str, seconds: float = 10.0) -> None:
        """Wait until each call's Terminated callback has been delivered."""

        def done() -> bool:
            return all(
                any(describe(r) == "CallLegStateChanged:Terminated" for r in self.delivered(c))
                for c in calls
            )

        await self.until(done, "Terminated delivered", *calls, seconds=seconds)

    async def settled(self, *calls: str, seconds: float = 10.0) -> list[EventRecord]:
        """Wait until every delivered callback of ``calls`` is logged and handled; the log."""
        deadline = time.monotonic() + seconds
        while True:
            records = await self.events()
            logged = {r.id: r for r in records}
            wanted = [cb.event["id"] for c in calls for cb in self.delivered(c)]
            if all(i in logged and logged[i].status == "done" for i in wanted):
                return records
            if time.monotonic() > deadline:
                missing = [i for i in wanted if i not in logged or logged[i].status != "done"]
                raise AssertionError(self.report(f"events not done: {missing}", calls))
            await asyncio.sleep(0.05)

    async def events(self) -> list[EventRecord]:
        """The receiver's log."""
        return await self.receiver.events()

    def report(self, headline: str, calls: Sequence[str]) -> str:
        """A failure message: the headline, each call's timeline, the receiver's output."""
        lines = [headline]
        for call_id in calls:
            lines += [f"call {call_id}:", *(f"  {line}" for line in self.timeline(call_id))]
        lines += ["receiver output:", self.receiver.output()[-4000:]]
        return "\n".join(lines)


def describe(callback: CallbackRecord) -> str:
    """``Type`` or ``Type:detail``: the call state, tone, operation context or participants."""
    data: dict[str, Any] = callback.event.get("data") or {}
    detail: str | None = None
    if callback.event_type == "CallLegStateChanged":
        detail = data.get("CallState")
    elif callback.event_type == "DtmfReceived":
        detail = (data.get("ToneInfo") or {}).get("Tone")
    elif callback.event_type in ("PlayAudioResult", "InviteParticipantResult"):
        info = data.get("ResultInfo") or {}
        detail = f"{data.get('OperationContext')}:{info.get('Code')}/{info.get('Subcode')}"
    elif callback.event_type == "ParticipantsUpdated":
        ids = [p["Identifier"]["RawId"].rsplit("_", 1)[-1] for p in data.get("Participants", [])]
        detail = ",".join(ids)
    return callback.event_type if detail is None else f"{callback.event_type}:{detail}"


FAST_RETRIES = RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.2, deadline=10.0)
"""The test's own client: quick retries (the receiver's client keeps its defaults)."""


@contextlib.asynccontextmanager
async def e2e_stack(
    tmp_path: Path,
    handlers: str,
    config: EmulatorConfig | None = None,
    *,
    auth: str = "jwt+secret",
) -> AsyncIterator[Stack]:
    """Start the emulator and the receiver; stop both (the receiver first) when done."""
    async with serve_emulator(config or e2e_config()) as running:
        receiver = Receiver(tmp_path, handlers, running, auth=auth)
        client = CallAutomationClient.from_connection_string(
            running.connection_string, retry=FAST_RETRIES, api_version="2021-overview"
        )
        async with client, httpx2.AsyncClient(base_url=running.url, trust_env=False) as control:
            await receiver.start()
            try:
                yield Stack(running, receiver, client, control)
            finally:
                status = await receiver.stop()
                assert status == 0, receiver.output()[-4000:]


def with_delivery(config: EmulatorConfig, **changes: Any) -> EmulatorConfig:
    """``config`` with some delivery settings changed."""
    return replace(config, delivery=replace(config.delivery, **changes))
