"""REST clients for replays: one that sends nothing (dry run) and one that records (live).

:class:`DryRunClient` is a :class:`~callbacks.client.automation.CallAutomationClient` whose
requests stop before the network: the handler-facing API, request bodies, paths and repeatability
ids are the real client's, and each request is recorded and answered with a plausible success (202
with the seed's media-operation body, 200 ``{"callLegId"}`` for create-call). It skips HMAC signing
and httpx2's request machinery, which cost more than the rest of a replayed event together; its
transport refuses every request, so nothing can leave even by another path.

For a live replay, :class:`RecordingTransport` wraps the real transport and records what was
sent and how the service answered. Both write into one :class:`CallRecorder`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx2

from callbacks.client.automation import CallAutomationClient
from callbacks.client.models import RequestBody
from callbacks.client.pipeline import ApiStyle, Pipeline
from callbacks.client.retry import RetryPolicy
from callbacks.store.replays import RestCall

DRY_RUN_ENDPOINT = "https://dry-run.invalid"
"""The endpoint a dry-run client pretends to call (``.invalid`` never resolves)."""
_ACCEPTED_INFO = '{"code":202,"subcode":0,"message":"Action is accepted."}'
_JSON_TEXT = json.JSONEncoder(separators=(",", ":"))
_JSON = {"content-type": "application/json"}
_NAMESPACE = uuid.UUID("6f9d2a47-3a4c-5b1e-9a0e-2f51d1c6e0b1")


class CallRecorder:
    """Collects the REST calls of the handler run in progress."""

    __slots__ = ("calls", "handler", "unreachable")

    def __init__(self) -> None:
        self.calls: list[RestCall] = []
        self.handler: str | None = None
        self.unreachable: str | None = None
        """Why the service could not be connected to, once that happened (live replays)."""

    def start(self, handler: str) -> None:
        """Attribute the next calls to ``handler``."""
        self.handler = handler

    def take(self) -> list[RestCall]:
        """The calls recorded since the last take."""
        calls, self.calls = self.calls, []
        return calls

    def add(
        self, method: str, path: str, body: bytes | None, status: int | None, request_id: str | None
    ) -> None:
        """Record one call."""
        self.calls.append(RestCall(method, path, body, status, request_id, self.handler))


class RefusingTransport(httpx2.AsyncBaseTransport):
    """A transport that sends nothing: any request reaching it is a bug."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Refuse."""
        raise httpx2.ConnectError("a dry run sends no request", request=request)


class DryRunPipeline(Pipeline):
    """A pipeline that records each request and answers it without sending anything."""

    __slots__ = ("recorder",)
    recorder: CallRecorder

    async def send(self, method: str, path: str, body: RequestBody | None) -> httpx2.Response:
        """Record the request as it would have been sent; answer it with a plausible success."""
        content = body.to_json() if body is not None else None
        request_id = self.ids() if method == "POST" else None
        full_path = self.base[len(self.endpoint) :] + path + self.query
        status, answer = _answer(method, path, body, request_id, self.style)
        self.recorder.add(method, full_path, content, status, request_id)
        return _response(status, answer)


class DryRunClient(CallAutomationClient):
    """A client that records each request and answers it without sending anything."""

    __slots__ = ("_recorder",)

    def __init__(
        self,
        recorder: CallRecorder,
        *,
        api_style: ApiStyle = "seed",
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport`` is where a request would go if one ever left (default: refused)."""
        self._recorder = recorder
        super().__init__(
            DRY_RUN_ENDPOINT,
            b"dry-run",
            api_style=api_style,
            transport=transport or RefusingTransport(),
            retry=RetryPolicy(attempts=1),
        )

    def _make_pipeline(self, endpoint: str, key: bytes, **options: Any) -> Pipeline:
        pipeline = DryRunPipeline(endpoint, key, **options)
        pipeline.recorder = self._recorder
        return pipeline


def _slow_response(status: int, content: bytes) -> httpx2.Response:
    return httpx2.Response(status, content=content, headers=_JSON if content else None)


def _fast_response(status: int, content: bytes) -> httpx2.Response:
    # Response(content=...) runs the body through the streaming decoders (~15 us, the biggest
    # cost of a dry-run request); the body is in memory already, so hand it over as read.
    response = httpx2.Response(status, headers=_JSON if content else None, stream=_NO_STREAM)
    response._content = content
    return response


def _pick_response() -> Callable[[int, bytes], httpx2.Response]:
    """The fast constructor if this httpx2 answers like the slow one, else the slow one."""
    sample = b'{"status":"notStarted"}'
    try:
        fast, slow = _fast_response(202, sample), _slow_response(202, sample)
        same = (fast.content, fast.json(), fast.is_success, fast.headers.get("content-type")) == (
            slow.content, slow.json(), slow.is_success, slow.headers.get("content-type")
        )
    except Exception:
        same = False
    return _fast_response if same else _slow_response


_NO_STREAM = httpx2.ByteStream(b"")
_response = _pick_response()


def _answer(
    method: str, path: str, body: RequestBody | None, request_id: str | None, style: ApiStyle
) -> tuple[int, bytes]:
    """The status and body the service answers a successful request with."""
    if method == "POST" and path == "":
        leg = str(uuid.uuid5(_NAMESPACE, request_id or ""))
        return (201 if style == "2021" else 200), json.dumps({"callLegId": leg}).encode()
    if path.endswith(("/PlayAudio", "/CancelMediaProcessing")):
        # The seed's 202 body, assembled as text: half the cost of dumping a dict.
        operation = _JSON_TEXT.encode(request_id or str(uuid.uuid4()))
        context = _JSON_TEXT.encode(getattr(body, "operation_context", None))
        answer = (
            f'{{"id":{operation},"status":"notStarted","operationContext":{context},'
            f'"resultInfo":{_ACCEPTED_INFO}}}'
        )
        return 202, answer.encode()
    return 202, b""


class RecordingTransport(httpx2.AsyncBaseTransport):
    """Sends through ``inner`` and records every attempt and its answer's status."""

    def __init__(self, recorder: CallRecorder, inner: httpx2.AsyncBaseTransport) -> None:
        self._recorder = recorder
        self._inner = inner
        self._prefix = ""

    def below(self, endpoint: str) -> None:
        """Record paths relative to ``endpoint`` (the service's base URL)."""
        self._prefix = httpx2.URL(endpoint).raw_path.decode("ascii").rstrip("/")

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send, then record (the status is None when no answer came)."""
        path = request.url.raw_path.decode("ascii")
        if self._prefix and path.startswith(self._prefix):
            path = path[len(self._prefix) :]
        body = request.content or None
        request_id = request.headers.get("repeatability-request-id")
        try:
            response = await self._inner.handle_async_request(request)
        except Exception as exc:
            self._recorder.add(request.method, path, body, None, request_id)
            if isinstance(exc, httpx2.ConnectError):
                self._recorder.unreachable = f"{type(exc).__name__}: {exc}".rstrip(": ")
            raise
        self._recorder.add(request.method, path, body, response.status_code, request_id)
        return response

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()
