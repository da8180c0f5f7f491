"""The Call Automation REST client: calls (create, answer, redirect, reject, connect), the call
connections, and recordings, named as in Microsoft's SDK.

One :class:`CallAutomationClient` per process owns one connection pool; open it in the app's
lifespan (``async with client:``) and hand out cheap views. :meth:`~CallAutomationClient.
get_call_connection` gives the object that owns a call's operations
(:class:`~callbacks.client.connection.CallConnection` for GA,
:class:`~callbacks.client.preview.CallLegConnection` for the 2021 API). Recording is keyed by the
server call id, so it stays on the client, as in the SDK.

``api_version`` (default the SDK's, ``2026-03-12``) is a GA version, ``2021-04-15-preview1`` or
``2021-overview`` (:mod:`callbacks.client.versions`). Failures raise the tree in
:mod:`callbacks.client.errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import httpx2

from callbacks.client.connection import CallConnection
from callbacks.client.hmac import decode_key, parse_connection_string
from callbacks.client.models import CallConnectionProperties, RecordingProperties
from callbacks.client.pipeline import (
    DEFAULT_LIMITS,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT,
    Pipeline,
    RequestIds,
    RequestJournal,
    check_version,
    parse,
    segment,
    utc_now,
)
from callbacks.client.preview import CallLegConnection, calls_path, create_call_body
from callbacks.client.retry import RetryPolicy
from callbacks.client.versions import is_ga
from callbacks.identifiers import Identifier, identifier, phone_number


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _intelligence(endpoint: str | None) -> dict[str, str] | None:
    return {"cognitiveServicesEndpoint": endpoint} if endpoint else None


class CallAutomationClient:
    """Async client of the Call Automation REST API (HMAC-signed, pooled, retried)."""

    __slots__ = ("_pipeline",)

    def __init__(
        self,
        endpoint: str,
        access_key: str | bytes,
        *,
        api_version: str | None = None,
        api_style: str | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: httpx2.Timeout | float = DEFAULT_TIMEOUT,
        limits: httpx2.Limits = DEFAULT_LIMITS,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """``access_key`` is the base64 key of the connection string, or its decoded bytes;
        ``api_style`` (``seed`` or ``2021``) is the earlier name of the two 2021 versions."""
        key = decode_key(access_key) if isinstance(access_key, str) else access_key
        self._pipeline = self._make_pipeline(
            endpoint, key, api_version=check_version(api_version, api_style),
            transport=transport, retry=retry, timeout=timeout, limits=limits, clock=clock,
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
    def api_version(self) -> str:
        """The API version of new calls and of :meth:`get_call_connection`'s connections."""
        return self._pipeline.version

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(endpoint={self.endpoint!r}, api_version={self.api_version!r})"

    def _with(self, pipeline: Pipeline) -> Self:
        view = object.__new__(type(self))
        view._pipeline = pipeline
        return view

    def with_request_ids(
        self, source: RequestIds, first_sent: Callable[[], datetime] | None = None
    ) -> Self:
        """A view sharing this pool whose de-duplicated requests take their repeatability id
        from ``source`` and their first-sent time from ``first_sent``."""
        return self._with(self._pipeline.with_request_ids(source, first_sent))

    def with_journal(self, journal: RequestJournal | None) -> Self:
        """A view recording its requests in ``journal`` (see :mod:`callbacks.client.pipeline`)."""
        return self._with(self._pipeline.with_journal(journal))

    def with_callback_url(self, callback_url: str | None) -> Self:
        """A view whose ``create_call``, ``answer_call`` and ``connect_call`` use
        ``callback_url`` when not given one."""
        return self._with(self._pipeline.with_callback_url(callback_url))

    def _callback(self, given: str | None) -> str:
        url = given or self._pipeline.callback_url
        if not url:
            raise ValueError("no callback_url given, and none configured for this client "
                             "(the service's --callback-url)")
        return url

    def with_api_version(self, api_version: str) -> Self:
        """A view speaking ``api_version``."""
        return self._with(self._pipeline.with_version(api_version))

    def get_call_connection(
        self, call_connection_id: str
    ) -> CallConnection | CallLegConnection:
        """The operations of one call, in this client's API version."""
        if is_ga(self.api_version):
            return CallConnection(self._pipeline, call_connection_id)
        return CallLegConnection(self._pipeline, call_connection_id)

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
        target_participant: Identifier | str | Sequence[Identifier | str],
        callback_url: str | None = None,
        *,
        source_caller_id_number: Identifier | str | None = None,
        source_display_name: str | None = None,
        operation_context: str | None = None,
        cognitive_services_endpoint: str | None = None,
        source: Identifier | str | None = None,
        requested_call_events: Sequence[str] | None = None,
        subject: str | None = None,
    ) -> CallConnectionProperties:
        """Call one target, or several at once (the first to answer joins); CallConnected or
        CreateCallFailed follows.

        ``source`` (an ACS user) is required by the 2021 API only; ``requested_call_events``
        (default participantsUpdated and dtmfReceived) and ``subject`` exist in it only.
        """
        targets = (
            [target_participant] if isinstance(target_participant, Identifier | str)
            else list(target_participant)
        )
        if not targets:
            raise ValueError("create_call needs at least one target")
        callback_url = self._callback(callback_url)
        if not is_ga(self.api_version):
            if source is None:
                raise ValueError("the 2021 API needs the calling identity: pass source=...")
            body: Any = create_call_body(
                source, targets, callback_url, alternate_caller_id=source_caller_id_number,
                requested_call_events=requested_call_events, subject=subject,
            )
            response = await self._pipeline.send(
                "create_call", "POST", calls_path(self.api_version), body, repeatable=True
            )
            return parse(CallConnectionProperties, response)
        if requested_call_events is not None or subject is not None:
            raise ValueError("requested_call_events and subject are options of the 2021 API")
        body = _compact({
            "targets": [identifier(t).to_wire() for t in targets],
            "source": _user(source),
            "sourceCallerIdNumber": phone_number(source_caller_id_number),
            "sourceDisplayName": source_display_name,
            "operationContext": operation_context,
            "callbackUri": callback_url,
            "callIntelligenceOptions": _intelligence(cognitive_services_endpoint),
        })
        response = await self._pipeline.send(
            "create_call", "POST", "/calling/callConnections", body, repeatable=True
        )
        return parse(CallConnectionProperties, response)

    async def create_group_call(
        self,
        target_participants: Sequence[Identifier | str],
        callback_url: str | None = None,
        **kwargs: Any,
    ) -> CallConnectionProperties:
        """:meth:`create_call` to several targets (the SDK's earlier name)."""
        return await self.create_call(list(target_participants), callback_url, **kwargs)

    async def answer_call(
        self,
        incoming_call_context: str,
        callback_url: str | None = None,
        *,
        cognitive_services_endpoint: str | None = None,
        operation_context: str | None = None,
    ) -> CallConnectionProperties:
        """Answer an incoming call (from an IncomingCall event); CallConnected follows."""
        self._ga_only("answer_call")
        body = _compact({
            "incomingCallContext": incoming_call_context,
            "callbackUri": self._callback(callback_url),
            "operationContext": operation_context,
            "callIntelligenceOptions": _intelligence(cognitive_services_endpoint),
        })
        response = await self._pipeline.send(
            "answer_call", "POST", "/calling/callConnections:answer", body, repeatable=True
        )
        return parse(CallConnectionProperties, response)

    async def redirect_call(
        self, incoming_call_context: str, target_participant: Identifier | str
    ) -> None:
        """Send an incoming call to another target without answering it."""
        self._ga_only("redirect_call")
        body = {"incomingCallContext": incoming_call_context,
                "target": identifier(target_participant).to_wire()}
        await self._pipeline.send("redirect_call", "POST", "/calling/callConnections:redirect",
                                  body, repeatable=True)

    async def reject_call(
        self, incoming_call_context: str, *, call_reject_reason: str | None = None
    ) -> None:
        """Reject an incoming call (``call_reject_reason``: none, busy or forbidden)."""
        self._ga_only("reject_call")
        body = _compact({"incomingCallContext": incoming_call_context,
                         "callRejectReason": call_reject_reason})
        await self._pipeline.send("reject_call", "POST", "/calling/callConnections:reject",
                                  body, repeatable=True)

    async def connect_call(
        self,
        callback_url: str | None = None,
        *,
        server_call_id: str | None = None,
        group_call_id: str | None = None,
        room_id: str | None = None,
        cognitive_services_endpoint: str | None = None,
        operation_context: str | None = None,
    ) -> CallConnectionProperties:
        """Join an existing call (by server call id, group call id or room id)."""
        self._ga_only("connect_call")
        body = _compact({
            "callLocator": _locator(server_call_id, group_call_id, room_id),
            "callbackUri": self._callback(callback_url),
            "operationContext": operation_context,
            "callIntelligenceOptions": _intelligence(cognitive_services_endpoint),
        })
        response = await self._pipeline.send(
            "connect_call", "POST", "/calling/callConnections:connect", body, repeatable=True
        )
        return parse(CallConnectionProperties, response)

    async def start_recording(
        self,
        *,
        server_call_id: str,
        recording_state_callback_url: str | None = None,
        recording_content_type: str | None = None,
        recording_channel_type: str | None = None,
        recording_format_type: str | None = None,
        pause_on_start: bool | None = None,
    ) -> RecordingProperties:
        """Start recording the call; RecordingStateChanged follows."""
        self._ga_only("start_recording")
        body = _compact({
            "callLocator": _locator(server_call_id, None, None),
            "recordingStateCallbackUri": recording_state_callback_url,
            "recordingContentType": recording_content_type,
            "recordingChannelType": recording_channel_type,
            "recordingFormatType": recording_format_type,
            "channelAffinity": [],
            "pauseOnStart": pause_on_start,
        })
        response = await self._pipeline.send("start_recording", "POST", "/calling/recordings",
                                             body, repeatable=True)
        return parse(RecordingProperties, response)

    async def get_recording_properties(self, recording_id: str) -> RecordingProperties:
        """A recording's state."""
        response = await self._pipeline.send("get_recording_properties", "GET",
                                             self._recording(recording_id))
        return parse(RecordingProperties, response)

    async def stop_recording(self, recording_id: str) -> None:
        """Stop a recording for good."""
        await self._pipeline.send("stop_recording", "DELETE", self._recording(recording_id))

    async def pause_recording(self, recording_id: str) -> None:
        """Pause a recording."""
        await self._pipeline.send("pause_recording", "POST",
                                  self._recording(recording_id) + ":pause")

    async def resume_recording(self, recording_id: str) -> None:
        """Resume a paused recording."""
        await self._pipeline.send("resume_recording", "POST",
                                  self._recording(recording_id) + ":resume")

    def _recording(self, recording_id: str) -> str:
        self._ga_only("recordings")
        return "/calling/recordings/" + segment(recording_id, "recording_id")

    def _ga_only(self, operation: str) -> None:
        if not is_ga(self.api_version):
            raise ValueError(
                f"{operation} is an operation of GA Call Automation; this client uses the 2021 "
                f"API ({self.api_version}): configure a GA api-version"
            )


def _user(value: Identifier | str | None) -> dict[str, str] | None:
    """The calling ACS user as GA create-call names it (``{"id": "8:acs:..."}``)."""
    if value is None:
        return None
    user = identifier(value)
    if user.communication_user_id is None:
        raise ValueError("source must be an ACS user such as 8:acs:...")
    return {"id": user.communication_user_id}


def _locator(
    server_call_id: str | None, group_call_id: str | None, room_id: str | None
) -> dict[str, str]:
    given = [(k, v) for k, v in (("serverCallId", server_call_id), ("groupCallId", group_call_id),
                                 ("roomId", room_id)) if v]
    if len(given) != 1:
        raise ValueError("name the call by exactly one of server_call_id, group_call_id, room_id")
    key, value = given[0]
    kinds = {"serverCallId": "serverCallLocator", "groupCallId": "groupCallLocator",
             "roomId": "roomCallLocator"}
    return {key: value, "kind": kinds[key]}
