"""The ivr plugin: its handlers (answer, then one step per event) and its outcomes.

``IncomingCall`` (from Event Grid) is answered with the call's state in its callback URL and the
``cognitive_services_endpoint``; ``CallConnected`` asks the first menu; each later event of the
call names its step in its ``operationContext`` and the handler takes the next one
(:mod:`handlers.ivr.steps`). ``callbacks flows`` folds each call's logged events into its outcome
(:mod:`handlers.ivr.progress`).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from callbacks import (
    ClientError,
    Context,
    FlowCall,
    FlowRecord,
    IncomingFlow,
    Plugin,
    Router,
    Throttled,
    Unauthorized,
    read_state,
)
from callbacks.events import (
    CallConnected,
    CallTransferFailed,
    Event,
    IncomingCall,
    PlayCompleted,
    PlayFailed,
    RecognizeCompleted,
    RecognizeFailed,
)
from handlers.ivr import contexts, steps
from handlers.ivr.call import FLOW, IvrCall
from handlers.ivr.menu import IvrSettings
from handlers.ivr.progress import PROMPT_FAILED, IvrProgress, fold, pound

router = Router()


@router.on(IncomingCall)
async def answer(event: IncomingCall, ctx: Context) -> None:
    """Answer a call to one of the IVR's numbers, with the call's state in its callback URL."""
    settings = ctx.settings(IvrSettings)
    data = event.data
    if settings.numbers and data.to.raw_id not in settings.numbers:
        return
    if ctx.callback_url is None:
        raise RuntimeError("the IVR answers calls: the receiver needs --callback-url")
    call = IvrCall.answering(data.correlation_id or event.identity, data.from_.raw_id,
                             data.to.raw_id)
    try:
        await ctx.client.answer_call(
            data.incoming_call_context, call.callback_url(ctx.callback_url),
            cognitive_services_endpoint=settings.cognitive_services_endpoint,
            operation_context=contexts.ANSWER,
        )
    except ClientError as exc:
        if isinstance(exc, Unauthorized | Throttled):
            raise
        # given up ringing, answered already, gone: answering again would not help
        ctx.log.warning("incoming call %s not answered: %s", call.id, exc.code or exc.status)
        return
    ctx.log.info("answered the call from %s: ivr %s", call.caller, call.id)


async def _asked(event: Event, ctx: Context, settings: IvrSettings, call: IvrCall,
                 step: contexts.Step) -> None:
    if isinstance(event, RecognizeFailed):
        if event.result_subcode == PROMPT_FAILED:
            ctx.log.warning("the prompt of menu %s cannot be played: hanging up", step.menu)
            await steps.hang_up(ctx)
        else:
            await steps.replay_or_fall_back(ctx, settings, call, step)
        return
    assert isinstance(event, RecognizeCompleted)
    menu = settings.menus.get(step.menu)
    number = menu.pick(event.digits, event.choice_label) if menu is not None else None
    if number is None:
        ctx.log.info("menu %s: no option for this input", step.menu)
        await steps.replay_or_fall_back(ctx, settings, call, step)
    else:
        await steps.choose(ctx, settings, call, contexts.option_ref(step.menu, number))


async def _recorded(event: Event, ctx: Context, step: contexts.Step, caller: str) -> None:
    if isinstance(event, RecognizeCompleted) and not pound(event):
        left = contexts.seconds_left(step, event.time)
        if left >= 1:  # another key: listen for the rest of the time
            await steps.listen_for_pound(ctx, caller, step, left)
            return
    await steps.end_voicemail(ctx, step)


async def step(event: Event, ctx: Context) -> None:
    """Take an IVR call's next step, from the step the event's operationContext names."""
    call = read_state(ctx.path_context, FLOW, IvrCall)
    if call is None:
        return  # not an IVR call
    settings = ctx.settings(IvrSettings)
    if isinstance(event, CallConnected):
        await steps.ask(ctx, settings, call.caller, settings.start, 1)
        return
    at = contexts.parse(event.operation_context)
    if at is None:
        return
    if at.kind == "ask" and isinstance(event, RecognizeCompleted | RecognizeFailed):
        await _asked(event, ctx, settings, call, at)
    elif at.kind == "record" and isinstance(event, RecognizeCompleted | RecognizeFailed):
        await _recorded(event, ctx, at, call.caller)
    elif at.kind == "action" and isinstance(event, PlayCompleted):
        action = settings.action(at.ref)
        if action is None:
            await steps.hang_up(ctx)
        else:
            await steps.carry_out(ctx, settings, call, at.ref, action)
    elif at.kind == "action" and isinstance(event, PlayFailed | CallTransferFailed):
        ctx.log.warning("%s %s failed: hanging up", at.action, at.ref)
        await steps.hang_up(ctx)


router.add(step, CallConnected, operation_context=contexts.ANSWER)
_type: type[Event]
for _type in (RecognizeCompleted, RecognizeFailed, PlayCompleted, PlayFailed, CallTransferFailed):
    router.add(step, _type, operation_context=f"{contexts.PREFIX}*")


def _shown(raw_id: str) -> str:
    return raw_id.removeprefix("4:")


def _summary(call: IvrCall, progress: IvrProgress) -> str:
    text = f"{_shown(call.caller)} {progress.outcome}"
    if progress.transferred_to:
        text += f" to {_shown(progress.transferred_to)}"
    if progress.voicemail_end:
        end = progress.voicemail_end
        text += f" (ended by {'#' if end == 'pound' else end})"
    if progress.fallback and progress.outcome != "no-input":
        text += " via the fallback"
    if progress.failure:
        text += f": {progress.failure}"
    if progress.choices:
        text += f" [{' > '.join(progress.choices)}]"
    return text


class IvrFlow(IncomingFlow):
    """Report how each IVR call ended; the calls come in, nobody starts them."""

    def summarize(self, calls: Sequence[FlowCall]) -> list[FlowRecord]:
        """One record per answered call: its outcome, the caller's choices, where it went."""
        records = []
        for flow_call in calls:
            try:
                call = IvrCall.model_validate(flow_call.state)
            except ValidationError:
                continue
            progress = fold(flow_call.events)
            records.append(FlowRecord(
                FLOW, call.id, progress.outcome, _summary(call, progress),
                flow_call.first_at, flow_call.last_at,
                {"from": call.caller, "to": call.callee, "call_id": flow_call.call_id,
                 "choices": list(progress.choices), "fallback": progress.fallback,
                 "transferred_to": progress.transferred_to,
                 "recording_id": progress.recording_id,
                 "voicemail_ended_by": progress.voicemail_end, "failure": progress.failure},
            ))
        return records


plugin = Plugin(
    FLOW,
    router,
    "Inbound IVR: answer incoming calls with menus; transfer, take a voicemail, play messages.",
    settings=IvrSettings,
    flow=IvrFlow(),
)
