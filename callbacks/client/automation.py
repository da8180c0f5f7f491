"""The Call Automation REST client: what is not about one call (create a call), and the calls.

One :class:`CallAutomationClient` per process owns one connection pool; open it in the app's
lifespan (``async with client:``) and hand out cheap views: :meth:`~CallAutomationClient.
with_request_ids` attaches the source of ``Repeatability-Request-ID`` values, and
:meth:`~CallAutomationClient.get_call_connection` gives the
:class:`~callbacks.client.connection.CallConnection` that owns a call's operations, as
Microsoft's SDK does. Views share the owner's pool.

Paths follow the seed (``/calls/...``); ``api_style="2021"`` switches to the 2021 specification's
``/calling/calls/...?api-version=2021-04-15-preview1`` form and its ``audioFileId`` field name.
Failures raise the tree in :mod:`callbacks.client.errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import httpx2

from callbacks.client.connection import CallConnection
from callbacks.client.hmac import decode_key, parse_connection_string
from callbacks.client.models import CreateCallRequest, CreateCallResult
from callbacks.client.pipeline import (
    DEFAULT_LIMITS,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT,
    ApiStyle,
    Pipeline,
    RequestIds,
    parse,
    utc_now,
)
from callbacks.client.retry import RetryPolicy
from callbacks.identifiers import Identifier, identifier, optional_identifier

DEFAULT_CALL_EVENTS = ("participantsUpdated", "dtmfReceived")


class CallAutomationClient:
    """Async client of the Call Automation REST API (HMAC-signed, pooled, retried)."""

    __slots__ = ("_pipeline",)

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
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """``access_key`` is the base64 key of the connection string, or its decoded bytes."""
        key = decode_key(access_key) if isinstance(access_key, str) else access_key
        self._pipeline = self._make_pipeline(
            endpoint, key, api_style=api_style, transport=transport, retry=retry,
            timeout=timeout, limits=limits, clock=clock,
        )

    def _make_pipeline(self, endpoint: str, key: bytes, **options: Any) -> Pipeline:
        """The pipeline this client sends through (a dry run substitutes its own)."""
        return Pipeline(endpoint, key, **options)

    @classmethod
    def from_connection_string(cls, connection_string: str, **kwargs: Any) -> Self:
        """Build from ``endpoint=...;accesskey=...``; ``kwargs`` as for the constructor."""
        endpoint, key = parse_connection_string(connection_string)
        return cls(endpoint, key, **kwargs)

    @property
    def endpoint(self) -> str:
        """The service's base URL, without a trailing slash."""
        return self._pipeline.endpoint

    @property
    def api_style(self) -> ApiStyle:
        """``"seed"`` or ``"2021"``: which path form and field names are used."""
        return self._pipeline.style

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint={self.endpoint!r}, api_style={self.api_style!r})"

    def with_request_ids(self, source: RequestIds) -> Self:
        """A view sharing this pool whose POSTs take their repeatability ids from ``source``."""
        view = object.__new__(type(self))
        view._pipeline = self._pipeline.with_request_ids(source)
        return view

    def get_call_connection(self, call_connection_id: str) -> CallConnection:
        """The operations of one call; ``call_connection_id`` is the seed's call leg id."""
        return CallConnection(self._pipeline, call_connection_id)

    async def __aenter__(self) -> Self:
        await self._pipeline.open()
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
        await self._pipeline.aclose()

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
            source=identifier(source),
            targets=[identifier(target) for target in targets],
            callback_uri=callback_uri,
            requested_modalities=list(requested_modalities),
            requested_call_events=list(requested_call_events),
            subject=subject,
            alternate_caller_id=optional_identifier(alternate_caller_id),
        )
        return parse(CreateCallResult, await self._pipeline.send("POST", "", body))
