"""What every request of the REST client goes through: URL, version, signing, ids, retries.

One :class:`Pipeline` per process owns the connection pool (httpx2, HMAC-signed). Its views share
the pool and differ in what a handler run attaches to them:

- the source of ``Repeatability-Request-ID`` values, and the moment sent as
  ``Repeatability-First-Sent`` (:meth:`Pipeline.with_request_ids`). A handler's context derives
  both from the event (its identity, and when it was logged), so a re-run sends the same pair and
  the service executes an operation it de-duplicates once;
- a :class:`RequestJournal` (:meth:`Pipeline.with_journal`): the event log's record of the run's
  requests. A request the same handler already completed for the same event is answered from
  the record instead of being sent again: the service does not de-duplicate a play or a
  recognize, and a retried handler would otherwise play its prompt twice;
- the API version (:meth:`Pipeline.with_version`): a 2021 event's call is addressed with the
  2021 paths, a GA event's with the GA ones.

The client (:class:`~callbacks.client.automation.CallAutomationClient`) and each call's
connection send through one; a dry run replaces :meth:`Pipeline.send` and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import quote

import httpx2
from pydantic import BaseModel, ValidationError

from callbacks.client.errors import (
    CallAutomationError,
    InvalidResponse,
    request_id_of,
    request_path,
)
from callbacks.client.hmac import HmacAuth, format_date
from callbacks.client.models import RequestBody
from callbacks.client.retry import RetryPolicy, send_with_retries
from callbacks.client.versions import API_VERSIONS, DEFAULT, OVERVIEW_2021, PREVIEW_2021

ApiStyle = Literal["seed", "2021"]
"""The earlier names of the two 2021 forms (``--api-style``)."""
STYLE_VERSIONS: Mapping[str, str] = {"seed": OVERVIEW_2021, "2021": PREVIEW_2021}
RequestIds = Callable[[], str]
"""Returns the ``Repeatability-Request-ID`` of the next request the service de-duplicates."""

DEFAULT_RETRY = RetryPolicy()
DEFAULT_TIMEOUT = httpx2.Timeout(10.0, connect=5.0)
DEFAULT_LIMITS = httpx2.Limits(max_connections=64, max_keepalive_connections=32)
_A = TypeVar("_A", bound=BaseModel)


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def random_request_id() -> str:
    """A fresh UUID4: the id source of a client not attached to a handler run."""
    return str(uuid.uuid4())


def segment(value: str, what: str) -> str:
    """``value`` quoted as one path segment; ValueError if it is not a non-empty string."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    return quote(value, safe="")


def check_endpoint(endpoint: str) -> str:
    """The service's base URL without a trailing slash; ValueError if it is not one."""
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


def check_version(api_version: str | None, api_style: str | None = None) -> str:
    """The API version from ``api_version`` or the earlier ``api_style``; ValueError if unknown."""
    if api_style is not None:
        if api_style not in STYLE_VERSIONS:
            raise ValueError("api_style must be 'seed' or '2021'")
        if api_version is not None and api_version != STYLE_VERSIONS[api_style]:
            raise ValueError("give api_version or api_style, not both")
        return STYLE_VERSIONS[api_style]
    version = DEFAULT if api_version is None else api_version
    if version not in API_VERSIONS:
        raise ValueError(f"unknown api_version {version!r}: use one of {', '.join(API_VERSIONS)}")
    return version


def parse(model: type[_A], response: httpx2.Response) -> _A:
    """The response body as ``model``; InvalidResponse naming the first bad field."""
    try:
        return model.model_validate_json(response.content or b"{}")
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


def body_bytes(body: RequestBody | Mapping[str, Any] | None) -> bytes | None:
    """A request body as sent: a model's camelCase JSON, or a mapping's compact JSON."""
    if body is None:
        return None
    if isinstance(body, RequestBody):
        return body.to_json()
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True, slots=True)
class SentRequest:
    """One request of a handler run, as the event log records it (never a secret)."""

    index: int
    """Its position among the run's requests, from 0."""
    operation: str
    method: str
    path: str
    """Below the endpoint, without the query."""
    body_hash: str
    """SHA-256 of the body sent (hex), or "" for none: a re-run must send the same request."""
    status: int | None
    """The final answer's status; None when none came."""
    duration: float
    repeatability_id: str | None = None
    error_code: str | None = None
    answer: bytes = b""
    """The 2xx answer's body, returned again if the same request comes up in a re-run."""

    @property
    def completed(self) -> bool:
        """Whether the service answered with a 2xx (only then is it answered from the log)."""
        return self.status is not None and 200 <= self.status < 300


class RequestJournal(Protocol):
    """Where a handler run's requests are recorded and looked up (the event log)."""

    def next_index(self) -> int:
        """The index of the run's next request."""

    async def completed(self, index: int) -> SentRequest | None:
        """The run's request ``index`` if an earlier run of the same handler completed it."""

    async def record(self, request: SentRequest) -> None:
        """Keep ``request`` (completed or failed)."""


class Pipeline:
    """Sends the client's requests: one connection pool, shared by cheap views."""

    __slots__ = ("callback_url", "clock", "endpoint", "first_sent", "http", "ids", "journal",
                 "owner", "retry", "version")

    def __init__(
        self,
        endpoint: str,
        key: bytes,
        *,
        api_version: str = DEFAULT,
        transport: httpx2.AsyncBaseTransport | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: httpx2.Timeout | float = DEFAULT_TIMEOUT,
        limits: httpx2.Limits = DEFAULT_LIMITS,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.endpoint = check_endpoint(endpoint)
        self.version = check_version(api_version)
        self.http = httpx2.AsyncClient(
            auth=HmacAuth(key, clock=clock),
            transport=transport,
            timeout=timeout,
            limits=limits,
            headers={"Accept": "application/json", "User-Agent": "acs-callbacks"},
        )
        self.retry = retry
        self.clock = clock
        self.ids: RequestIds = random_request_id
        self.first_sent: Callable[[], datetime] | None = None
        self.journal: RequestJournal | None = None
        self.callback_url: str | None = None
        self.owner = True

    def _view(self, **changes: Any) -> Pipeline:
        view = object.__new__(type(self))
        for name in [n for cls in type(self).__mro__ for n in getattr(cls, "__slots__", ())]:
            setattr(view, name, changes.get(name, getattr(self, name)))
        view.owner = False
        return view

    def with_request_ids(
        self, source: RequestIds, first_sent: Callable[[], datetime] | None = None
    ) -> Pipeline:
        """A view whose de-duplicated requests take their ids from ``source`` and say they were
        first sent at ``first_sent()`` (default: now)."""
        return self._view(ids=source, first_sent=first_sent)

    def with_journal(self, journal: RequestJournal | None) -> Pipeline:
        """A view recording its requests in ``journal`` and answering completed ones from it."""
        return self._view(journal=journal)

    def with_callback_url(self, url: str | None) -> Pipeline:
        """A view whose new calls post their events to ``url`` unless told otherwise."""
        return self._view(callback_url=url)

    def with_version(self, api_version: str) -> Pipeline:
        """A view speaking ``api_version``."""
        return self._view(version=check_version(api_version))

    def url(self, path: str) -> str:
        """The full URL of ``path`` (below the endpoint) in this view's version."""
        if self.version == OVERVIEW_2021:
            return f"{self.endpoint}{path}"
        return f"{self.endpoint}{path}?api-version={self.version}"

    async def send(
        self,
        operation: str,
        method: str,
        path: str,
        body: RequestBody | Mapping[str, Any] | None = None,
        *,
        repeatable: bool = False,
    ) -> httpx2.Response:
        """Send ``operation`` (``method`` on ``path``), signed and retried.

        ``repeatable``: the service de-duplicates it, so it carries the repeatability pair.
        """
        content = body_bytes(body)
        journal = self.journal
        index = journal.next_index() if journal is not None else 0
        digest = hashlib.sha256(content).hexdigest() if content else ""
        headers: dict[str, str] = {}
        if content is not None:
            headers["Content-Type"] = "application/json"
        request_id = None
        if repeatable:
            # Drawn once per logical request: every retry repeats the same pair.
            request_id = self.ids()
            headers["Repeatability-Request-ID"] = request_id
            headers["Repeatability-First-Sent"] = format_date((self.first_sent or self.clock)())
        request = self.http.build_request(
            method, self.url(path), content=content, headers=headers,
            extensions={"operation": operation},
        )
        if journal is not None:
            done = await journal.completed(index)
            if (done is not None and done.completed and done.method == method
                    and done.path == path and done.body_hash == digest):
                return httpx2.Response(done.status or 200, content=done.answer, request=request)
        started = time.monotonic()
        try:
            response = await send_with_retries(self.http, request, self.retry, self.clock)
        except CallAutomationError as exc:
            if journal is not None:
                await journal.record(SentRequest(
                    index, operation, method, path, digest, exc.status,
                    time.monotonic() - started, request_id, exc.code,
                ))
            raise
        if journal is not None:
            await journal.record(SentRequest(
                index, operation, method, path, digest, response.status_code,
                time.monotonic() - started, request_id, None, response.content,
            ))
        return response

    async def open(self) -> None:
        """Open the pool (the owner only; views share their owner's)."""
        if not self.owner:
            raise RuntimeError("a client view shares its owner's pool; open the owner instead")
        await self.http.__aenter__()

    async def aclose(self) -> None:
        """Close the pool (the owner only; views cannot close a shared pool)."""
        if not self.owner:
            raise RuntimeError("a client view shares its owner's pool; close the owner instead")
        await self.http.aclose()
