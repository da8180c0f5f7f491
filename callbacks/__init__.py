"""acs-callbacks: a callback receiver and event router for Call Automation applications.

The public API is this module, :mod:`callbacks.events` (the event models),
:mod:`callbacks.emulator` (the local Call Automation service, for tests) and
:mod:`callbacks.testing`; every other module is internal and may change.

Names load on first use (PEP 562), so ``import callbacks.events`` stays free of the HTTP client
and the event log.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from callbacks.client.automation import CallAutomationClient
    from callbacks.client.connection import CallConnection
    from callbacks.client.errors import (
        BadRequest,
        CallAutomationError,
        CallNotFound,
        ClientError,
        InvalidResponse,
        NoResponse,
        ServerError,
        Throttled,
        Unauthorized,
        call_gone,
    )
    from callbacks.client.models import (
        AddParticipantResult,
        CallConnectionProperties,
        CallParticipant,
        CancelAddParticipantOperationResult,
        CreateCallResult,
        MediaOperationResponse,
        MoveParticipantsResult,
        MuteParticipantResult,
        RecordingProperties,
        RemoveParticipantResult,
        SendDtmfTonesResult,
        TransferCallResult,
    )
    from callbacks.client.preview import CallLegConnection, UnsupportedOperation
    from callbacks.client.retry import RetryPolicy
    from callbacks.client.sources import (
        DtmfTone,
        FileSource,
        RecognitionChoice,
        RecognizeInputType,
        SsmlSource,
        TextSource,
    )
    from callbacks.context import Context, NoCallError, NoClientError, NoHistoryError
    from callbacks.errors import ConfigError, PermanentError
    from callbacks.events.base import Event
    from callbacks.events.parse import EventParseError, parse_events
    from callbacks.events.types import UnknownEvent
    from callbacks.flows.flow import (
        Flow,
        FlowCall,
        FlowRecord,
        IncomingFlow,
        Launch,
        PlacedCall,
        StartedFlow,
        place_call,
        target_identifier,
    )
    from callbacks.flows.state import encode_context, flow_callback_url, read_state
    from callbacks.identifiers import (
        CommunicationUserIdentifier,
        Identifier,
        IdentifierKind,
        MicrosoftTeamsUserIdentifier,
        PhoneNumberIdentifier,
    )
    from callbacks.plugins.loader import Plugin, PluginError
    from callbacks.routing import Route, Router
    from callbacks.store import (
        EventFilter,
        EventRecord,
        EventStatus,
        EventStore,
        Outcome,
        StoreError,
        open_store,
    )

_HOMES = {
    # routing
    "Router": "callbacks.routing",
    "Route": "callbacks.routing",
    # context
    "Context": "callbacks.context",
    # events (the models themselves are in callbacks.events)
    "Event": "callbacks.events.base",
    "UnknownEvent": "callbacks.events.types",
    "parse_events": "callbacks.events.parse",
    # client and identifiers
    "CallAutomationClient": "callbacks.client.automation",
    "CallConnection": "callbacks.client.connection",
    "CallLegConnection": "callbacks.client.preview",
    "FileSource": "callbacks.client.sources",
    "TextSource": "callbacks.client.sources",
    "SsmlSource": "callbacks.client.sources",
    "RecognitionChoice": "callbacks.client.sources",
    "RecognizeInputType": "callbacks.client.sources",
    "DtmfTone": "callbacks.client.sources",
    "AddParticipantResult": "callbacks.client.models",
    "CallConnectionProperties": "callbacks.client.models",
    "CallParticipant": "callbacks.client.models",
    "CancelAddParticipantOperationResult": "callbacks.client.models",
    "CreateCallResult": "callbacks.client.models",
    "MediaOperationResponse": "callbacks.client.models",
    "MoveParticipantsResult": "callbacks.client.models",
    "MuteParticipantResult": "callbacks.client.models",
    "RecordingProperties": "callbacks.client.models",
    "RemoveParticipantResult": "callbacks.client.models",
    "SendDtmfTonesResult": "callbacks.client.models",
    "TransferCallResult": "callbacks.client.models",
    "RetryPolicy": "callbacks.client.retry",
    "Identifier": "callbacks.identifiers",
    "IdentifierKind": "callbacks.identifiers",
    "CommunicationUserIdentifier": "callbacks.identifiers",
    "PhoneNumberIdentifier": "callbacks.identifiers",
    "MicrosoftTeamsUserIdentifier": "callbacks.identifiers",
    # store
    "open_store": "callbacks.store",
    "EventStore": "callbacks.store",
    "EventFilter": "callbacks.store",
    "EventRecord": "callbacks.store",
    "EventStatus": "callbacks.store",
    "Outcome": "callbacks.store",
    # plugins and flows
    "Plugin": "callbacks.plugins.loader",
    "Flow": "callbacks.flows.flow",
    "FlowCall": "callbacks.flows.flow",
    "FlowRecord": "callbacks.flows.flow",
    "IncomingFlow": "callbacks.flows.flow",
    "Launch": "callbacks.flows.flow",
    "PlacedCall": "callbacks.flows.flow",
    "StartedFlow": "callbacks.flows.flow",
    "place_call": "callbacks.flows.flow",
    "target_identifier": "callbacks.flows.flow",
    "encode_context": "callbacks.flows.state",
    "flow_callback_url": "callbacks.flows.state",
    "read_state": "callbacks.flows.state",
    # errors
    "ConfigError": "callbacks.errors",
    "EventParseError": "callbacks.events.parse",
    "NoCallError": "callbacks.context",
    "NoClientError": "callbacks.context",
    "NoHistoryError": "callbacks.context",
    "PermanentError": "callbacks.errors",
    "PluginError": "callbacks.plugins.loader",
    "StoreError": "callbacks.store",
    "CallAutomationError": "callbacks.client.errors",
    "ClientError": "callbacks.client.errors",
    "BadRequest": "callbacks.client.errors",
    "Unauthorized": "callbacks.client.errors",
    "CallNotFound": "callbacks.client.errors",
    "Throttled": "callbacks.client.errors",
    "ServerError": "callbacks.client.errors",
    "NoResponse": "callbacks.client.errors",
    "InvalidResponse": "callbacks.client.errors",
    "UnsupportedOperation": "callbacks.client.preview",
    "call_gone": "callbacks.client.errors",
}

__all__ = [  # noqa: RUF022 - grouped by concept, sorted within each group
    # routing
    "Route",
    "Router",
    # context
    "Context",
    # events
    "Event",
    "UnknownEvent",
    "parse_events",
    # client and identifiers
    "AddParticipantResult",
    "CallAutomationClient",
    "CallConnection",
    "CallConnectionProperties",
    "CallLegConnection",
    "CallParticipant",
    "CancelAddParticipantOperationResult",
    "CommunicationUserIdentifier",
    "CreateCallResult",
    "DtmfTone",
    "FileSource",
    "Identifier",
    "IdentifierKind",
    "MediaOperationResponse",
    "MicrosoftTeamsUserIdentifier",
    "MoveParticipantsResult",
    "MuteParticipantResult",
    "PhoneNumberIdentifier",
    "RecognitionChoice",
    "RecognizeInputType",
    "RecordingProperties",
    "RemoveParticipantResult",
    "RetryPolicy",
    "SendDtmfTonesResult",
    "SsmlSource",
    "TextSource",
    "TransferCallResult",
    # store
    "EventFilter",
    "EventRecord",
    "EventStatus",
    "EventStore",
    "Outcome",
    "open_store",
    # plugins and flows
    "Flow",
    "FlowCall",
    "FlowRecord",
    "IncomingFlow",
    "Launch",
    "PlacedCall",
    "Plugin",
    "StartedFlow",
    "encode_context",
    "flow_callback_url",
    "place_call",
    "read_state",
    "target_identifier",
    # errors
    "BadRequest",
    "CallAutomationError",
    "CallNotFound",
    "ClientError",
    "ConfigError",
    "EventParseError",
    "InvalidResponse",
    "NoCallError",
    "NoClientError",
    "NoHistoryError",
    "NoResponse",
    "PermanentError",
    "PluginError",
    "ServerError",
    "StoreError",
    "Throttled",
    "Unauthorized",
    "UnsupportedOperation",
    "call_gone",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'callbacks' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
