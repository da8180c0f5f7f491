"""The repeatability pair: a repeated request gets the first answer again and no second action.

As on the service, a request is repeated when it carries the same ``Repeatability-Request-ID``
and the same ``Repeatability-First-Sent`` (the same instant, however it is written) as an
earlier one. The first request with a pair executes and its answer (status, body, content type)
is kept; a request repeating the pair, even while the first is still running, waits for and
receives that same answer. Reusing a pair for a different request (method, path or body) is a
409; the same id with another first-sent time is another request, and executes again. Faulted
and unauthenticated requests never reach this point, so they neither execute nor consume a
pair. ``executions`` counts how many times the action of each id ran, for tests to assert "once"
(a client that sends a new first-sent time on a retry shows up as 2).
"""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from starlette.datastructures import Headers
from starlette.responses import Response

from callbacks.emulator.errors import BadRequest, Conflict, EmulatorError, error_response

REQUEST_ID = "repeatability-request-id"
FIRST_SENT = "repeatability-first-sent"
MAX_ID_LENGTH = 256


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: bytes
    media_type: str | None

    def response(self) -> Response:
        headers = {"Repeatability-Result": "accepted"}
        return Response(self.body, self.status, headers=headers, media_type=self.media_type)


def request_id(headers: Headers) -> str | None:
    """The request's repeatability id, checked; ``BadRequest`` names a malformed header."""
    value = headers.get(REQUEST_ID)
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise BadRequest(f"Repeatability-Request-ID: expected 1 to {MAX_ID_LENGTH} characters")
    first_sent(headers)
    return value


def first_sent(headers: Headers) -> datetime | None:
    """The request's ``Repeatability-First-Sent``, checked; ``BadRequest`` if malformed."""
    value = headers.get(FIRST_SENT)
    if value is None:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise BadRequest("Repeatability-First-Sent: expected an RFC 1123 date") from None


class Repeatability:
    """Answers kept per repeatability pair (the oldest forgotten past ``capacity``)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._answers: OrderedDict[
            tuple[str, datetime | None], tuple[str, asyncio.Future[_Answer]]
        ] = OrderedDict()
        self.executions: Counter[str] = Counter()

    def clear(self) -> None:
        """Forget every id and count."""
        self._answers.clear()
        self.executions.clear()

    async def run(
        self,
        key: str | None,
        fingerprint: str,
        execute: Callable[[], Awaitable[Response]],
        render: Callable[[EmulatorError], Response] = error_response,
        sent: datetime | None = None,
    ) -> tuple[Response, bool]:
        """``execute()``'s answer, or the first answer for the pair (``key``, ``sent``: the
        first-sent time); and whether it was a replay.

        ``render`` turns an error of the first execution into the answer kept for the pair.
        """
        if key is None:
            return await execute(), False
        pair = (key, sent)
        known = self._answers.get(pair)
        if known is not None:
            first_fingerprint, future = known
            if first_fingerprint != fingerprint:
                raise Conflict(
                    "Repeatability-Request-ID was already used for a different request",
                    code="RepeatabilityConflict",
                )
            return (await asyncio.shield(future)).response(), True
        future = asyncio.get_running_loop().create_future()
        self._answers[pair] = (fingerprint, future)
        while len(self._answers) > self._capacity:
            self._answers.popitem(last=False)
        self.executions[key] += 1
        try:
            response = await execute()
        except EmulatorError as exc:
            response = render(exc)
        except BaseException:
            # nothing to replay: forget the pair so a retry executes
            self._answers.pop(pair, None)
            future.cancel()
            raise
        answer = _Answer(response.status_code, bytes(response.body), response.media_type)
        future.set_result(answer)
        return answer.response(), False
