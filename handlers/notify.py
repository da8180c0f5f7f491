"""Outage notification: call every target at once, collect who acknowledged, retry the others.

Started with ``callbacks call notify --to A --to B --message URL`` or
``POST /api/flows/notify``. Each target gets its own call; when it answers the message plays,
up to ``repeats`` times, and any key acknowledges it (``thanks_url`` plays, the call ends). On
a GA call each play is a DTMF ``start_recognizing_media`` with the message as its prompt; on a
2021 call a PlayAudio, stopped when a key comes. A target whose call ends without an
acknowledgement (no answer, hung up, no key) is called again, up to ``retries`` more times,
``retry_delay`` seconds after the call ended. ``callbacks flows`` reports who was reached.

Each call's state (flow id, target, attempt) is in its callback URL; what happened is in the
log (:mod:`handlers.prompted_call`). No process keeps anything.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from callbacks import (
    Context,
    Flow,
    FlowCall,
    FlowRecord,
    Launch,
    PlacedCall,
    Plugin,
    Router,
    place_call,
    read_state,
    target_identifier,
)
from callbacks.events import (
    CallConnected,
    CallConnectionStateChanged,
    CallDisconnected,
    CallLegStateChanged,
    DtmfReceived,
    Event,
    PlayAudioResult,
    PlayCompleted,
    PlayFailed,
    RecognizeCompleted,
    RecognizeFailed,
    ToneReceived,
)
from handlers.call_events import audio_url
from handlers.prompted_call import ANY_KEY, CallProgress, PromptedCall
from handlers.prompted_flow import Prompting, close, drive

FLOW = "notify"
NOTIFY = PromptedCall(FLOW)
"""Any key acknowledges; operation contexts ``notify:prompt:<n>/<of>``, ``notify:closing``."""


def _check_identifier(value: str | None) -> str | None:
    if value is not None:
        target_identifier(value)
    return value


class NotifySettings(BaseModel):
    """Settings of the notify plugin (``CALLBACKS_NOTIFY_*`` or ``[notify]``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(description="the application's identity calls are placed from (8:acs:...)")
    caller_id: str | None = Field(
        default=None, description="the number phone callees see (alternate caller id, +1...)"
    )
    message_url: str | None = Field(
        default=None, description="the message played when a start names none"
    )
    repeats: int = Field(
        default=2, ge=1, le=20, description="plays of the message per call before giving up"
    )
    input_timeout: int = Field(
        default=5, ge=1, le=300,
        description="GA calls: seconds to wait for a key after each play of the message",
    )
    thanks_url: str | None = Field(
        default=None, description="played after a key is pressed, then the call ends"
    )
    retries: int = Field(
        default=2, ge=0, le=10, description="further calls to a target that did not acknowledge"
    )
    retry_delay: float = Field(
        default=30.0, ge=0, le=240, description="seconds between a call's end and its retry"
    )

    @field_validator("source", "caller_id")
    @classmethod
    def _identifiers(cls, value: str | None) -> str | None:
        return _check_identifier(value)

    @field_validator("message_url", "thanks_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return None if value is None else audio_url(value)


class NotifyRequest(BaseModel):
    """A notification to start: whom to call, with which message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    to: list[str] = Field(min_length=1, max_length=100, description="targets, +1... or 8:acs:...")
    message: str | None = Field(
        default=None, max_length=500, description="audio URL of the message (default: message_url)"
    )

    @field_validator("to")
    @classmethod
    def _targets(cls, value: list[str]) -> list[str]:
        for target in value:
            target_identifier(target)
        if len(set(value)) != len(value):
            raise ValueError("a target is listed twice")
        return value

    @field_validator("message")
    @classmethod
    def _message(cls, value: str | None) -> str | None:
        return None if value is None else audio_url(value)


class NotifyCall(BaseModel):
    """One notification call's state, carried in its callback URL."""

    model_config = ConfigDict(frozen=True)

    id: str
    to: str
    i: int
    """The target's index in the request."""
    n: int
    """How many targets the notification has."""
    a: int = 1
    """This call's attempt for its target, from 1."""
    t: int = 1
    """Attempts allowed per target (1 + retries when it started)."""
    m: str
    """The message's audio URL."""


router = Router()


async def _acknowledged(ctx: Context, progress: CallProgress) -> None:
    ctx.log.info("notification acknowledged")
    await close(ctx, NOTIFY, ctx.settings(NotifySettings).thanks_url)


async def _retry(ctx: Context, call: NotifyCall, settings: NotifySettings) -> None:
    if ctx.callback_url is None:
        raise RuntimeError("notify retries place calls: the receiver needs --callback-url")
    if settings.retry_delay:
        await asyncio.sleep(settings.retry_delay)
    state = call.model_dump() | {"a": call.a + 1}
    call_id = await place_call(
        ctx.client, ctx.callback_url, FLOW, state,
        source=settings.source, target=call.to, caller_id=settings.caller_id,
    )
    ctx.log.info("called %s again (attempt %d of %d): call %s", call.to, call.a + 1, call.t,
                 call_id)


async def step(event: Event, ctx: Context) -> None:
    """Move a notification call on by one event; retry its target when it ends unacknowledged."""
    call = read_state(ctx.path_context, FLOW, NotifyCall)
    if call is None:
        return  # not a notification call
    settings = ctx.settings(NotifySettings)
    prompting = Prompting(call.m, settings.repeats, call.to, settings.input_timeout)
    before, after = await drive(ctx, NOTIFY, event, prompting, _acknowledged)
    if after.ended and not before.ended and _retry_due(call, after):
        await _retry(ctx, call, settings)


def _retry_due(call: NotifyCall, progress: CallProgress) -> bool:
    return progress.decision not in (ANY_KEY, "failed") and call.a < call.t


_type: type[Event]
for _type in (CallLegStateChanged, CallConnectionStateChanged, CallConnected, CallDisconnected,
              DtmfReceived, ToneReceived):
    router.add(step, _type)
for _type in (PlayAudioResult, PlayCompleted, PlayFailed, RecognizeCompleted, RecognizeFailed):
    router.add(step, _type, operation_context=f"{FLOW}:*")


def _target_status(attempts: list[tuple[NotifyCall, CallProgress]]) -> str:
    if any(progress.decision == ANY_KEY for _, progress in attempts):
        return "reached"
    call, progress = attempts[-1]
    if not progress.ended or _retry_due(call, progress):
        return "pending"
    return "unreached"


def _summarize_one(flow_id: str, calls: list[tuple[NotifyCall, FlowCall]]) -> FlowRecord:
    by_target: dict[int, list[tuple[NotifyCall, CallProgress, FlowCall]]] = defaultdict(list)
    for call, flow_call in calls:
        by_target[call.i].append((call, NOTIFY.fold(flow_call.events), flow_call))
    targets: list[dict[str, Any]] = []
    groups: dict[str, list[str]] = {"reached": [], "unreached": [], "pending": []}
    for index in sorted(by_target):
        attempts = sorted(by_target[index], key=lambda item: item[0].a)
        status = _target_status([(call, progress) for call, progress, _ in attempts])
        to = attempts[0][0].to
        groups[status].append(to)
        targets.append({"to": to, "status": status, "attempts": [
            {"attempt": call.a, "call_id": fc.call_id, "outcome": progress.outcome}
            for call, progress, fc in attempts
        ]})
    expected = calls[0][0].n
    unseen = expected - len(by_target)
    if groups["pending"]:
        outcome = "in-progress"
    elif len(groups["reached"]) == expected:
        outcome = "all-reached"
    else:
        outcome = "some-reached" if groups["reached"] else "none-reached"
    summary = f"{len(groups['reached'])}/{expected} reached"
    for name in ("unreached", "pending"):
        if groups[name]:
            summary += f"; {name}: {', '.join(groups[name])}"
    if unseen:
        summary += f"; {unseen} without events"
    return FlowRecord(
        FLOW, flow_id, outcome, summary,
        min(fc.first_at for _, fc in calls), max(fc.last_at for _, fc in calls),
        {"message": calls[0][0].m, **groups, "targets": targets},
    )


class NotifyFlow(Flow[NotifyRequest]):
    """Start notifications and report whom each reached."""

    request_model = NotifyRequest

    async def start(self, request: NotifyRequest, launch: Launch) -> Sequence[PlacedCall]:
        """Call every target at once."""
        settings = launch.settings.of(NotifySettings)
        message = request.message or settings.message_url
        if not message:
            raise ValueError("message: no message given and no message_url configured")
        common = {"n": len(request.to), "a": 1, "t": 1 + settings.retries, "m": message}
        placed = await asyncio.gather(*(
            launch.place(index, target, {**common, "to": target, "i": index},
                         source=settings.source, caller_id=settings.caller_id)
            for index, target in enumerate(request.to)
        ))
        return list(placed)

    def summarize(self, calls: Sequence[FlowCall]) -> list[FlowRecord]:
        """One record per notification: who was reached, who was not, who is pending."""
        by_flow: dict[str, list[tuple[NotifyCall, FlowCall]]] = defaultdict(list)
        for flow_call in calls:
            try:
                call = NotifyCall.model_validate(flow_call.state)
            except ValueError:
                continue
            by_flow[call.id].append((call, flow_call))
        return [_summarize_one(flow_id, group) for flow_id, group in by_flow.items()]


plugin = Plugin(
    FLOW,
    router,
    "Outage notification: call many targets, collect acknowledgements, retry the rest.",
    settings=NotifySettings,
    flow=NotifyFlow(),
)
