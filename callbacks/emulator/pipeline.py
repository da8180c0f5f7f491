"""The path every REST request takes, whichever API it belongs to.

In order: added latency, body size limit, HMAC verification over path and query, the
api-version, repeatability headers, injected faults (before anything executes), then the
operation, under the repeatability cache when the operation is one the service de-duplicates.
Each request is recorded in the journal. Errors are answered in the shape of the request's API:
``{"code", "message"}`` for the 2021 forms, ``{"error": {"code", "message"}}`` for GA.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from callbacks.client.hmac import content_hash
from callbacks.client.versions import GA_VERSIONS, PREVIEW_2021
from callbacks.emulator.emulator import Emulator
from callbacks.emulator.errors import (
    BadRequest,
    ClientGone,
    EmulatorError,
    InjectedFault,
    PayloadTooLarge,
    error_response,
    ga_error_response,
)
from callbacks.emulator.journal import RequestRecord
from callbacks.emulator.repeatability import first_sent, request_id
from callbacks.emulator.signature import path_and_query, verify_request


class Form(StrEnum):
    """Which API, and which path form of it, a request used."""

    SEED = "seed"
    SPEC_2021 = "2021"
    GA = "ga"

    @property
    def versions(self) -> tuple[str, ...]:
        """The api-versions this form accepts (none: no query parameter at all)."""
        if self is Form.GA:
            return GA_VERSIONS
        return (PREVIEW_2021,) if self is Form.SPEC_2021 else ()

    def render(self, error: EmulatorError) -> Response:
        """``error`` as this API answers it."""
        return ga_error_response(error) if self is Form.GA else error_response(error)


@dataclass(slots=True)
class Exchange:
    """One REST request as an operation sees it."""

    emulator: Emulator
    request: Request
    body: bytes
    form: Form
    record: RequestRecord

    @property
    def call_id(self) -> str:
        """The ``{callId}`` (2021) or ``{callConnectionId}`` (GA) path parameter."""
        return str(self.request.path_params["call_id"])


Operation = Callable[[Exchange], Response]


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes (:class:`PayloadTooLarge` past it)."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"body: larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientGone("body: the caller disconnected before sending it all") from None
    return b"".join(chunks)


def check_api_version(request: Request, form: Form) -> None:
    """:class:`BadRequest` unless the request names an api-version its form accepts."""
    if not form.versions:
        return
    version = request.query_params.get("api-version")
    if not version:
        raise BadRequest("api-version: query parameter required", code="MissingApiVersionParameter")
    if version not in form.versions:
        supported = ", ".join(sorted(form.versions))
        raise BadRequest(
            f"api-version: {version!r} is not supported; use {supported}",
            code="UnsupportedApiVersion",
        )


async def serve(
    request: Request, name: str, operation: Operation, form: Form, *, repeatable: bool = True
) -> Response:
    """Run one REST operation through the whole pipeline and record it.

    ``repeatable``: whether a repeated ``Repeatability-Request-ID`` gets the first answer
    instead of a second execution (GA: only the operations the service de-duplicates).
    """
    emulator: Emulator = request.app.state.emulator
    target = path_and_query(request)
    record = emulator.journal.request(request.method, target, name, form.value)
    record.call_id = request.path_params.get("call_id")
    try:
        latency = emulator.faults.latency()
        if latency:
            await asyncio.sleep(latency)
        body = await read_body(request, emulator.config.max_body_bytes)
        config = emulator.config
        verify_request(
            request, body, config.access_key, max_skew=config.max_clock_skew, now=datetime.now(UTC)
        )
        check_api_version(request, form)
        key = request_id(request.headers) if repeatable else None
        record.repeatability_id = key
        emulator.faults.check_request()
        exchange = Exchange(emulator, request, body, form, record)

        async def execute() -> Response:
            try:
                return operation(exchange)
            except EmulatorError as exc:
                record.error = exc.code
                raise

        fingerprint = f"{request.method} {request.url.path.lower()} {content_hash(body)}"
        response, record.replayed = await emulator.repeatability.run(
            key, fingerprint, execute, form.render, first_sent(request.headers) if key else None
        )
    except EmulatorError as exc:
        if isinstance(exc, InjectedFault):
            record.fault = exc.status
        record.error = exc.code
        response = form.render(exc)
    record.status = response.status_code
    return response
