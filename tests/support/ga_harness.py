"""Test helpers for the emulator's GA API, driven by Microsoft's SDK.

The emulator and a receiver run in a background thread with their own event loop, so tests
call the SDK's blocking client as an application does (and its aio client from the test's own
loop). The receiver is written the way Microsoft's samples write theirs: it loops over the
posted array and reads each element with ``CloudEvent.from_dict``; its Event Grid endpoint
answers the validation handshake the way the samples do.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from azure.communication.callautomation import CallAutomationClient
from azure.core.credentials import AzureKeyCredential
from azure.core.messaging import CloudEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callbacks.emulator import Emulator, EmulatorConfig, serve_asgi, serve_emulator
from callbacks.emulator.scenario import parse_scenario
from tests.support.emulator_harness import SECRET, fast_config

T = TypeVar("T")
VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
INCOMING_CALL = "Microsoft.Communication.IncomingCall"
COGNITIVE = "https://contoso.cognitiveservices.azure.com/"
INCOMING_PATH = "/api/incomingCall"


def ga_config(**overrides: Any) -> EmulatorConfig:
    """Fast timings, and timeouts from requests (initial silence, inter-tone) shrunk 20 times."""
    values: dict[str, Any] = {"timeout_scale": 0.05, "play_duration": 0.05}
    values.update(overrides)
    return fast_config(**values)


@dataclass
class Got:
    """One callback as the sample-style receiver read it."""

    event: CloudEvent
    query: str
    authorization: str

    @property
    def type(self) -> str:
        """Short type: ``CallConnected``."""
        return str(self.event.type).rsplit(".", 1)[-1]

    @property
    def data(self) -> dict[str, Any]:
        """``event.data``."""
        data: dict[str, Any] = self.event.data
        return data


@dataclass
class SampleReceiver:
    """A callback endpoint and an Event Grid endpoint, as Microsoft's Python samples write them."""

    got: list[Got] = field(default_factory=list)
    incoming: list[dict[str, Any]] = field(default_factory=list)
    """IncomingCall events, with the query and headers they came with under ``_query`` etc."""
    validations: int = 0
    answer_validation: bool = True
    url: str = ""
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def clear(self) -> None:
        """Forget everything received."""
        with self._changed:
            self.got.clear()
            self.incoming.clear()
            self.validations = 0
            self.answer_validation = True

    def app(self) -> Starlette:
        """The ASGI app."""

        async def callbacks(request: Request) -> Response:
            body = await request.json()
            for event_dict in body:  # the samples' loop
                event = CloudEvent.from_dict(event_dict)
                assert event.data["callConnectionId"]
                got = Got(event, request.url.query, request.headers.get("authorization", ""))
                with self._changed:
                    self.got.append(got)
                    self._changed.notify_all()
            return Response(status_code=200)

        async def event_grid(request: Request) -> Response:
            for event_dict in await request.json():
                if event_dict["eventType"] == VALIDATION:
                    with self._changed:
                        self.validations += 1
                    if not self.answer_validation:
                        return Response(status_code=404)
                    return JSONResponse(
                        {"validationResponse": event_dict["data"]["validationCode"]}
                    )
                if event_dict["eventType"] == INCOMING_CALL:
                    seen = {
                        **event_dict,
                        "_query": request.url.query,
                        "_authorization": request.headers.get("authorization"),
                        "_aeg_event_type": request.headers.get("aeg-event-type"),
                    }
                    with self._changed:
                        self.incoming.append(seen)
                        self._changed.notify_all()
            return Response(status_code=200)

        return Starlette(routes=[
            Route("/api/callbacks", callbacks, methods=["POST"]),
            Route(INCOMING_PATH, event_grid, methods=["POST"]),
        ])

    @property
    def callback_url(self) -> str:
        """Where calls should post, with a secret."""
        return f"{self.url}/api/callbacks?secret={SECRET}"

    def of(self, call_id: str) -> list[Got]:
        """Callbacks of one call connection, in arrival order."""
        with self._changed:
            return [g for g in self.got if g.data["callConnectionId"] == call_id]

    def types(self, call_id: str) -> list[str]:
        """Short types of one call's callbacks."""
        return [g.type for g in self.of(call_id)]

    def wait(self, predicate: Callable[[], bool], seconds: float = 10.0) -> None:
        """Block until ``predicate()`` holds; AssertionError after ``seconds``."""
        deadline = time.monotonic() + seconds
        with self._changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out waiting for callbacks")
                self._changed.wait(left)

    def wait_types(self, call_id: str, *types: str, seconds: float = 10.0) -> list[str]:
        """Wait until the call's callbacks contain ``types`` in this order; return them all."""

        def has_all() -> bool:
            seen = iter(g.type for g in self.got if g.data["callConnectionId"] == call_id)
            return all(t in seen for t in types)

        try:
            self.wait(has_all, seconds)
        except AssertionError:
            raise AssertionError(f"expected {types} among {self.types(call_id)}") from None
        return self.types(call_id)

    def wait_all(self, call_id: str, *types: str, seconds: float = 10.0) -> list[str]:
        """Wait until the call's callbacks contain every one of ``types``, in any order."""

        def has_all() -> bool:
            seen = {g.type for g in self.got if g.data["callConnectionId"] == call_id}
            return set(types) <= seen

        try:
            self.wait(has_all, seconds)
        except AssertionError:
            raise AssertionError(f"expected {types} among {self.types(call_id)}") from None
        return self.types(call_id)

    def event(self, call_id: str, event_type: str) -> dict[str, Any]:
        """The data of the call's first callback of ``event_type``, once it arrived."""
        self.wait_types(call_id, event_type)
        return next(g.data for g in self.of(call_id) if g.type == event_type)


@dataclass
class Served:
    """An emulator and a sample receiver serving in a background thread."""

    url: str
    emulator: Emulator
    receiver: SampleReceiver
    loop: asyncio.AbstractEventLoop
    key_b64: str
    ca_file: Path | None = None

    @property
    def connection_string(self) -> str:
        """``endpoint=<url>/;accesskey=...``: what a sample reads from its settings."""
        return f"endpoint={self.url}/;accesskey={self.key_b64}"

    def client(self) -> CallAutomationClient:
        """The SDK's blocking client, as a sample makes it (http needs an explicit endpoint)."""
        if self.ca_file is not None:
            return CallAutomationClient.from_connection_string(self.connection_string)
        return CallAutomationClient(self.url, AzureKeyCredential(self.key_b64))

    def run(self, coroutine: Coroutine[Any, Any, T], seconds: float = 10.0) -> T:
        """Run ``coroutine`` on the servers' loop (the emulator's state lives there)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(seconds)

    def idle(self, seconds: float = 10.0) -> None:
        """Wait until every callback queued so far was delivered."""

        async def wait() -> None:
            async with asyncio.timeout(seconds):
                await self.emulator.delivery.wait_idle()

        self.run(wait(), seconds + 1)

    def reset(self) -> None:
        """Back to a fresh emulator and an empty receiver."""
        self.run(self.emulator.reset())
        self.receiver.clear()

    def use_scenario(self, scenario: dict[str, Any]) -> None:
        """Replace the emulator's scenario (on its own loop)."""

        async def replace() -> None:
            self.emulator.scenario = parse_scenario(scenario)

        self.run(replace())


@contextlib.contextmanager
def serve_in_background(
    config: EmulatorConfig | None = None, *, tls: bool = False, incoming: bool = False
) -> Iterator[Served]:
    """Serve an emulator (``incoming``: with the receiver as its Event Grid subscription) and
    a sample receiver until the block exits."""
    receiver = SampleReceiver()
    started = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        async with serve_asgi(receiver.app()) as receiver_url:
            receiver.url = receiver_url
            settings = config or ga_config()
            if incoming:
                url = f"{receiver_url}{INCOMING_PATH}?secret={SECRET}"
                settings = dataclasses.replace(settings, incoming_url=url)
            async with serve_emulator(settings, tls=tls) as running:
                box["served"] = Served(
                    running.url, running.emulator, receiver, asyncio.get_running_loop(),
                    running.access_key_b64, running.ca_file,
                )
                stop = box["stop"] = asyncio.Event()
                started.set()
                await stop.wait()

    def thread_main() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the test below
            box["error"] = exc
            started.set()

    thread = threading.Thread(target=thread_main, name="ga-emulator", daemon=True)
    thread.start()
    started.wait(30)
    if "error" in box:
        raise RuntimeError("the emulator did not start") from box["error"]
    try:
        yield box["served"]
    finally:
        served: Served = box["served"]
        served.loop.call_soon_threadsafe(box["stop"].set)
        thread.join(30)
