"""What every request of the REST client goes through: URL layout, signing, ids, retries.

One :class:`Pipeline` per process owns the connection pool (httpx2, HMAC-signed). Its views
(:meth:`Pipeline.with_request_ids`) share the pool and differ only in where the
``Repeatability-Request-ID`` of the next POST comes from: a handler's context derives them from
the event, so a re-dispatched handler repeats its ids and the service acts once. The client
(:class:`~callbacks.client.automation.CallAutomationClient`) and each call's connection
(:class:`~callbacks.client.connection.CallConnection`) send through one; a dry run replaces
:meth:`Pipeline.send` and nothing else.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal, TypeVar
from urllib.parse import quote

import httpx2
from pydantic import BaseModel, ValidationError

from callbacks.client.errors import InvalidResponse, request_id_of, request_path
from callbacks.client.hmac import HmacAuth, format_date
from callbacks.client.models import RequestBody
from callbacks.client.retry import RetryPolicy, send_with_retries

ApiStyle = Literal["seed", "2021"]
API_VERSION_2021 = "2021-04-15-preview1"
RequestIds = Callable[[], str]
"""Returns the ``Repeatability-Request-ID`` of the next POST (a UUID string)."""

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


def parse(model: type[_A], response: httpx2.Response) -> _A:
    """The response body as ``model``; InvalidResponse naming the first bad field."""
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


class Pipeline:
    """Sends the client's requests: one connection pool, shared by cheap views."""

    __slots__ = ("base", "clock", "endpoint", "http", "ids", "owner", "query", "retry", "style")

    def __init__(
        self,
        endpoint: str,
        key: bytes,
        *,
        api_style: ApiStyle = "seed",
        transport: httpx2.AsyncBaseTransport | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: httpx2.Timeout | float = DEFAULT_TIMEOUT,
        limits: httpx2.Limits = DEFAULT_LIMITS,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if api_style not in ("seed", "2021"):
            raise ValueError("api_style must be 'seed' or '2021'")
        self.endpoint = check_endpoint(endpoint)
        self.style: ApiStyle = api_style
        self.http = httpx2.AsyncClient(
            auth=HmacAuth(key, clock=clock),
            transport=transport,
            timeout=timeout,
            limits=limits,
            headers={"Accept": "application/json", "User-Agent": "acs-callbacks"},
        )
        self.retry = retry
        self.clock = clock
        self.base = self.endpoint + ("/calling/calls" if api_style == "2021" else "/calls")
        self.query = f"?api-version={API_VERSION_2021}" if api_style == "2021" else ""
        self.ids: RequestIds = random_request_id
        self.owner = True

    def with_request_ids(self, source: RequestIds) -> Pipeline:
        """A view sharing this pool whose POSTs take their repeatability ids from ``source``."""
        view = object.__new__(type(self))
        for name in self._slot_names():
            setattr(view, name, getattr(self, name))
        view.ids = source
        view.owner = False
        return view

    def _slot_names(self) -> list[str]:
        return [name for cls in type(self).__mro__ for name in getattr(cls, "__slots__", ())]

    async def send(self, method: str, path: str, body: RequestBody | None) -> httpx2.Response:
        """Send ``method`` to ``path`` (below the calls' base URL), signed and retried."""
        headers: dict[str, str] = {}
        content: bytes | None = None
        if body is not None:
            content = body.to_json()
            headers["Content-Type"] = "application/json"
        if method == "POST":
            # Drawn once per logical request: every retry repeats the same pair.
            headers["Repeatability-Request-ID"] = self.ids()
            headers["Repeatability-First-Sent"] = format_date(self.clock())
        url = f"{self.base}{path}{self.query}"
        request = self.http.build_request(method, url, content=content, headers=headers)
        return await send_with_retries(self.http, request, self.retry, self.clock)

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
