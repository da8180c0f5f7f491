"""Read flows back from the event log: the calls of each flow, then their outcomes.

The log is streamed once, in order; only events whose path context a flow wrote are kept
(grouped by call), so memory grows with the flows' events, not with the log.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callbacks.events.base import Event
from callbacks.events.parse import parse_event_element
from callbacks.flows.flow import Flow, FlowCall, FlowRecord
from callbacks.flows.state import decode_context
from callbacks.store.base import EventStore

log = logging.getLogger("callbacks.flows")


@dataclass
class _Calls:
    state: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    first_at: datetime | None = None
    last_at: datetime | None = None


async def flow_calls(store: EventStore, flows: Collection[str]) -> dict[str, list[FlowCall]]:
    """The logged calls of each of ``flows``, by flow name, each with its events in order."""
    found: dict[str, dict[str, _Calls]] = {name: {} for name in flows}
    async for record in store.list_events():
        decoded = decode_context(record.path_context)
        if decoded is None or decoded[0] not in found or record.call_id is None:
            continue
        flow, state = decoded
        calls = found[flow].setdefault(record.call_id, _Calls(state))
        try:
            calls.events.append(parse_event_element(record.raw))
        except ValueError as exc:  # logged by an older version, unreadable now: skip it
            log.warning("event %s of flow %s cannot be read: %s", record.id, flow, exc)
            continue
        calls.first_at = calls.first_at or record.received_at
        calls.last_at = record.received_at
    return {
        flow: [
            FlowCall(call_id, c.state, tuple(c.events), c.first_at, c.last_at)
            for call_id, c in calls.items()
            if c.first_at is not None and c.last_at is not None
        ]
        for flow, calls in found.items()
    }


async def flow_records(store: EventStore, flows: Mapping[str, Flow[Any]]) -> list[FlowRecord]:
    """Every flow's outcome, oldest first."""
    calls = await flow_calls(store, flows)
    records = [record for name, flow in flows.items() for record in flow.summarize(calls[name])]
    return sorted(records, key=lambda record: (record.started_at, record.flow, record.id))
