"""Test helpers for the emulator: a real callback receiver and signed REST clients."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from callbacks.client.hmac import HmacAuth
from callbacks.emulator import EmulatorConfig, RunningEmulator, serve_asgi, serve_emulator

KEY = b"emulator-test-key-0123456789abcdef"
KEY_B64 = base64.b64encode(KEY).decode()
SECRET = "s3cr3t-value"
ALICE = {"communicationUser": {"id": "8:acs:resource_alice"}}
BOB = {"phoneNumber": {"value": "+14251001000"}}
CAROL = {"communicationUser": {"id": "8:acs:resource_carol"}}
SOURCE = {"communicationUser": {"id": "8:acs:resource_app"}}
AUDIO = "https://example.com/prompt.wav"


def fast_config(**overrides: Any) -> EmulatorConfig:
    """A config with delays small enough for tests."""
    values: dict[str, Any] = {
        "access_key": KEY,
        "answer_delay": 0.02,
        "play_duration": 0.05,
        "ring_timeout": 2.0,
        "tone_interval": 0.01,
    }
    values.update(overrides)
    return EmulatorConfig(**values)


@dataclass
class Received:
    """One callback as the receiver got it."""

    event: dict[str, Any]
    query: str
    content_type: str
    at: float
    authorization: str = ""

    @property
    def type(self) -> str:
        """Short event type, e.g. ``PlayAudioResult``."""
        return str(self.event["eventType"]).rsplit(".", 1)[-1]

    @property
    def call_id(self) -> str:
        """``data.CallLegId``."""
        return str(self.event["data"]["CallLegId"])


@dataclass
class Receiver:
    """A tiny real callback endpoint that records every post and can answer with errors."""

    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    """Statuses to answer the next posts with, in order; then 200."""
    attempts: int = 0
    authorizations: list[str] = field(default_factory=list)
    """The Authorization header of every attempt, answered 200 or not."""
    url: str = ""
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def clear(self) -> None:
        """Forget what was received and any scripted answers."""
        self.received.clear()
        self.answers.clear()
        self.attempts = 0
        self.authorizations.clear()

    def app(self) -> Starlette:
        """The ASGI app recording posts."""

        async def endpoint(request: Request) -> Response:
            self.attempts += 1
            authorization = request.headers.get("authorization", "")
            self.authorizations.append(authorization)
            body = await request.body()
            status = self.answers.pop(0) if self.answers else 200
            if status == 200:
                self.received.append(
                    Received(
                        json.loads(body),
                        request.url.query,
                        request.headers.get("content-type", ""),
                        time.monotonic(),
                        authorization,
                    )
                )
                self._changed.set()
            return Response(status_code=status)

        return Starlette(routes=[Route("/api/callbacks", endpoint, methods=["POST"])])

    @property
    def callback_uri(self) -> str:
        """Where the emulator should post, with a secret in the query."""
        return f"{self.url}/api/callbacks?secret={SECRET}"

    def of(self, call_id: str) -> list[Received]:
        """Callbacks of one call, in arrival order."""
        return [r for r in self.received if r.call_id == call_id]

    def types(self, call_id: str) -> list[str]:
        """Short event types of one call, in arrival order."""
        return [r.type for r in self.of(call_id)]

    async def wait_for(
        self, predicate: Callable[[list[Received]], bool], seconds: float = 5.0
    ) -> list[Received]:
        """Wait until ``predicate(received)`` holds; fail the test after ``seconds``."""
        async with asyncio.timeout(seconds):
            while not predicate(self.received):
                self._changed.clear()
                await self._changed.wait()
        return self.received

    async def wait_types(self, call_id: str, *types: str, seconds: float = 5.0) -> list[str]:
        """Wait until the call's callbacks include ``types`` in this order (as a subsequence)."""

        def has_all(_: list[Received]) -> bool:
            seen = iter(self.types(call_id))
            return all(t in seen for t in types)

        await self.wait_for(has_all, seconds)
        return self.types(call_id)


@contextlib.asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    """A receiver served on a free port."""
    receiver = Receiver()
    async with serve_asgi(receiver.app()) as url:
        receiver.url = url
        yield receiver


@dataclass
class Env:
    """A running emulator, a signed client for it, and the receiver."""

    running: RunningEmulator
    client: httpx2.AsyncClient
    control: httpx2.AsyncClient
    receiver: Receiver

    async def create_call(self, *targets: dict[str, Any], **extra: Any) -> str:
        """Create a call with the seed form and return its callLegId."""
        body = {
            "targets": list(targets) or [ALICE],
            "callbackUri": self.receiver.callback_uri,
            "requestedModalities": ["audio"],
            "requestedCallEvents": ["participantsUpdated"],
            **extra,
        }
        response = await self.client.post("/calls", json=body)
        assert response.status_code == 200, response.text
        return str(response.json()["callLegId"])

    async def established(self, *targets: dict[str, Any], **extra: Any) -> str:
        """Create a call and wait until it is established with its first participant."""
        call_id = await self.create_call(*targets, **extra)
        await self.receiver.wait_types(call_id, "CallLegStateChanged", "ParticipantsUpdated")
        return call_id


@contextlib.asynccontextmanager
async def running_env(config: EmulatorConfig, receiver: Receiver) -> AsyncIterator[Env]:
    """An emulator with ``config`` and clients for its REST and control APIs."""
    async with (
        serve_emulator(config) as running,
        httpx2.AsyncClient(base_url=running.url, auth=HmacAuth(config.access_key)) as client,
        httpx2.AsyncClient(base_url=running.url) as control,
    ):
        yield Env(running, client, control, receiver)
