"""Where replayed events go: through the handlers in this process, or to another receiver.

:class:`HandlerTarget` runs every matching handler once per event (attempt 1, no retries) with
the context a serve process would give, over a :class:`~callbacks.replay.clients.DryRunClient`
or the real client, and returns the outcomes with the REST calls made. :class:`RemoteTarget`
posts the raw event to a receiver and raises :class:`TargetRejected` for an answer that is not
2xx, or :class:`TargetUnreachable` when none comes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import quote

import httpx2

from callbacks.context import ContextFactory
from callbacks.errors import ConfigError
from callbacks.events.base import Dialect
from callbacks.replay.clients import CallRecorder
from callbacks.replay.sources import ReplayItem
from callbacks.routing import Router, named_routes, run_route
from callbacks.store.records import Outcome
from callbacks.store.replays import ReplayMode, ReplayResult

_JSON = {"content-type": "application/json"}
_CALLBACKS_PATH = "/api/callbacks"
_RETRY_STATUSES = (429, 503)
_RETRY_DELAYS = (0.2, 0.5, 1.0)


class Target(Protocol):
    """Receives replayed events one at a time, in order."""

    mode: ReplayMode
    target: str | None
    """What to show as the destination (never with a secret)."""

    async def replay(self, run_id: str, item: ReplayItem) -> ReplayResult:
        """Replay one event; the result to report and record."""


class TargetError(Exception):
    """The target cannot take more events: the replay stops here."""


class TargetRejected(TargetError):
    """The receiver answered an event with a status that is not 2xx."""

    def __init__(self, item: ReplayItem, status: int, code: str | None, message: str) -> None:
        self.item = item
        self.status = status
        self.code = code
        self.message = message
        code_part = f" {code}" if code else ""
        super().__init__(
            f"the target rejected event {item.event.identity} ({item.origin}): "
            f"HTTP {status}{code_part}: {message}"
        )


class TargetUnreachable(TargetError):
    """No answer from the receiver (refused, timed out) after a few tries."""


class _Watchdog:
    """Cancels the replaying task when a handler overruns its time.

    One timer for the whole run instead of ``asyncio.timeout`` per handler run, whose timer
    set-up and removal cost as much as a dry-run REST call.
    """

    def __init__(self, limit: float, interval: float) -> None:
        self.limit = limit
        self.deadline: float | None = None
        self.fired = False
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._clock: Callable[[], float] = time.monotonic

    def arm(self) -> None:
        """Start the clock for one handler run (and the watch, on first use)."""
        if self._task is None:
            loop = asyncio.get_running_loop()
            self._clock = loop.time
            victim = asyncio.current_task()
            assert victim is not None
            self._task = loop.create_task(self._watch(victim), name="callbacks-replay-watchdog")
        self.fired = False
        self.deadline = self._clock() + self.limit

    async def _watch(self, victim: asyncio.Task[object]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._interval)
            # The victim is suspended now; with a deadline set, it is inside a handler run.
            if self.deadline is not None and not self.fired and loop.time() > self.deadline:
                self.fired = True
                victim.cancel()

    async def close(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


class HandlerTarget:
    """Runs the matching handlers once per event, recording each REST call they make."""

    def __init__(
        self,
        router: Router,
        make_context: ContextFactory,
        recorder: CallRecorder,
        mode: ReplayMode,
        *,
        target: str | None = None,
        handler_timeout: float = 300.0,
    ) -> None:
        self.mode = mode
        self.target = target
        self._router = router
        self._make_context = make_context
        self._recorder = recorder
        self._watchdog = _Watchdog(handler_timeout, min(1.0, handler_timeout / 4))

    async def aclose(self) -> None:
        """Stop the handler-timeout watch."""
        await self._watchdog.close()

    async def replay(self, run_id: str, item: ReplayItem) -> ReplayResult:
        """Every matching handler, in registration order; one failing does not stop the rest."""
        event = item.event
        recorder = self._recorder
        watchdog = self._watchdog
        recorder.take()
        outcomes: list[Outcome] = []
        for name, route in named_routes(self._router.match(event)):
            recorder.start(name)
            started = time.perf_counter()
            try:
                ctx = self._make_context(event, route, 1, item.path_context)
                watchdog.arm()
                try:
                    error = (await run_route(route, event, ctx)).error
                finally:
                    watchdog.deadline = None
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not watchdog.fired or task is None or task.uncancel() > 0:
                    raise  # a real cancellation (Ctrl-C), not our timeout
                watchdog.fired = False
                error = f"TimeoutError: still running after {watchdog.limit:g} s"
            except Exception as exc:  # building the context failed
                error = f"{type(exc).__name__}: {exc}"
            outcomes.append(Outcome(name, 1, error, time.perf_counter() - started, _now()))
        if recorder.unreachable is not None:  # a live replay whose service is not there
            why, recorder.unreachable = recorder.unreachable, None
            raise TargetUnreachable(
                f"cannot reach the service at {self.target} (event {event.identity}, "
                f"{item.origin}): {why}"
            )
        return ReplayResult(
            run_id, event.identity, self.mode, outcomes[-1].finished_at if outcomes else _now(),
            tuple(outcomes), tuple(recorder.take()), self.target,
        )


def check_target_url(url: str) -> httpx2.URL:
    """``url`` parsed; ConfigError unless it is an http(s) URL with a host."""
    try:
        parsed = httpx2.URL(url)
    except (httpx2.InvalidURL, ValueError, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError("--to must be an http(s) URL with a host, e.g. "
                          "https://staging.example.com/api/callbacks")
    return parsed


class RemoteTarget:
    """Posts each raw event to another receiver, with its secret, one request at a time."""

    mode = ReplayMode.REMOTE

    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        parsed = check_target_url(url)
        self._base = parsed.copy_with(query=None, fragment=None)
        params = dict(parsed.params)
        if secret:
            params["secret"] = secret
        self._params = params
        self.target: str | None = str(self._base)
        """The URL without its query (where a secret may be): safe to print."""
        self._http = httpx2.AsyncClient(transport=transport, timeout=timeout)
        self._sleep = sleep
        self.duplicates = 0
        """Events the target acknowledged as already logged (so it will not handle them)."""

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def _url(self, path_context: str | None) -> httpx2.URL:
        base = self._base
        if path_context and base.path.rstrip("/").endswith(_CALLBACKS_PATH):
            # Keep the event's callback path, as a receiver routes on it (ctx.path_context).
            base = base.copy_with(path=base.path.rstrip("/") + "/" + quote(path_context, safe=""))
        return base.copy_with(params=self._params)

    async def replay(self, run_id: str, item: ReplayItem) -> ReplayResult:
        """Post the event; its delivery is the result's one outcome."""
        raw = item.event.raw
        # The 2021 preview posted single objects; CloudEvents and Event Grid post arrays.
        body = raw if item.event.dialect is Dialect.PREVIEW_2021 else b"[" + raw + b"]"
        url = self._url(item.path_context)
        started = time.perf_counter()
        response = await self._post(url, body, item)
        duration = time.perf_counter() - started
        label = f"POST {self._base.copy_with(path=url.path)}"
        if response.is_success:
            self.duplicates += _duplicates(response)
            outcome = Outcome(label, 1, None, duration, _now())
            return ReplayResult(run_id, item.event.identity, self.mode, _now(), (outcome,),
                                (), self.target)
        code, message = _code_and_message(response)
        raise TargetRejected(item, response.status_code, code, message)

    async def _post(self, url: httpx2.URL, body: bytes, item: ReplayItem) -> httpx2.Response:
        last = ""
        for delay in (*_RETRY_DELAYS, None):
            try:
                response = await self._http.post(url, content=body, headers=_JSON)
            except httpx2.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code not in _RETRY_STATUSES or delay is None:
                    return response
                last = f"HTTP {response.status_code}"
            if delay is None:
                break
            await self._sleep(delay)
        secret = self._params.get("secret")
        if secret:
            last = last.replace(secret, "***")
        raise TargetUnreachable(
            f"cannot deliver event {item.event.identity} ({item.origin}) to {self.target}: {last}"
        )


def _duplicates(response: httpx2.Response) -> int:
    """The ``duplicates`` count of our receiver's answer (0 from any other receiver)."""
    try:
        document = json.loads(response.content)
    except ValueError:
        return 0
    count = document.get("duplicates") if isinstance(document, dict) else None
    return count if isinstance(count, int) and count > 0 else 0


def _code_and_message(response: httpx2.Response) -> tuple[str | None, str]:
    """The ``{"code", "message"}`` of our receiver's errors, or the body's start."""
    text = response.text.strip()
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("message"), str):
        code = document.get("code")
        return (code if isinstance(code, str) else None), document["message"]
    return None, (text[:200] or response.reason_phrase or "no body")


def _now() -> datetime:
    return datetime.now(UTC)
