"""The ``ctx`` a handler receives: its event, the REST client, a tagged logger, stable ids.

Every POST a handler makes carries a ``Repeatability-Request-ID`` derived from (event identity,
handler qualified name, index of the POST within this handler run)::

    uuid5(REPEATABILITY_NAMESPACE, f"{identity}\\x1f{handler}\\x1f{index}")

so when the same event reaches the same handler again (a retry, a crash and re-dispatch, another
replica) the service sees the same ids and acts once. A ``salt`` (for a live replay that must act
again) is mixed in as a fourth part. The namespace and the layout are part of the contract: a
change would make an upgraded process repeat side effects of events logged before the upgrade.

A context is cheap to build: the client view, the bound call and the logger are made on first
use, and every view shares the one connection pool of the process's client.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from callbacks.client.automation import CallAutomationClient
from callbacks.client.connection import CallConnection
from callbacks.events.base import Event

if TYPE_CHECKING:
    from pydantic import BaseModel

    from callbacks.plugins.settings import PluginSettings
    from callbacks.routing import Route
    from callbacks.store.history import CallHistory

E = TypeVar("E", bound=Event)
S = TypeVar("S", bound="BaseModel")

REPEATABILITY_NAMESPACE = uuid.UUID("cebc19ab-edce-51bc-a423-1578f6d62cca")
"""Fixed forever: uuid5(NAMESPACE_URL, "urn:acs-callbacks:repeatability")."""

HANDLER_LOGGER = "callbacks.handler"

ContextFactory = Callable[[Event, "Route", int, str | None], "Context"]
"""Builds a handler's ``ctx`` from (event, route, attempt, path context)."""


def repeatability_id(event_identity: str, handler: str, index: int, salt: str = "") -> str:
    """The ``Repeatability-Request-ID`` of the ``index``-th POST (from 0) of a handler run."""
    name = f"{event_identity}\x1f{handler}\x1f{index}"
    if salt:
        name += f"\x1f{salt}"
    return str(uuid.uuid5(REPEATABILITY_NAMESPACE, name))


class DerivedRequestIds:
    """The id source of one handler run: call it for the next POST's repeatability id."""

    __slots__ = ("count", "event_identity", "handler", "salt")

    def __init__(self, event_identity: str, handler: str, salt: str = "") -> None:
        self.event_identity = event_identity
        self.handler = handler
        self.salt = salt
        self.count = 0
        """How many ids were drawn, i.e. how many POSTs this run has made."""

    def __call__(self) -> str:
        index = self.count
        self.count += 1
        return repeatability_id(self.event_identity, self.handler, index, self.salt)


class NoClientError(RuntimeError):
    """``ctx.client`` or ``ctx.call`` was used where no REST client is configured."""


class NoCallError(RuntimeError):
    """``ctx.call`` was used for an event that belongs to no call (such as IncomingCall)."""


class NoHistoryError(RuntimeError):
    """``ctx.history()`` was used where no event log backs the context."""


class HandlerLog(logging.LoggerAdapter[logging.Logger]):
    """A logger that prefixes each message with the event and call, and adds them as extras."""

    def __init__(self, logger: logging.Logger, event: Event, handler: str) -> None:
        super().__init__(
            logger,
            {"call_id": event.call_id, "event_id": event.identity, "event_type": event.type,
             "handler": handler},
        )
        call = f" call={event.call_id}" if event.call_id else ""
        self._prefix = f"[{event.type} event={event.identity}{call}] "

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        """Add the tag to the message and the fields to ``extra``, keeping the caller's extras."""
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return f"{self._prefix}{msg}", kwargs


class Context:
    """What a handler gets besides its event: the client, the call, a logger, the attempt."""

    __slots__ = (
        "_base", "_call", "_client", "_history", "_history_source", "_ids", "_log", "_settings",
        "attempt", "callback_url", "event", "handler", "path_context",
    )

    def __init__(
        self,
        event: Event,
        client: CallAutomationClient | None,
        *,
        handler: str,
        attempt: int = 1,
        path_context: str | None = None,
        salt: str = "",
        history: CallHistory | None = None,
        settings: PluginSettings | None = None,
        callback_url: str | None = None,
    ) -> None:
        self.event = event
        """The event being handled."""
        self.handler = handler
        """The handler's qualified name (``module.function``)."""
        self.attempt = attempt
        """1 on the first run of this handler for this event, then 2, 3, ... on retries."""
        self.path_context = path_context
        """The ``{context}`` segment of the callback URL the event arrived on, if any."""
        self._base = client
        self._ids = DerivedRequestIds(event.identity, handler, salt)
        self._client: CallAutomationClient | None = None
        self._call: CallConnection | None = None
        self._log: HandlerLog | None = None
        self._history_source = history
        self._history: tuple[Event, ...] | None = None
        self._settings = settings
        self.callback_url = callback_url
        """This receiver's public callback URL (with its secret), for calls handlers place."""

    def __repr__(self) -> str:
        return (
            f"Context(event={self.event.type}:{self.event.identity}, handler={self.handler!r}, "
            f"attempt={self.attempt})"
        )

    @property
    def event_id(self) -> str:
        """The event's identity: its id, or a stable content hash when the id is null."""
        return self.event.identity

    @property
    def call_id(self) -> str | None:
        """The event's call id, or None for events outside a call."""
        return self.event.call_id

    @property
    def client(self) -> CallAutomationClient:
        """The unbound client (e.g. for ``create_call``), with this run's repeatability ids."""
        if self._client is None:
            if self._base is None:
                raise NoClientError(
                    f"ctx.client: handler {self.handler} needs the Call Automation REST client, "
                    "but none is configured (give the service a connection string)"
                )
            self._client = self._base.with_request_ids(self._ids)
        return self._client

    @property
    def call(self) -> CallConnection:
        """The client bound to the event's call: ``await ctx.call.play_audio(url)``."""
        if self._call is None:
            call_id = self.event.call_id
            if not call_id:
                raise NoCallError(
                    f"ctx.call: {self.event.type} event {self.event.identity} belongs to no "
                    "call; use ctx.client (e.g. ctx.client.create_call) instead"
                )
            self._call = self.client.get_call_connection(call_id)
        return self._call

    @property
    def log(self) -> HandlerLog:
        """A logger tagging every line with the event type, identity and call id."""
        if self._log is None:
            self._log = HandlerLog(logging.getLogger(HANDLER_LOGGER), self.event, self.handler)
        return self._log

    @property
    def requests_made(self) -> int:
        """How many POSTs this handler run has made so far."""
        return self._ids.count

    async def history(self) -> Sequence[Event]:
        """The call's events logged before this one, oldest first (read once per run)."""
        if self._history is None:
            if self._history_source is None:
                raise NoHistoryError(
                    f"ctx.history(): handler {self.handler} reads the call's earlier events, "
                    "but no event log backs this context"
                )
            self._history = tuple(await self._history_source(self.event))
        return self._history

    async def previous(self, event_type: type[E]) -> E | None:
        """The call's latest event of ``event_type`` before this one, or None."""
        for event in reversed(await self.history()):
            if isinstance(event, event_type):
                return event
        return None

    def settings(self, model: type[S]) -> S:
        """A plugin's loaded settings: ``ctx.settings(GreetingSettings).audio_url``."""
        if self._settings is None:
            raise LookupError(f"no {model.__name__} loaded: no plugin settings were given")
        return self._settings.of(model)


def context_factory(
    client: CallAutomationClient | None,
    *,
    salt: str = "",
    history: CallHistory | None = None,
    settings: PluginSettings | None = None,
    callback_url: str | None = None,
) -> ContextFactory:
    """A :data:`ContextFactory` building contexts over one shared ``client``.

    With no client, handlers that only observe still run; ``ctx.client`` raises
    :class:`NoClientError`. Pass a ``salt`` (e.g. a replay session id) only to make a live
    replay act again. ``history`` backs ``ctx.history()`` (see
    :func:`callbacks.store.history.store_history`), ``settings`` backs ``ctx.settings(...)``.
    """

    def make(event: Event, route: Route, attempt: int, path_context: str | None) -> Context:
        return Context(
            event, client, handler=route.name, attempt=attempt,
            path_context=path_context, salt=salt, history=history, settings=settings,
            callback_url=callback_url,
        )

    return make
