"""The console's routes under ``/console``: pages, their JSON twins, live updates, log in/out.

Pages (keep these paths; scripts and bookmarks use them)::

    GET  /console/                       calls list (filters: call, context, type, status,
                                         since, until; pages: before, limit)
    GET  /console/calls/{call_id}        a call's timeline
    GET  /console/events/{event_id}      an event: raw JSON, runs, REST requests, errors
    GET  /console/dead                   dead events, each with a Retry button
    GET  /console/login, POST /console/login, POST /console/logout, POST /console/retry

The same as JSON for scripts (``Authorization: Bearer <api key>``, or the session cookie)::

    GET  /console/api/calls | /console/api/calls/{call_id} | /console/api/events/{event_id}
    GET  /console/api/dead
    POST /console/api/retry              {"ids": [...]}
    GET  /console/api/live?topic=...     server-sent events (see :mod:`.live`)

Without a session or the key, a page redirects to the login form and the API answers 401;
bad input is 400 ``{"code", "message"}`` (a page shows the message), a missing call or event 404.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from callbacks.calls.listing import list_calls
from callbacks.calls.summary import call_summary
from callbacks.calls.timeline import call_timeline
from callbacks.flows.flow import Flow
from callbacks.server.console.api import PAGE, ConsoleApi, error
from callbacks.server.console.auth import (
    COOKIE,
    CSRF_FIELD,
    SESSION_SECONDS,
    Access,
    ConsoleAuth,
)
from callbacks.server.console.filters import BadInput, calls_query, cursor
from callbacks.server.console.render import page
from callbacks.store.base import EventStore
from callbacks.store.records import EventFilter, EventRecord, EventStatus, StoreError

DEAD_PAGE = 100
_FAILED_LOGIN_DELAY = 0.5
_STATIC = Path(__file__).parent / "static"


def _safe_next(value: str | None) -> str:
    """A place in the console to go back to: a relative /console path, nothing else."""
    if not value or not value.startswith("/console") or value.startswith("//"):
        return "/console/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or "\\" in value or not value.isprintable():
        return "/console/"
    return value


class Console(ConsoleApi):
    """The console of one event log."""

    def __init__(self, store: EventStore, api_key: str,
                 flows: Mapping[str, Flow[Any]] | None = None) -> None:
        self.store = store
        self.auth = ConsoleAuth(api_key)
        self.flows = dict(flows or {})
        self.stopping: Callable[[], bool] = lambda: False
        """Whether the server is shutting down (``callbacks serve`` sets it): live streams end."""

    def __repr__(self) -> str:
        return f"Console({self.store!r})"

    @property
    def routes(self) -> list[BaseRoute]:
        """The routes to add to the app (``/console`` and ``/`` redirecting to it)."""
        pages: list[tuple[str, Handler, str]] = [
            ("/", self.calls_page, "GET"),
            ("/login", self.login_page, "GET"),
            ("/login", self.login, "POST"),
            ("/logout", self.logout, "POST"),
            ("/retry", self.retry_form, "POST"),
            ("/calls/{call_id:path}", self.call_page, "GET"),
            ("/events/{event_id:path}", self.event_page, "GET"),
            ("/dead", self.dead_page, "GET"),
            ("/api/calls", self.calls_api, "GET"),
            ("/api/calls/{call_id:path}", self.call_api, "GET"),
            ("/api/events/{event_id:path}", self.event_api, "GET"),
            ("/api/dead", self.dead_api, "GET"),
            ("/api/retry", self.retry_api, "POST"),
            ("/api/live", self.live, "GET"),
        ]
        console: list[BaseRoute] = [
            Route(where, _guarded(handler), methods=[method]) for where, handler, method in pages
        ]
        console.append(Mount("/static", StaticFiles(directory=_STATIC), name="console-static"))
        return [
            Route("/", lambda request: RedirectResponse("/console/", 302), methods=["GET"]),
            Route("/console", lambda request: RedirectResponse("/console/", 302),
                  methods=["GET"]),
            Mount("/console", routes=console),
        ]

    # -- who is asking --

    def _access(self, request: Request) -> Access | None:
        return self.auth.access(request.cookies, request.headers.get("authorization"))

    def _to_login(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/console/login?" + _query({"next": target}), 303)

    def _same_origin(self, request: Request) -> bool:
        """A browser's POST names where it comes from: it must be this console."""
        origin = request.headers.get("origin")
        return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"

    # -- log in and out --

    async def login_page(self, request: Request) -> Response:
        """The login form."""
        return page("login.html", access=None, live=None, error=None,
                    next=_safe_next(request.query_params.get("next")))

    async def login(self, request: Request) -> Response:
        """Check the key; set the session cookie and go where the user was going."""
        form = await _form(request)
        target = _safe_next(str(form.get("next") or ""))
        key = form.get("api_key")
        if not self._same_origin(request):
            return page("login.html", 403, access=None, live=None, next=target,
                        error="This form must be sent from the console's own page.")
        if not isinstance(key, str) or not key or not self.auth.key_matches(key):
            await asyncio.sleep(_FAILED_LOGIN_DELAY)  # slows guessing down
            return page("login.html", 401, access=None, live=None, next=target,
                        error="That is not the API key.")
        response = RedirectResponse(target, 303)
        response.set_cookie(COOKIE, self.auth.new_session(), max_age=SESSION_SECONDS,
                            path="/console", httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    async def logout(self, request: Request) -> Response:
        """End the session (its cookie); the token itself expires on its own."""
        access = self._access(request)
        form = await _form(request)
        if access is not None and not self.auth.csrf_ok(access, _field(form, CSRF_FIELD)):
            return error(403, "csrf", "the form's token does not match the session")
        response = RedirectResponse("/console/login", 303)
        response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict")
        return response

    # -- pages --

    async def calls_page(self, request: Request) -> Response:
        """The calls list."""
        access = self._access(request)
        if access is None:
            return self._to_login(request)
        try:
            asked = calls_query(request.query_params, PAGE)
        except BadInput as exc:
            empty = dict.fromkeys(("call", "context", "type", "status", "since", "until"), "")
            return page("calls.html", 400, access=access, live=None, error=str(exc),
                        calls=[], older=None, form=empty, statuses=_STATUSES)
        result = await list_calls(self.store, asked.where, limit=asked.limit,
                                  before=asked.before, flows=self.flows)
        return page("calls.html", access=access, live=None if asked.before else "calls",
                    error=None, calls=result.calls, older=result.older, form=asked.form,
                    statuses=_STATUSES)

    async def call_page(self, request: Request) -> Response:
        """A call's timeline."""
        access = self._access(request)
        if access is None:
            return self._to_login(request)
        call_id = request.path_params["call_id"]
        summary = await call_summary(self.store, call_id, self.flows)
        timeline = await call_timeline(self.store, call_id)
        if summary is None or timeline is None:
            return page("error.html", 404, access=access, live=None, error=None,
                        title="No such call", message=f"The log holds no event of call "
                        f"{call_id!r}.")
        return page("call.html", access=access, live=f"call:{summary.call_id}", error=None,
                    call=summary, timeline=timeline)

    async def event_page(self, request: Request) -> Response:
        """One event: fields, runs, requests, replays, raw JSON; Retry when dead."""
        access = self._access(request)
        if access is None:
            return self._to_login(request)
        record = await self.store.get_event(request.path_params["event_id"])
        if record is None:
            return page("error.html", 404, access=access, live=None, error=None,
                        title="No such event", message="The log holds no event with that id.")
        return page("event.html", access=access, live=f"event:{record.id}", error=None,
                    event=record, requests=await self.store.requests_of(record.id),
                    replays=await self.store.replay_outcomes(record.id))

    async def dead_page(self, request: Request) -> Response:
        """The dead events, newest first."""
        access = self._access(request)
        if access is None:
            return self._to_login(request)
        try:
            before = cursor(request.query_params)
        except BadInput as exc:
            return page("dead.html", 400, access=access, live=None, error=str(exc),
                        events=[], older=None)
        events, older = await self._dead(before)
        return page("dead.html", access=access, live=None if before else "dead", error=None,
                    events=events, older=older)

    async def retry_form(self, request: Request) -> Response:
        """The Retry button: send one dead event back to pending, then go back."""
        access = self._access(request)
        if access is None:
            return self._to_login(request)
        form = await _form(request)
        if not self._same_origin(request) or not self.auth.csrf_ok(
            access, _field(form, CSRF_FIELD)
        ):
            return page("error.html", 403, access=access, live=None, error=None,
                        title="Not retried", message="The form's token does not match your "
                        "session: reload the page and try again.")
        event_id = _field(form, "event_id") or ""
        await self._retry([event_id])
        return RedirectResponse(_safe_next(_field(form, "next")), 303)

    # -- shared --

    async def _dead(self, before: int | None) -> tuple[list[EventRecord], int | None]:
        where = EventFilter(status=EventStatus.DEAD, before_seq=before)
        events = [r async for r in self.store.list_events(where, limit=DEAD_PAGE + 1,
                                                          newest_first=True)]
        older = events[DEAD_PAGE - 1].seq if len(events) > DEAD_PAGE else None
        return events[:DEAD_PAGE], older

    async def _retry(self, ids: list[str]) -> int:
        dead = []
        for event_id in dict.fromkeys(ids):
            record = await self.store.get_event(event_id)
            if record is not None and record.status is EventStatus.DEAD:
                dead.append(record.id)
        return await self.store.retry(dead) if dead else 0


_STATUSES = [status.value for status in EventStatus]


MAX_FORM = 8192


async def _form(request: Request) -> dict[str, str]:
    """A small urlencoded form (what the console's own forms send); {} for anything else."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return {}
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return {}
    return dict(pairs)


def _field(form: Mapping[str, str], name: str) -> str | None:
    return form.get(name)


def _query(params: dict[str, str]) -> str:
    return urlencode(params)


Handler = Callable[[Request], Awaitable[Response]]


def _guarded(handler: Handler) -> Handler:
    """``handler``, answering 503 while the log cannot be read (a page, or JSON for the API)."""

    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except StoreError:
            message = "the event log cannot be read just now; try again shortly"
            if request.url.path.startswith("/console/api/"):
                return error(503, "unavailable", message)
            return page("error.html", 503, access=None, live=None, error=None,
                        title="Log unavailable", message=message)

    return answer
