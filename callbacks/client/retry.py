"""When and how long the REST client waits before trying a request again.

Retried: connection errors, timeouts, 408, 429 and 5xx. Retrying a POST is safe because every
POST carries the same ``Repeatability-Request-ID`` on each attempt, so the service acts once.
The delay grows exponentially with jitter and is never shorter than the service's
``Retry-After``; a retry that would end past the total deadline is not attempted.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx2

from callbacks.client.errors import (
    CallAutomationError,
    NoResponse,
    error_from_response,
    request_path,
)

log = logging.getLogger("callbacks.client")

RETRYABLE_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx2.TimeoutException,
    httpx2.NetworkError,
    httpx2.RemoteProtocolError,
)
"""Transport failures worth another attempt (a bad URL or a local protocol bug is not)."""


def is_retryable_status(status: int) -> bool:
    """408, 429 and every 5xx."""
    return status in (408, 429) or status >= 500


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Attempt count, backoff and deadline; ``sleep``, ``monotonic`` and ``rand`` are seams."""

    attempts: int = 4
    """Total attempts, the first included; 1 disables retries."""
    base_delay: float = 0.5
    """Delay before the second attempt, doubled for each later one (before jitter)."""
    max_delay: float = 8.0
    """Ceiling of the exponential delay (a longer ``Retry-After`` is still honoured)."""
    deadline: float = 30.0
    """Seconds from the first attempt after which no new attempt starts."""
    sleep: Callable[[float], Awaitable[None]] = field(
        default=asyncio.sleep, repr=False, compare=False
    )
    monotonic: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    rand: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.deadline < 0:
            raise ValueError("RetryPolicy delays and deadline must not be negative")

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        Equal jitter: half the exponential delay, plus a random share of the other half, so
        clients that failed together do not come back together.
        """
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        delay = ceiling / 2 + ceiling / 2 * self.rand()
        return delay if retry_after is None else max(delay, retry_after)


def _seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return max(0.0, number) if math.isfinite(number) else None


def retry_after(response: httpx2.Response, now: datetime) -> float | None:
    """The server's requested wait in seconds: ``retry-after-ms`` or ``Retry-After``.

    ``Retry-After`` may be delta-seconds or an HTTP date; unreadable values are ignored.
    """
    headers = response.headers
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        millis = _seconds(headers.get(name))
        if millis is not None:
            return millis / 1000
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


async def send_with_retries(
    http: httpx2.AsyncClient,
    request: httpx2.Request,
    policy: RetryPolicy,
    clock: Callable[[], datetime],
) -> httpx2.Response:
    """Send ``request`` until a 2xx, a final error, the last attempt or the deadline.

    The same request object is re-sent, so its repeatability headers are identical on every
    attempt (the auth re-signs it each time with a fresh ``x-ms-date``).
    """
    started = policy.monotonic()
    attempt = 0
    while True:
        attempt += 1
        wait: float | None = None
        try:
            response = await http.send(request)
        except RETRYABLE_EXCEPTIONS as exc:
            failure: CallAutomationError = _no_response(request, exc)
            cause: BaseException | None = exc
            what = type(exc).__name__
        except httpx2.TransportError as exc:
            raise _no_response(request, exc) from exc
        else:
            if response.is_success:
                return response
            wait = retry_after(response, clock())
            failure = error_from_response(response, retry_after=wait)
            if not is_retryable_status(response.status_code):
                raise failure
            cause, what = None, f"HTTP {response.status_code}"
        delay = policy.backoff(attempt, wait)
        if attempt >= policy.attempts or policy.monotonic() - started + delay > policy.deadline:
            raise failure from cause
        log.warning(
            "%s %s: %s on attempt %d of %d; retrying in %.2fs (request id %s)",
            request.method, failure.path, what, attempt, policy.attempts, delay,
            failure.request_id,
        )
        await policy.sleep(delay)


def _no_response(request: httpx2.Request, exc: Exception) -> NoResponse:
    detail = str(exc)
    return NoResponse(
        f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__,
        request_id=request.headers.get("repeatability-request-id"),
        method=request.method,
        path=request_path(request),
    )
