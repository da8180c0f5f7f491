"""``Repeatability-Request-ID``: a repeated id gets the first answer again and no second action.

The first request with an id executes and its answer (status, body, content type) is kept; a
request repeating the id, even while the first is still running, waits for and receives that
same answer. Reusing an id for a different request (method, path or body) is a 409. Faulted
and unauthenticated requests never reach this point, so they neither execute nor consume the id.
``executions`` counts how many times each id's action ran, for tests to assert "once".
"""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
    first_sent = headers.get(FIRST_SENT)
    if first_sent is not None:
        try:
            parsedate_to_datetime(first_sent)
        except (TypeError, ValueError):
            raise BadRequest("Repeatability-First-Sent: expected an RFC 1123 date") from None
    return value


class Repeatability:
    """Answers kept per repeatability id (the oldest forgotten past ``capacity``)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._answers: OrderedDict[str, tuple[str, asyncio.Future[_Answer]]] = OrderedDict()
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
    ) -> tuple[Response, bool]:
        """``execute()``'s answer, or the first answer for ``key``; and whether it was a replay.

        ``render`` turns an error of the first execution into the answer kept for ``key``.
        """
        if key is None:
            return await execute(), False
        known = self._answers.get(key)
        if known is not None:
            first_fingerprint, future = known
            if first_fingerprint != fingerprint:
                raise Conflict(
                    "Repeatability-Request-ID was already used for a different request",
                    code="RepeatabilityConflict",
                )
            return (await asyncio.shield(future)).response(), True
        future = asyncio.get_running_loop().create_future()
        self._answers[key] = (fingerprint, future)
        while len(self._answers) > self._capacity:
            self._answers.popitem(last=False)
        self.executions[key] += 1
        try:
            response = await execute()
        except EmulatorError as exc:
            response = render(exc)
        except BaseException:
            # nothing to replay: forget the id so a retry executes
            self._answers.pop(key, None)
            future.cancel()
            raise
        answer = _Answer(response.status_code, bytes(response.body), response.media_type)
        future.set_result(answer)
        return answer.response(), False
