"""The console's JSON twins of its pages and its live stream, for scripts and the pages' script.

Every answer is JSON (``{"code", "message"}`` for an error) or, for ``/console/api/live``,
server-sent events; a request without the session cookie or ``Authorization: Bearer <api key>``
gets 401. A POST with the cookie must carry the session's ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from callbacks.calls.listing import list_calls
from callbacks.calls.summary import call_summary
from callbacks.calls.timeline import call_timeline
from callbacks.flows.flow import Flow
from callbacks.server.console import live
from callbacks.server.console.auth import CSRF_HEADER, Access, ConsoleAuth
from callbacks.server.console.filters import BadInput, calls_query, cursor
from callbacks.server.console.render import SECURITY_HEADERS
from callbacks.store.base import EventStore
from callbacks.store.records import EventRecord

PAGE = 50
"""Calls on a page of the list."""


def error(status: int, code: str, message: str) -> JSONResponse:
    """An error answer of the API."""
    return JSONResponse({"code": code, "message": message}, status_code=status,
                        headers=SECURITY_HEADERS)


def _unauthorized() -> JSONResponse:
    response = error(401, "unauthorized", "log in to the console, or send the API key as "
                     "Authorization: Bearer")
    response.headers["WWW-Authenticate"] = 'Bearer realm="console"'
    return response


def _json(document: dict[str, Any]) -> JSONResponse:
    return JSONResponse(document, headers=SECURITY_HEADERS)


class ConsoleApi(ABC):
    """The JSON half of :class:`~callbacks.server.console.routes.Console`."""

    store: EventStore
    auth: ConsoleAuth
    flows: Mapping[str, Flow[Any]]
    stopping: Callable[[], bool]

    @abstractmethod
    def _access(self, request: Request) -> Access | None:
        """How the request is authenticated, or None."""

    @abstractmethod
    async def _dead(self, before: int | None) -> tuple[list[EventRecord], int | None]:
        """A page of dead events, newest first, and where the next one starts."""

    @abstractmethod
    async def _retry(self, ids: list[str]) -> int:
        """Send the dead ones among ``ids`` back to pending; how many."""

    async def calls_api(self, request: Request) -> Response:
        """``{"calls": [...], "older": position or null}``."""
        if self._access(request) is None:
            return _unauthorized()
        try:
            asked = calls_query(request.query_params, PAGE)
        except BadInput as exc:
            return error(400, "invalid_filter", str(exc))
        result = await list_calls(self.store, asked.where, limit=asked.limit,
                                  before=asked.before, flows=self.flows)
        return _json({"calls": [c.to_json() for c in result.calls], "older": result.older})

    async def call_api(self, request: Request) -> Response:
        """``{"call": {...}, "timeline": [...], "partial": bool}``."""
        if self._access(request) is None:
            return _unauthorized()
        call_id = request.path_params["call_id"]
        summary = await call_summary(self.store, call_id, self.flows)
        timeline = await call_timeline(self.store, call_id)
        if summary is None or timeline is None:
            return error(404, "not_found", "the log holds no event of this call")
        return _json({"call": summary.to_json(), "partial": timeline.partial,
                      "timeline": [e.to_json(timeline.offset(e)) for e in timeline.entries]})

    async def event_api(self, request: Request) -> Response:
        """The event as ``events show --json`` prints it."""
        if self._access(request) is None:
            return _unauthorized()
        record = await self.store.get_event(request.path_params["event_id"])
        if record is None:
            return error(404, "not_found", "the log holds no event with this id")
        requests = await self.store.requests_of(record.id)
        replays = await self.store.replay_outcomes(record.id)
        return _json({**record.to_json(raw=True), "requests": [r.to_json() for r in requests],
                      "replays": [r.to_json() for r in replays]})

    async def dead_api(self, request: Request) -> Response:
        """``{"events": [...], "older": position or null}``, newest first."""
        if self._access(request) is None:
            return _unauthorized()
        try:
            before = cursor(request.query_params)
        except BadInput as exc:
            return error(400, "invalid_filter", str(exc))
        events, older = await self._dead(before)
        return _json({"events": [e.to_json() for e in events], "older": older})

    async def retry_api(self, request: Request) -> Response:
        """``{"ids": [...]}`` -> ``{"retried": n}``; with the cookie, the CSRF header too."""
        access = self._access(request)
        if access is None:
            return _unauthorized()
        if not self.auth.csrf_ok(access, request.headers.get(CSRF_HEADER)):
            return error(403, "csrf", "send the session's X-CSRF-Token header")
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return error(400, "invalid_json", "the body is not JSON")
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids or len(ids) > 1000 or not all(
            isinstance(i, str) and 0 < len(i) <= 512 for i in ids
        ):
            return error(400, "invalid_request", 'the body must be {"ids": [event ids]}: '
                          "1 to 1000 strings")
        return _json({"retried": await self._retry(ids)})

    async def live(self, request: Request) -> Response:
        """Server-sent events: ``changed`` whenever the topic's page would show something new."""
        if self._access(request) is None:
            return _unauthorized()
        try:
            look = live.marker(self.store, request.query_params.get("topic", ""))
        except live.UnknownTopic as exc:
            return error(400, "invalid_topic", str(exc))
        return StreamingResponse(
            live.stream(look, self.stopping), media_type="text/event-stream",
            headers={**SECURITY_HEADERS, "X-Accel-Buffering": "no"},
        )
