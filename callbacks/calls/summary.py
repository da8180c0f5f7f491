"""One call in a line: its first and last event, its state, its failures, its flow's outcome.

The state is read from the call's own events (``CallConnected``, ``CallDisconnected``, the 2021
``CallLegStateChanged`` and callingserver ``CallConnectionStateChanged``); the outcome from the
flow whose state rides in the call's callback URL, when that flow's plugin is at hand
(:meth:`~callbacks.flows.flow.Flow.summarize` on this call's events).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callbacks.events.base import Event
from callbacks.events.parse import parse_event_element
from callbacks.flows.flow import Flow, FlowCall
from callbacks.flows.state import decode_context
from callbacks.store.base import EventStore
from callbacks.store.records import EventFilter, EventRecord, EventStatus

log = logging.getLogger("callbacks.calls")

RECENT = 200
"""Events of a call read for its line: its newest ones (a call of more is marked ``+``)."""

_STATES = {
    "CallConnected": "connected",
    "CallDisconnected": "ended",
    "CreateCallFailed": "failed",
    "AnswerFailed": "failed",
    "ConnectFailed": "failed",
    "CallTransferAccepted": "transferred",
}
_WIRE_STATES = {
    "establishing": "connecting", "connecting": "connecting", "established": "connected",
    "connected": "connected", "terminating": "ending", "disconnecting": "ending",
    "terminated": "ended", "disconnected": "ended",
}


@dataclass(frozen=True, slots=True)
class CallSummary:
    """What ``callbacks calls list`` prints about one call, and the console's calls page shows."""

    call_id: str
    first_at: datetime
    last_at: datetime
    last_seq: int
    state: str
    """connecting, connected, ending, ended, failed, transferred, or ``-`` (no such event)."""
    last_event: str
    events: int
    more: bool
    """The call has more events than were read (``events`` and ``failures`` count the newest)."""
    failures: int
    """Failed handler runs."""
    dead: int
    unfinished: int
    flow: str | None = None
    flow_id: str | None = None
    outcome: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The line as ``callbacks calls list --json`` prints it."""
        return {
            "call_id": self.call_id, "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(), "last_seq": self.last_seq,
            "state": self.state, "last_event": self.last_event, "events": self.events,
            "more": self.more, "failures": self.failures, "dead": self.dead,
            "unfinished": self.unfinished, "flow": self.flow, "flow_id": self.flow_id,
            "outcome": self.outcome,
        }


def parsed(record: EventRecord) -> Event | None:
    """The logged event parsed again, or None if this version cannot read it."""
    try:
        return parse_event_element(record.raw)
    except ValueError:
        return None


def state_of(records: Sequence[EventRecord]) -> str:
    """The call's state after ``records`` (its events, oldest first)."""
    for record in reversed(records):
        if record.type in _STATES:
            return _STATES[record.type]
        if record.type in ("CallLegStateChanged", "CallConnectionStateChanged"):
            event = parsed(record)
            data = getattr(event, "data", None)
            value = getattr(data, "call_state", None) or getattr(
                data, "call_connection_state", None)
            wire = str(getattr(value, "value", value) or "").lower()
            if wire in _WIRE_STATES:
                return _WIRE_STATES[wire]
    return "-"


def flow_outcome(
    call_id: str, records: Sequence[EventRecord], flows: Mapping[str, Flow[Any]]
) -> tuple[str | None, str | None, str | None]:
    """(flow, flow id, outcome) of the call, when a flow placed it; the outcome only when that
    flow's plugin is among ``flows``."""
    for record in records:
        decoded = decode_context(record.path_context)
        if decoded is None:
            continue
        name, state = decoded
        flow_id = state.get("id") if isinstance(state.get("id"), str) else None
        flow = flows.get(name)
        if flow is None:
            return name, flow_id, None
        events = [e for r in records if r.path_context == record.path_context
                  if (e := parsed(r)) is not None]
        try:
            found = flow.summarize([FlowCall(call_id, state, tuple(events),
                                             records[0].received_at, records[-1].received_at)])
        except Exception:  # a plugin's bug must not take the calls list down
            log.exception("flow %s could not summarize call %s", name, call_id)
            return name, flow_id, "?"
        return name, flow_id, found[0].outcome if found else None
    return None, None, None


async def call_summary(
    store: EventStore, call_id: str, flows: Mapping[str, Flow[Any]] | None = None
) -> CallSummary | None:
    """The line of ``call_id``, or None when the log holds none of its events."""
    records = await store.call_history(call_id, limit=RECENT)
    if not records:
        return None
    first = records[0]
    more = len(records) >= RECENT
    if more:
        async for oldest in store.list_events(EventFilter(call_id=call_id), limit=1):
            first = oldest
    name, flow_id, outcome = flow_outcome(records[-1].call_id or call_id, records, flows or {})
    return CallSummary(
        call_id=records[-1].call_id or call_id,
        first_at=first.received_at,
        last_at=records[-1].received_at,
        last_seq=records[-1].seq,
        state=state_of(records),
        last_event=records[-1].type,
        events=len(records),
        more=more,
        failures=sum(1 for r in records for o in r.outcomes if not o.ok),
        dead=sum(1 for r in records if r.status is EventStatus.DEAD),
        unfinished=sum(1 for r in records
                       if r.status in (EventStatus.PENDING, EventStatus.FAILED)),
        flow=name,
        flow_id=flow_id,
        outcome=outcome,
    )
