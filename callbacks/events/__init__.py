"""Typed call events: ``parse_events(body) -> list[Event]``, and one model per event type.

Every wire dialect (the 2021 preview, callingserver, GA Call Automation, Event Grid) parses
into the same models; ``event.dialect`` says which one arrived. No I/O anywhere in this package:
importing it loads pydantic and nothing that talks to the network.
"""

from callbacks.events.base import (
    CallState,
    Dialect,
    Event,
    OperationStatus,
    Participant,
    RecordingState,
    ResultInfo,
    Tone,
    ToneInfo,
)
from callbacks.events.ga import *  # noqa: F403 - the GA models are part of this package's API
from callbacks.events.media import *  # noqa: F403 - likewise the GA media models
from callbacks.events.parse import (
    EventParseError,
    event_class_for,
    parse_event_element,
    parse_events,
)
from callbacks.events.recognition import RecognitionType
from callbacks.events.types import *  # noqa: F403 - likewise the 2021 and Event Grid models
from callbacks.events.types import BY_SHORT_NAME, UnknownEvent
from callbacks.identifiers import Identifier, IdentifierKind

__all__ = [
    "CallState",
    "Dialect",
    "Event",
    "EventParseError",
    "Identifier",
    "IdentifierKind",
    "OperationStatus",
    "Participant",
    "RecognitionType",
    "RecordingState",
    "ResultInfo",
    "Tone",
    "ToneInfo",
    "UnknownEvent",
    "event_class_for",
    "parse_event_element",
    "parse_events",
    *BY_SHORT_NAME,
]
