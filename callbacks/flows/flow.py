"""Call flows: what a plugin can start (``callbacks call``, ``POST /api/flows/{name}``) and report.

A :class:`Flow` places calls whose callback URLs carry the flow's state
(:mod:`callbacks.flows.state`); its plugin's handlers drive each call from its events; and
:meth:`Flow.summarize` turns the logged events of its calls into :class:`FlowRecord` outcomes
(``callbacks flows``). Nothing is kept anywhere but in the calls' URLs and the event log, so
outcomes are the same on SQLite and PostgreSQL, after restarts and across replicas. An
:class:`IncomingFlow` places no call: its handlers answer incoming calls with the flow's state
in the callback URL (:func:`~callbacks.flows.state.flow_callback_url`), and it only reports.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

from callbacks.client.automation import CallAutomationClient
from callbacks.client.errors import CallAutomationError
from callbacks.client.pipeline import random_request_id
from callbacks.context import DerivedRequestIds
from callbacks.events.base import Event
from callbacks.flows.state import callback_uri, encode_context
from callbacks.identifiers import Identifier, IdentifierKind, PhoneNumberIdentifier
from callbacks.plugins.settings import PluginSettings

R = TypeVar("R", bound=BaseModel)

FLOW_ID_NAMESPACE = uuid.UUID("5f0c7a52-3f43-5a4e-9d55-93c1f6a3b2d1")
"""Flow ids derived from an idempotency key: uuid5(this, "<flow>\\x1f<key>")."""
FLOW_STARTER = "callbacks.flows.start"
"""The handler name in the repeatability ids of the calls a flow start places."""


def validation_message(exc: ValidationError) -> str:
    """The first problem of ``exc`` as ``field: message``, without the value given."""
    error = exc.errors(include_url=False, include_input=False)[0]
    path = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
    ).lstrip(".")
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{path}: {message}" if path else message


def target_identifier(value: str) -> Identifier:
    """A call target from text: ``+14255550100`` or a raw id such as ``8:acs:...``."""
    value = value.strip()
    identifier = PhoneNumberIdentifier(value) if value.startswith("+") else (
        Identifier.model_validate(value)
    )
    if identifier.kind is IdentifierKind.UNKNOWN:
        raise ValueError("expected a phone number (+14255550100) or an ACS id (8:acs:...)")
    return identifier


async def place_call(
    client: CallAutomationClient,
    callback_url: str,
    flow: str,
    state: Mapping[str, Any],
    *,
    source: str,
    target: str,
    caller_id: str | None = None,
) -> str:
    """Call ``target`` with ``state`` in the callback URL; the new call's id."""
    uri = callback_uri(callback_url, encode_context(flow, state))
    result = await client.create_call(
        target_identifier(target),
        uri,
        source=target_identifier(source),
        source_caller_id_number=target_identifier(caller_id) if caller_id else None,
    )
    return result.call_connection_id


@dataclass(frozen=True, slots=True)
class PlacedCall:
    """One call a flow start placed, or why it could not be placed."""

    target: str
    call_id: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"target", "call_id"}`` or ``{"target", "error"}``."""
        if self.error is not None:
            return {"target": self.target, "error": self.error}
        return {"target": self.target, "call_id": self.call_id}


@dataclass(frozen=True, slots=True)
class StartedFlow:
    """What a flow start did: its id and its calls."""

    flow: str
    id: str
    calls: tuple[PlacedCall, ...]

    @property
    def ok(self) -> bool:
        """Every call was placed."""
        return all(call.error is None for call in self.calls)

    def to_json(self) -> dict[str, Any]:
        """The answer of ``POST /api/flows/{flow}`` and of ``callbacks call --json``."""
        return {"flow": self.flow, "id": self.id, "calls": [c.to_json() for c in self.calls]}


@dataclass(frozen=True, slots=True)
class Launch:
    """What a flow's :meth:`Flow.start` works with."""

    flow: str
    flow_id: str
    client: CallAutomationClient
    callback_url: str = field(repr=False)
    settings: PluginSettings
    idempotency_key: str | None = field(default=None, repr=False)

    async def place(
        self,
        index: int,
        target: str,
        state: Mapping[str, Any],
        *,
        source: str,
        caller_id: str | None = None,
    ) -> PlacedCall:
        """Place the ``index``-th call of this start; a failure is reported, not raised.

        ``state`` gets the flow id as ``id``. With an idempotency key, each call's request id
        derives from (flow, key, index): a repeated start places no call twice.
        """
        if self.idempotency_key is None:
            client = self.client.with_request_ids(random_request_id)
        else:
            ids = DerivedRequestIds(
                f"{self.flow}\x1f{self.idempotency_key}", f"{FLOW_STARTER}#{index}"
            )
            client = self.client.with_request_ids(ids)
        try:
            call_id = await place_call(
                client, self.callback_url, self.flow, {**state, "id": self.flow_id},
                source=source, target=target, caller_id=caller_id,
            )
        except (CallAutomationError, ValueError) as exc:
            return PlacedCall(target, error=_redacted(str(exc), self.callback_url))
        return PlacedCall(target, call_id=call_id)


def _redacted(message: str, callback_url: str) -> str:
    # A service may echo the callbackUri it refused; its query holds the callback secret.
    query = urlsplit(callback_url).query
    return message.replace(query, "<redacted>") if query else message


@dataclass(frozen=True, slots=True)
class FlowCall:
    """One call of a flow as logged: its state (from the callback URL) and its events."""

    call_id: str
    state: Mapping[str, Any]
    events: tuple[Event, ...]
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True, slots=True)
class FlowRecord:
    """A flow's outcome as ``callbacks flows`` lists it."""

    flow: str
    id: str
    outcome: str
    summary: str
    """One line for humans, e.g. ``+14251001000 confirmed``."""
    started_at: datetime
    updated_at: datetime
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """One line of ``callbacks flows --json``."""
        return {
            "flow": self.flow, "id": self.id, "outcome": self.outcome, "summary": self.summary,
            "started_at": self.started_at.isoformat(), "updated_at": self.updated_at.isoformat(),
            **dict(self.detail),
        }


class Flow(ABC, Generic[R]):
    """A startable call flow: the request it takes, how it starts, how it reports."""

    request_model: type[R]
    """The start request (``POST /api/flows/{name}`` body; ``callbacks call`` options)."""
    startable: ClassVar[bool] = True
    """Whether ``callbacks call`` and ``POST /api/flows/{name}`` start it (False: it answers
    calls instead, see :class:`IncomingFlow`)."""

    @abstractmethod
    async def start(self, request: R, launch: Launch) -> Sequence[PlacedCall]:
        """Place the flow's first calls."""

    @abstractmethod
    def summarize(self, calls: Sequence[FlowCall]) -> list[FlowRecord]:
        """The outcome of every flow whose calls are among ``calls`` (all of this flow's)."""


class NoRequest(BaseModel):
    """The request of a flow nobody starts: nothing."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class IncomingFlow(Flow[NoRequest]):
    """A flow of incoming calls: its handlers answer them, ``callbacks flows`` lists them.

    Subclasses implement :meth:`summarize` only; ``callbacks call`` and the flows API refuse to
    start it.
    """

    request_model = NoRequest
    startable = False

    async def start(self, request: NoRequest, launch: Launch) -> Sequence[PlacedCall]:
        """Refuse: the flow's calls come in; it places none."""
        raise ValueError(f"the {launch.flow} flow answers incoming calls; it places none")


def flow_id_for(flow: str, idempotency_key: str | None) -> str:
    """A new flow id; the same one again for the same idempotency key."""
    if idempotency_key is None:
        return uuid.uuid4().hex[:16]
    return uuid.uuid5(FLOW_ID_NAMESPACE, f"{flow}\x1f{idempotency_key}").hex[:16]


async def start_flow(
    name: str,
    flow: Flow[Any],
    request: BaseModel,
    *,
    client: CallAutomationClient,
    callback_url: str,
    settings: PluginSettings,
    idempotency_key: str | None = None,
) -> StartedFlow:
    """Start ``flow`` with a validated ``request``; every placed call and error is reported."""
    launch = Launch(
        name, flow_id_for(name, idempotency_key), client, callback_url, settings,
        idempotency_key,
    )
    calls = await flow.start(request, launch)
    return StartedFlow(name, launch.flow_id, tuple(calls))
