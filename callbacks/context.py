"""The ``ctx`` a handler receives: its event, the REST client, a tagged logger, stable ids.

Side effects are safe to repeat. Every request the service de-duplicates carries a
``Repeatability-Request-ID`` derived from (event identity, handler qualified name, index of such
requests within this handler run)::

    uuid5(REPEATABILITY_NAMESPACE, f"{identity}\\x1f{handler}\\x1f{index}")

and, as ``Repeatability-First-Sent``, the moment the event was logged, so when the same event
reaches the same handler again (a retry, a crash and re-dispatch, another replica) the service
sees the same pair and acts once. A ``salt`` (for a live replay that must act again) is mixed in
as a fourth part. The namespace and the layout are part of the contract: a change would make an
upgraded process repeat side effects of events logged before the upgrade. The requests the
service does not de-duplicate (play, recognize, ...) are recorded in the log as they complete,
and a re-run answers them from there (:mod:`callbacks.client.pipeline`).

``ctx.call`` follows the event: a GA or callingserver event's call is addressed in GA (the
configured version, or the default one when a 2021 form is configured), a 2021 event's in the
configured 2021 form (or ``2021-overview`` when a GA version is configured), and the call of an
event of a type this version does not know in the configured version. ``ctx.client`` places
new calls in the configured version.

A context is cheap to build: the client view, the bound call and the logger are made on first
use, and every view shares the one connection pool of the process's client.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, MutableMapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from callbacks.client.automation import CallAutomationClient
from callbacks.client.connection import CallConnection
from callbacks.client.pipeline import RequestJournal
from callbacks.client.preview import CallLegConnection
from callbacks.client.versions import DEFAULT, OVERVIEW_2021, is_ga
from callbacks.events.base import Dialect, Event
from callbacks.events.types import UnknownEvent

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

Journals = Callable[[Event, str, int], RequestJournal]
"""The request journal of a handler run: from (event, handler, attempt)."""


class ContextFactory(Protocol):
    """Builds a handler's ``ctx`` from (event, route, attempt, path context, received at)."""

    def __call__(
        self, event: Event, route: Route, attempt: int, path_context: str | None,
        received_at: datetime | None = None,
    ) -> Context:
        """The context of one handler run."""


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


def call_version(configured: str, event: Event) -> str:
    """The API version that addresses ``event``'s call: its dialect's, or the configured one
    for an event of a type this version does not know."""
    if isinstance(event, UnknownEvent):
        return configured
    if event.dialect is Dialect.PREVIEW_2021:
        return OVERVIEW_2021 if is_ga(configured) else configured
    return configured if is_ga(configured) else DEFAULT


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
        "_base", "_call", "_client", "_history", "_history_source", "_ids", "_journals", "_log",
        "_settings", "attempt", "callback_url", "event", "handler", "path_context",
        "received_at",
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
        received_at: datetime | None = None,
        journals: Journals | None = None,
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
        self.received_at = received_at
        """When the event was logged (None outside the log): the first-sent time of the
        run's de-duplicated requests."""
        self._ids = DerivedRequestIds(event.identity, handler, salt)
        self._journals = journals
        self._client: CallAutomationClient | None = None
        self._call: CallConnection | CallLegConnection | None = None
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
        """The client (``create_call``, ``answer_call``, recordings), with this run's ids."""
        if self._client is None:
            if self._base is None:
                raise NoClientError(
                    f"ctx.client: handler {self.handler} needs the Call Automation REST client, "
                    "but none is configured: give the service a connection string "
                    "(--connection-string or CALLBACKS_CONNECTION_STRING)"
                )
            received = self.received_at
            client = self._base.with_request_ids(
                self._ids, (lambda: received) if received is not None else None
            )
            if self._journals is not None:
                client = client.with_journal(
                    self._journals(self.event, self.handler, self.attempt)
                )
            if self.callback_url is not None:
                client = client.with_callback_url(self.callback_url)
            self._client = client
        return self._client

    @property
    def call(self) -> CallConnection | CallLegConnection:
        """The event's call: ``await ctx.call.play_media(FileSource(url))``."""
        if self._call is None:
            call_id = self.event.call_id
            if not call_id:
                raise NoCallError(
                    f"ctx.call: {self.event.type} event {self.event.identity} belongs to no "
                    "call; use ctx.client (e.g. ctx.client.answer_call) instead"
                )
            client = self.client
            version = call_version(client.api_version, self.event)
            if version != client.api_version:
                client = client.with_api_version(version)
            self._call = client.get_call_connection(call_id)
        return self._call

    @property
    def log(self) -> HandlerLog:
        """A logger tagging every line with the event type, identity and call id."""
        if self._log is None:
            self._log = HandlerLog(logging.getLogger(HANDLER_LOGGER), self.event, self.handler)
        return self._log

    @property
    def requests_made(self) -> int:
        """How many requests the service de-duplicates this handler run has made so far."""
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
    journals: Journals | None = None,
) -> ContextFactory:
    """A :class:`ContextFactory` building contexts over one shared ``client``.

    With no client, handlers that only observe still run; ``ctx.client`` raises
    :class:`NoClientError`. Pass a ``salt`` (e.g. a replay session id) only to make a live
    replay act again. ``history`` backs ``ctx.history()`` (see
    :func:`callbacks.store.history.store_history`), ``settings`` backs ``ctx.settings(...)``,
    ``journals`` records each run's requests (see :mod:`callbacks.dispatch.journal`).
    """

    def make(
        event: Event, route: Route, attempt: int, path_context: str | None,
        received_at: datetime | None = None,
    ) -> Context:
        return Context(
            event, client, handler=route.name, attempt=attempt,
            path_context=path_context, salt=salt, history=history, settings=settings,
            callback_url=callback_url, received_at=received_at, journals=journals,
        )

    return make
