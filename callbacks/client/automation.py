"""The Call Automation REST client: the seed's six operations, signed, retried, idempotent.

One :class:`CallAutomationClient` per process owns one connection pool; open it in the app's
lifespan (``async with client:``) and hand out cheap views: :meth:`~CallAutomationClient.for_call`
binds a call id, :meth:`~CallAutomationClient.with_request_ids` attaches the source of
``Repeatability-Request-ID`` values (a handler's context derives them from the event, so a
re-dispatched handler repeats its ids and the service acts once). Views share the owner's pool.

Paths follow the seed (``/calls/...``); ``api_style="2021"`` switches to the 2021 specification's
``/calling/calls/...?api-version=2021-04-15-preview1`` form and its ``audioFileId`` field name.
Failures raise the tree in :mod:`callbacks.client.errors`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, Self, TypeVar
from urllib.parse import quote

import httpx2
from pydantic import BaseModel, ValidationError

from callbacks.client.connection import CallConnection
from callbacks.client.errors import InvalidResponse, request_id_of, request_path
from callbacks.client.hmac import HmacAuth, decode_key, format_date, parse_connection_string
from callbacks.client.models import (
    CancelMediaProcessingRequest,
    CreateCallRequest,
    CreateCallResult,
    InviteParticipantsRequest,
    MediaOperationResponse,
    PlayAudioRequest,
    RequestBody,
)
from callbacks.client.retry import RetryPolicy, send_with_retries
from callbacks.identifiers import Identifier

ApiStyle = Literal["seed", "2021"]
API_VERSION_2021 = "2021-04-15-preview1"
RequestIds = Callable[[], str]
"""Returns the ``Repeatability-Request-ID`` of the next POST (a UUID string)."""

DEFAULT_RETRY = RetryPolicy()
DEFAULT_TIMEOUT = httpx2.Timeout(10.0, connect=5.0)
DEFAULT_LIMITS = httpx2.Limits(max_connections=64, max_keepalive_connections=32)
DEFAULT_CALL_EVENTS = ("participantsUpdated", "dtmfReceived")
_A = TypeVar("_A", bound=BaseModel)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def random_request_id() -> str:
    """A fresh UUID4: the id source of a client not attached to a handler run."""
    return str(uuid.uuid4())


def _segment(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    return quote(value, safe="")


def _identifier(value: Identifier | str) -> Identifier:
    return value if isinstance(value, Identifier) else Identifier.model_validate(value)


def _optional_identifier(value: Identifier | str | None) -> Identifier | None:
    return None if value is None else _identifier(value)


def _check_endpoint(endpoint: str) -> str:
    # Never quote the value: a connection string passed here by mistake holds the key.
    if not isinstance(endpoint, str):
        raise ValueError("endpoint must be a str URL")
    try:
        url = httpx2.URL(endpoint)
    except (httpx2.InvalidURL, ValueError, TypeError):
        raise ValueError("endpoint is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("endpoint must be an http(s) URL with a host")
    if url.userinfo or url.query or url.fragment:
        raise ValueError("endpoint must not carry credentials, a query or a fragment")
    return endpoint.rstrip("/")


class _Pool:
    """What every view of one client shares: the pool, the URL layout and the policies."""

    __slots__ = ("base", "clock", "endpoint", "http", "query", "retry", "style")

    def __init__(
        self, endpoint: str, style: ApiStyle, http: httpx2.AsyncClient,
        retry: RetryPolicy, clock: Callable[[], datetime],
    ) -> None:
        self.endpoint = endpoint
        self.style = style
        self.http = http
        self.retry = retry
        self.clock = clock
        self.base = endpoint + ("/calling/calls" if style == "2021" else "/calls")
        self.query = f"?api-version={API_VERSION_2021}" if style == "2021" else ""


def _parse(model: type[_A], response: httpx2.Response) -> _A:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidResponse(
            f"answer is not a {model.__name__}: {where}: {first['msg']}",
            status=response.status_code,
            request_id=request_id_of(response),
            method=response.request.method,
            path=request_path(response.request),
        ) from None


class CallAutomationClient:
    """Async client of the Call Automation REST API (HMAC-signed, pooled, retried)."""

    __slots__ = ("_ids", "_owner", "_pool")

    def __init__(
        self,
        endpoint: str,
        access_key: str | bytes,
        *,
        api_style: ApiStyle = "seed",
        transport: httpx2.AsyncBaseTransport | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: httpx2.Timeout | float = DEFAULT_TIMEOUT,
        limits: httpx2.Limits = DEFAULT_LIMITS,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        """``access_key`` is the base64 key of the connection string, or its decoded bytes."""
        if api_style not in ("seed", "2021"):
            raise ValueError("api_style must be 'seed' or '2021'")
        endpoint = _check_endpoint(endpoint)
        key = decode_key(access_key) if isinstance(access_key, str) else access_key
        http = httpx2.AsyncClient(
            auth=HmacAuth(key, clock=clock),
            transport=transport,
            timeout=timeout,
            limits=limits,
            headers={"Accept": "application/json", "User-Agent": "acs-callbacks"},
        )
        self._pool = _Pool(endpoint, api_style, http, retry, clock)
        self._ids: RequestIds = random_request_id
        self._owner = True

    @classmethod
    def from_connection_string(cls, connection_string: str, **kwargs: Any) -> Self:
        """Build from ``endpoint=...;accesskey=...``; ``kwargs`` as for the constructor."""
        endpoint, key = parse_connection_string(connection_string)
        return cls(endpoint, key, **kwargs)

    @property
    def endpoint(self) -> str:
        """The service's base URL, without a trailing slash."""
        return self._pool.endpoint

    @property
    def api_style(self) -> ApiStyle:
        """``"seed"`` or ``"2021"``: which path form and field names are used."""
        return self._pool.style

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint={self.endpoint!r}, api_style={self.api_style!r})"

    def with_request_ids(self, source: RequestIds) -> CallAutomationClient:
        """A view sharing this pool whose POSTs take their repeatability ids from ``source``."""
        view = object.__new__(type(self))
        view._pool = self._pool
        view._ids = source
        view._owner = False
        return view

    def for_call(self, call_id: str) -> CallConnection:
        """A view bound to one call; ``call_id`` is the call leg id of the seed's API."""
        return CallConnection(self, call_id)

    async def __aenter__(self) -> Self:
        if not self._owner:
            raise RuntimeError("a client view shares its owner's pool; open the owner instead")
        await self._pool.http.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (the owner only; views cannot close a shared pool)."""
        if not self._owner:
            raise RuntimeError("a client view shares its owner's pool; close the owner instead")
        await self._pool.http.aclose()

    async def _request(self, method: str, path: str, body: RequestBody | None) -> httpx2.Response:
        pool = self._pool
        headers: dict[str, str] = {}
        content: bytes | None = None
        if body is not None:
            content = body.to_json()
            headers["Content-Type"] = "application/json"
        if method == "POST":
            # Drawn once per logical request: every retry repeats the same pair.
            headers["Repeatability-Request-ID"] = self._ids()
            headers["Repeatability-First-Sent"] = format_date(pool.clock())
        url = f"{pool.base}{path}{pool.query}"
        request = pool.http.build_request(method, url, content=content, headers=headers)
        return await send_with_retries(pool.http, request, pool.retry, pool.clock)

    async def create_call(
        self,
        source: Identifier | str,
        targets: Sequence[Identifier | str],
        callback_uri: str,
        *,
        requested_modalities: Sequence[str] = ("audio",),
        requested_call_events: Sequence[str] = DEFAULT_CALL_EVENTS,
        subject: str | None = None,
        alternate_caller_id: Identifier | str | None = None,
    ) -> CreateCallResult:
        """Start an outbound call from ``source`` to ``targets``; events go to ``callback_uri``."""
        body = CreateCallRequest(
            source=_identifier(source),
            targets=[_identifier(target) for target in targets],
            callback_uri=callback_uri,
            requested_modalities=list(requested_modalities),
            requested_call_events=list(requested_call_events),
            subject=subject,
            alternate_caller_id=_optional_identifier(alternate_caller_id),
        )
        return _parse(CreateCallResult, await self._request("POST", "", body))

    async def hangup(self, call_id: str) -> None:
        """End the call for everyone."""
        await self._request("POST", f"/{_segment(call_id, 'call_id')}/Hangup", None)

    async def play_audio(
        self,
        call_id: str,
        audio_file_uri: str,
        *,
        loop: bool = False,
        operation_context: str | None = None,
        resource_id: str | None = None,
    ) -> MediaOperationResponse:
        """Play a WAV (mono, 16-bit, 16 kHz) to the call; a PlayAudioResult event follows."""
        if self._pool.style == "2021":
            body = PlayAudioRequest(
                audio_file_uri=audio_file_uri, loop=loop,
                operation_context=operation_context, audio_file_id=resource_id,
            )
        else:
            body = PlayAudioRequest(
                audio_file_uri=audio_file_uri, loop=loop,
                operation_context=operation_context, resource_id=resource_id,
            )
        path = f"/{_segment(call_id, 'call_id')}/PlayAudio"
        return _parse(MediaOperationResponse, await self._request("POST", path, body))

    async def cancel_media_processing(
        self, call_id: str, *, operation_context: str | None = None
    ) -> MediaOperationResponse | None:
        """Stop the running play; it ends with a PlayAudioResult (code 400, subcode 8508)."""
        path = f"/{_segment(call_id, 'call_id')}/CancelMediaProcessing"
        body = CancelMediaProcessingRequest(operation_context=operation_context)
        response = await self._request("POST", path, body)
        if not response.content.strip():
            return None
        return _parse(MediaOperationResponse, response)

    async def invite_participants(
        self,
        call_id: str,
        participants: Sequence[Identifier | str],
        *,
        operation_context: str | None = None,
        alternate_caller_id: Identifier | str | None = None,
    ) -> None:
        """Invite ``participants``; an InviteParticipantResult event reports the outcome."""
        body = InviteParticipantsRequest(
            participants=[_identifier(p) for p in participants],
            operation_context=operation_context,
            alternate_caller_id=_optional_identifier(alternate_caller_id),
        )
        await self._request("POST", f"/{_segment(call_id, 'call_id')}/participants", body)

    async def remove_participant(self, call_id: str, participant_id: str) -> None:
        """Remove a participant by the ``ParticipantId`` of a ParticipantsUpdated event."""
        path = (
            f"/{_segment(call_id, 'call_id')}/participants/"
            f"{_segment(participant_id, 'participant_id')}"
        )
        await self._request("DELETE", path, None)
