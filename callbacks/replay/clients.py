"""REST clients for replays: one that sends nothing (dry run) and one that records (live).

:class:`DryRunClient` is a :class:`~callbacks.client.automation.CallAutomationClient` whose
requests stop before the network: the handler-facing API, request bodies, paths and repeatability
ids are the real client's, and each request is recorded and answered with a plausible success (202
with the seed's media-operation body, ``{"callLegId"}`` or ``{"callConnectionId"}`` for
create-call). It skips HMAC signing and httpx2's request machinery, which cost more than the rest
of a replayed event together; its transport refuses every request, so nothing can leave even by
another path.

For a live replay, :class:`RecordingTransport` wraps the real transport and records what was
sent and how the service answered. Both write into one :class:`CallRecorder`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

import httpx2

from callbacks.client.automation import CallAutomationClient
from callbacks.client.models import RequestBody
from callbacks.client.pipeline import Pipeline, body_bytes
from callbacks.client.retry import RetryPolicy
from callbacks.client.versions import OVERVIEW_2021, PREVIEW_2021
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

    async def send(
        self,
        operation: str,
        method: str,
        path: str,
        body: RequestBody | Mapping[str, Any] | None = None,
        *,
        repeatable: bool = False,
    ) -> httpx2.Response:
        """Record the request as it would have been sent; answer it with a plausible success."""
        content = body_bytes(body)
        request_id = self.ids() if repeatable else None
        query = "" if self.version == OVERVIEW_2021 else f"?api-version={self.version}"
        status, answer = _answer(operation, path, content, request_id, self.version)
        self.recorder.add(method, path + query, content, status, request_id)
        return _response(status, answer)


class DryRunClient(CallAutomationClient):
    """A client that records each request and answers it without sending anything."""

    __slots__ = ("_recorder",)

    def __init__(
        self,
        recorder: CallRecorder,
        *,
        api_version: str | None = None,
        api_style: str | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport`` is where a request would go if one ever left (default: refused)."""
        self._recorder = recorder
        super().__init__(
            DRY_RUN_ENDPOINT,
            b"dry-run",
            api_version=api_version,
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


_GA_STATUS = {
    "create_call": 201, "hang_up": 204, "redirect_call": 204, "reject_call": 204,
    "get_call_properties": 200, "answer_call": 200, "connect_call": 200,
    "list_participants": 200, "get_participant": 200, "mute_participant": 200,
    "start_continuous_dtmf_recognition": 200, "stop_continuous_dtmf_recognition": 200,
    "hold": 200, "unhold": 200, "start_recording": 200, "get_recording_properties": 200,
    "stop_recording": 204,
}
"""The success status of each GA operation (every other one answers 202)."""


def _answer(
    operation: str, path: str, content: bytes | None, request_id: str | None, version: str
) -> tuple[int, bytes]:
    """The status and body the service answers a successful request with."""
    sent: Any = json.loads(content) if content else {}
    context = sent.get("operationContext") if isinstance(sent, dict) else None
    made = str(uuid.uuid5(_NAMESPACE, request_id or path))
    if version in (OVERVIEW_2021, PREVIEW_2021):
        if operation == "create_call":
            status = 201 if version == PREVIEW_2021 else 200
            return status, json.dumps({"callLegId": made}).encode()
        if operation in ("play_media", "cancel_all_media_operations"):
            # The seed's 202 body, assembled as text: half the cost of dumping a dict.
            media = (
                f'{{"id":{_JSON_TEXT.encode(request_id or made)},"status":"notStarted",'
                f'"operationContext":{_JSON_TEXT.encode(context)},"resultInfo":{_ACCEPTED_INFO}}}'
            )
            return 202, media.encode()
        return 202, b""
    in_call = path.startswith("/calling/callConnections/")
    call = unquote(path.split("/")[3].split(":")[0]) if in_call else made
    answers: dict[str, Any] = {
        "create_call": {"callConnectionId": made, "callConnectionState": "connecting"},
        "answer_call": {"callConnectionId": made, "callConnectionState": "connecting"},
        "connect_call": {"callConnectionId": made, "callConnectionState": "connecting"},
        "get_call_properties": {"callConnectionId": call, "callConnectionState": "connected"},
        "list_participants": {"value": []},
        "get_participant": {"identifier": {"rawId": unquote(path.rsplit("/", 1)[-1])}},
        "add_participant": {"participant": {"identifier": sent.get("participantToAdd")},
                            "invitationId": made, "operationContext": context},
        "start_recording": {"recordingId": made, "recordingState": "active"},
        "get_recording_properties": {"recordingId": unquote(path.rsplit("/", 1)[-1]),
                                     "recordingState": "active"},
    }
    status = _GA_STATUS.get(operation, 202)
    answer: Any = answers.get(operation)
    if answer is None and status != 204:
        answer = {"operationContext": context} if context is not None else None
    return status, json.dumps(answer).encode() if answer is not None else b""


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
