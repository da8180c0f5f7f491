"""Appointment reminder: call, play the reminder until a key is pressed, act on the key.

Started with ``callbacks call reminder --to +1425... --appointment "..."`` or
``POST /api/flows/reminder``. When the callee answers the prompt asks, up to ``prompt_repeats``
times; key 1 confirms (the confirmation plays, the call is hung up), key 2 asks for an agent
(``agent`` is invited). No key by the end of the last prompt hangs up. The outcome (confirmed,
agent, agent-unreached, no-response, failed, no-answer, hung-up) is listed by ``callbacks flows``.

On a GA call each prompt is a DTMF ``start_recognizing_media`` (RecognizeFailed 8510 is a missed
prompt); on a 2021 call a PlayAudio, cancelled when a key comes (:mod:`handlers.prompted_flow`).
The call's state is in its callback URL and its events (:mod:`handlers.prompted_call`).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

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
    read_state,
    target_identifier,
)
from callbacks.events import (
    AddParticipantFailed,
    AddParticipantSucceeded,
    CallConnected,
    CallConnectionStateChanged,
    CallLegStateChanged,
    DtmfReceived,
    Event,
    InviteParticipantResult,
    PlayAudioResult,
    PlayCompleted,
    PlayFailed,
    RecognizeCompleted,
    RecognizeFailed,
    ToneReceived,
)
from handlers.call_events import audio_url, unless_call_gone
from handlers.prompted_call import CallProgress, PromptedCall
from handlers.prompted_flow import Prompting, close, drive, stop_asking

FLOW = "reminder"
CONFIRMED = "confirmed"
AGENT = "agent"
REMINDER = PromptedCall(FLOW, {"1": CONFIRMED, "2": AGENT})
"""Operation contexts ``reminder:prompt:<n>/<of>``, ``reminder:closing``, ``reminder:invite``."""


class ReminderCall(BaseModel):
    """A reminder call's state, carried in its callback URL."""

    model_config = ConfigDict(frozen=True)

    id: str
    to: str
    appointment: str | None = None


def _identifier(value: str | None) -> str | None:
    if value is not None:
        target_identifier(value)
    return value


class ReminderSettings(BaseModel):
    """Settings of the reminder plugin (``CALLBACKS_REMINDER_*`` or ``[reminder]``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(description="the application's identity calls are placed from (8:acs:...)")
    caller_id: str | None = Field(
        default=None, description="the number phone callees see (alternate caller id, +1...)"
    )
    prompt_url: str = Field(
        description="the reminder prompt; {appointment} in it becomes the URL-quoted appointment"
    )
    prompt_repeats: int = Field(
        default=3, ge=1, le=20, description="plays of the prompt before giving up (no-response)"
    )
    input_timeout: int = Field(
        default=5, ge=1, le=300,
        description="GA calls: seconds to wait for a key after each play of the prompt",
    )
    confirmation_url: str | None = Field(
        default=None, description="played after key 1, then the call ends; unset: hang up at once"
    )
    agent: str = Field(description="who key 2 invites into the call (+1... or 8:acs:...)")

    @field_validator("source", "caller_id", "agent")
    @classmethod
    def _identifiers(cls, value: str | None) -> str | None:
        return _identifier(value)

    @field_validator("prompt_url", "confirmation_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return None if value is None else audio_url(value)


class ReminderRequest(BaseModel):
    """A reminder to start: who to call, and what about."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    to: str = Field(description="who to call: +14255550100 or 8:acs:...")
    appointment: str | None = Field(
        default=None, max_length=200, description="what the reminder is about"
    )

    @field_validator("to")
    @classmethod
    def _target(cls, value: str) -> str:
        target_identifier(value)
        return value


router = Router()


async def _on_decision(ctx: Context, progress: CallProgress) -> None:
    settings = ctx.settings(ReminderSettings)
    if progress.decision == CONFIRMED:
        ctx.log.info("reminder confirmed")
        await close(ctx, REMINDER, settings.confirmation_url)
    elif progress.decision == AGENT:
        ctx.log.info("the callee asks for an agent")
        await stop_asking(ctx)
        invite = ctx.call.add_participant(
            target_identifier(settings.agent), operation_context=REMINDER.invite,
            source_caller_id_number=settings.caller_id,
        )
        await unless_call_gone(invite, ctx.log)


async def step(event: Event, ctx: Context) -> None:
    """Move a reminder call on by one event (see :func:`handlers.prompted_flow.drive`)."""
    call = read_state(ctx.path_context, FLOW, ReminderCall)
    if call is None:
        return  # not a reminder call
    settings = ctx.settings(ReminderSettings)
    prompt_url = settings.prompt_url.replace(
        "{appointment}", quote(call.appointment or "", safe="")
    )
    prompting = Prompting(prompt_url, settings.prompt_repeats, call.to, settings.input_timeout)
    await drive(ctx, REMINDER, event, prompting, _on_decision)


_type: type[Event]
for _type in (CallLegStateChanged, CallConnectionStateChanged, CallConnected, DtmfReceived,
              ToneReceived):
    router.add(step, _type)
for _type in (PlayAudioResult, PlayCompleted, PlayFailed, RecognizeCompleted, RecognizeFailed):
    router.add(step, _type, operation_context=f"{FLOW}:*")
for _type in (InviteParticipantResult, AddParticipantSucceeded, AddParticipantFailed):
    router.add(step, _type, operation_context=REMINDER.invite)


class ReminderFlow(Flow[ReminderRequest]):
    """Start reminder calls and report how each ended."""

    request_model = ReminderRequest

    async def start(self, request: ReminderRequest, launch: Launch) -> Sequence[PlacedCall]:
        """Place the reminder call."""
        settings = launch.settings.of(ReminderSettings)
        state = {"to": request.to}
        if request.appointment:
            state["appointment"] = request.appointment
        placed = await launch.place(
            0, request.to, state, source=settings.source, caller_id=settings.caller_id
        )
        return [placed]

    def summarize(self, calls: Sequence[FlowCall]) -> list[FlowRecord]:
        """One record per reminder call: its outcome, whom it called, about what."""
        records = []
        for flow_call in calls:
            try:
                call = ReminderCall.model_validate(flow_call.state)
            except ValueError:
                continue
            state = REMINDER.fold(flow_call.events)
            about = f" ({call.appointment})" if call.appointment else ""
            records.append(FlowRecord(
                FLOW, call.id, state.outcome, f"{call.to} {state.outcome}{about}",
                flow_call.first_at, flow_call.last_at,
                {"to": call.to, "appointment": call.appointment, "call_id": flow_call.call_id,
                 "prompts": state.prompts, "agent": state.invite},
            ))
        return records


plugin = Plugin(
    FLOW,
    router,
    "Appointment reminder: call, play the reminder, 1 confirms, 2 invites an agent.",
    settings=ReminderSettings,
    flow=ReminderFlow(),
)
