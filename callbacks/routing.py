"""Route events to handler functions by event type, call and operation context.

Semantics (tested in ``tests/test_routing.py``):

- every route whose type, ``operation_context`` and ``call_id`` match runs, in registration order;
- ``Router(a, b)`` composes: ``a``'s routes, then ``b``'s, then the composite's own, live;
- an exception in one handler is logged with the event identity and does not stop the others;
- registering anything but ``async def h(event, ctx)`` fails at registration.

No I/O: the router matches and calls; the dispatcher decides when and records outcomes.
"""

from __future__ import annotations

import fnmatch
import functools
import inspect
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from callbacks.events.base import Event
from callbacks.events.parse import event_class_for

if TYPE_CHECKING:
    from callbacks.context import Context

log = logging.getLogger("callbacks.routing")

E = TypeVar("E", bound=Event)
Handler = Callable[[E, "Context"], Awaitable[None]]
AnyHandler = Callable[[Any, "Context"], Awaitable[None]]
Matcher = str | Callable[[str | None], bool] | None
"""Exact string, glob (``"reminder:*"``), predicate over the value, or None for any."""

ALL = "*"
_GLOB_CHARS = frozenset("*?[")


def _compile(matcher: Matcher, what: str) -> Callable[[str | None], bool] | None:
    if matcher is None:
        return None
    if isinstance(matcher, str):
        if _GLOB_CHARS.isdisjoint(matcher):
            return lambda value: value == matcher
        return lambda value: value is not None and fnmatch.fnmatchcase(value, matcher)
    if callable(matcher):
        return matcher
    raise TypeError(f"{what} must be a string, a glob or a predicate, not {type(matcher).__name__}")


def qualified_name(func: Callable[..., Any]) -> str:
    """``module.qualname`` of a handler: stable across restarts, used in outcomes and ids. A
    ``functools.partial`` is named by the function it wraps (its repr holds an address)."""
    while isinstance(func, functools.partial):
        func = func.func
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


@dataclass(frozen=True, slots=True)
class Route:
    """One registered handler and what it matches."""

    handler: AnyHandler
    event_type: str
    """A short type name (``PlayAudioResult``); the full name of a type from outside
    ``Microsoft.`` (``Contoso.Things.Happened``), matched whole; or ``*`` for every event."""
    event_class: type[Event] | None
    operation_context: Callable[[str | None], bool] | None
    call_id: Callable[[str | None], bool] | None
    name: str

    def matches(self, event: Event) -> bool:
        """Whether this route wants ``event``."""
        if self.event_class is not None:
            if not isinstance(event, self.event_class):
                return False
        elif self.event_type != ALL and self.event_type != (
            event.full_type if "." in self.event_type else event.type
        ):
            return False
        if self.operation_context is not None and not self.operation_context(
            event.operation_context
        ):
            return False
        return self.call_id is None or self.call_id(event.call_id)


@dataclass(frozen=True, slots=True)
class HandlerOutcome:
    """What one handler run did: ``error`` is None when it succeeded."""

    route: Route
    error: str | None
    duration: float
    exception: Exception | None = None
    """What the handler raised, for the caller to judge (retry or not)."""

    @property
    def ok(self) -> bool:
        """True when the handler returned without raising."""
        return self.error is None


def _check_handler(handler: object) -> None:
    name = getattr(handler, "__qualname__", repr(handler))
    if not callable(handler):
        raise TypeError(f"handler {name!r} is not callable")
    if not inspect.iscoroutinefunction(handler):
        raise TypeError(
            f"handler {name!r} must be an async function: declare it "
            f"`async def {getattr(handler, '__name__', 'handler')}(event, ctx) -> None`"
        )
    try:
        inspect.signature(handler).bind(None, None)
    except TypeError:
        raise TypeError(
            f"handler {name!r} must accept exactly two positional arguments (event, ctx)"
        ) from None


def _resolve_type(event_type: type[Event] | str) -> tuple[str, type[Event] | None]:
    if isinstance(event_type, str):
        if event_type == ALL:
            return ALL, None
        short = event_type.rsplit(".", 1)[-1] if event_type.startswith("Microsoft.") else event_type
        if not short:
            raise TypeError("event type name must not be empty")
        return short, event_class_for(short)
    if isinstance(event_type, type) and issubclass(event_type, Event):
        return event_type.TYPE, event_type
    raise TypeError(
        f"event type must be an Event subclass, a type name or '*', not {event_type!r}"
    )


class Router:
    """Handlers by event type, call id and operation context; composable."""

    def __init__(self, *routers: Router) -> None:
        for router in routers:
            if not isinstance(router, Router):
                raise TypeError(f"Router() composes Router instances, not {type(router).__name__}")
        self._children = routers
        self._routes: list[Route] = []

    def add(
        self,
        handler: AnyHandler,
        event_type: type[Event] | str,
        *,
        operation_context: Matcher = None,
        call_id: Matcher = None,
    ) -> Route:
        """Register ``handler`` for events of ``event_type``; returns the route."""
        _check_handler(handler)
        short, cls = _resolve_type(event_type)
        route = Route(
            handler=handler,
            event_type=short,
            event_class=cls,
            operation_context=_compile(operation_context, "operation_context"),
            call_id=_compile(call_id, "call_id"),
            name=qualified_name(handler),
        )
        self._routes.append(route)
        return route

    def on(
        self,
        event_type: type[E] | str,
        *,
        operation_context: Matcher = None,
        call_id: Matcher = None,
    ) -> Callable[[Handler[E]], Handler[E]]:
        """Decorator form of :meth:`add`; returns the function unchanged."""

        def register(handler: Handler[E]) -> Handler[E]:
            self.add(handler, event_type, operation_context=operation_context, call_id=call_id)
            return handler

        return register

    @property
    def routes(self) -> list[Route]:
        """Every route, in the order handlers run."""
        return list(self._iter_routes())

    def _iter_routes(self) -> Iterator[Route]:
        for child in self._children:
            yield from child._iter_routes()
        yield from self._routes

    def match(self, event: Event) -> list[Route]:
        """The routes ``event`` reaches, in registration order."""
        return [route for route in self._iter_routes() if route.matches(event)]

    async def dispatch(
        self, event: Event, make_context: Callable[[Route], Context]
    ) -> list[HandlerOutcome]:
        """Run every matching handler in order; a failure is logged, the rest still run."""
        return [await run_route(route, event, make_context(route)) for route in self.match(event)]


async def run_route(route: Route, event: Event, ctx: Context) -> HandlerOutcome:
    """Run one handler on one event, turning an exception into a failed outcome."""
    started = time.perf_counter()
    try:
        await route.handler(event, ctx)
    except Exception as exc:  # a handler's bug must not stop the other handlers
        log.exception(
            "handler %s failed on event %s (%s, call %s)",
            route.name,
            event.identity,
            event.type,
            event.call_id,
        )
        error = f"{type(exc).__name__}: {exc}"
        return HandlerOutcome(route, error, time.perf_counter() - started, exc)
    return HandlerOutcome(route, None, time.perf_counter() - started)


def named_routes(routes: Sequence[Route]) -> list[tuple[str, Route]]:
    """Routes by handler name, as outcomes name them (``#2`` for a repeat)."""
    names = [route.name for route in routes]
    if len(set(names)) == len(names):  # the usual case, without counting
        return list(zip(names, routes, strict=True))
    seen: Counter[str] = Counter()
    named = []
    for route in routes:
        seen[route.name] += 1
        count = seen[route.name]
        named.append((route.name if count == 1 else f"{route.name}#{count}", route))
    return named
