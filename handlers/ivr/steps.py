"""What the IVR does next: ask a menu, run an option's action, record and end a voicemail.

Each function makes its requests through ``ctx`` (repeatability ids from the event, completed
requests answered from the log on a re-run) and names its step in the request's
``operationContext`` (:mod:`handlers.ivr.contexts`), so the next event says where the call is.
Nothing is remembered between events, and the IVR keeps no timer: a voicemail's maximum length
is the initial-silence timeout of the recognize that listens for ``#`` while it records.
"""

from __future__ import annotations

from datetime import UTC, datetime

from callbacks import (
    CallAutomationError,
    CallConnection,
    ClientError,
    Context,
    RecognitionChoice,
    RecognizeInputType,
    target_identifier,
)
from handlers.call_events import unless_call_gone
from handlers.ivr import contexts
from handlers.ivr.call import IvrCall
from handlers.ivr.menu import Action, IvrSettings, Prompt


def _call(ctx: Context) -> CallConnection:
    call = ctx.call
    assert isinstance(call, CallConnection)  # IVR calls are answered, and so addressed, in GA
    return call


async def hang_up(ctx: Context) -> None:
    """End the call for everyone (a no-op if it has ended)."""
    await unless_call_gone(_call(ctx).hang_up(is_for_everyone=True), ctx.log)


async def say(ctx: Context, settings: IvrSettings, prompt: Prompt, context: str) -> None:
    """Play ``prompt`` to the call."""
    play = _call(ctx).play_media(prompt.source(settings.voice), operation_context=context)
    await unless_call_gone(play, ctx.log)


async def ask(ctx: Context, settings: IvrSettings, caller: str, menu_name: str,
              number: int) -> None:
    """Ask menu ``menu_name`` the ``number``-th time (after a retry message on a replay)."""
    menu = settings.menus[menu_name]
    prompts = [menu.prompt]
    if number > 1 and settings.retry_message is not None:
        prompts.insert(0, settings.retry_message)
    choices = [
        RecognitionChoice(o.choice_label, o.phrases or [o.choice_label], o.key)
        for o in menu.options
    ]
    listen = _call(ctx).start_recognizing_media(
        RecognizeInputType.CHOICES if menu.spoken else RecognizeInputType.DTMF,
        target_identifier(caller),
        play_prompt=[p.source(settings.voice) for p in prompts], interrupt_prompt=True,
        initial_silence_timeout=settings.input_timeout,
        choices=choices if menu.spoken else None,
        speech_language=settings.language if menu.spoken else None,
        dtmf_max_tones_to_collect=None if menu.spoken else 1,
        operation_context=contexts.ask(menu_name, number, settings.retries + 1),
    )
    await unless_call_gone(listen, ctx.log)


async def choose(ctx: Context, settings: IvrSettings, call: IvrCall, ref: str) -> None:
    """Start action ``ref``: say its message first, if it has one, else carry it out."""
    action = settings.action(ref)
    if action is None:
        ctx.log.warning("the IVR's settings have no action %s any more: hanging up", ref)
        await hang_up(ctx)
        return
    if action.message is not None:
        await say(ctx, settings, action.message, contexts.action(action.action, ref))
    else:
        await carry_out(ctx, settings, call, ref, action)


async def replay_or_fall_back(ctx: Context, settings: IvrSettings, call: IvrCall,
                              step: contexts.Step) -> None:
    """No valid input at asking ``step``: ask again, or run the fallback after the last."""
    if not step.last:
        await ask(ctx, settings, call.caller, step.menu, step.number + 1)
        return
    ctx.log.info("no valid input at menu %s after %d askings: the fallback", step.menu,
                 step.number)
    await choose(ctx, settings, call, contexts.FALLBACK)


async def carry_out(ctx: Context, settings: IvrSettings, call: IvrCall, ref: str,
                    action: Action) -> None:
    """Do action ``ref`` itself (its message, if any, has been said)."""
    if action.action == "play":
        if action.then == "menu":
            await ask(ctx, settings, call.caller, ref.partition("/")[0], 1)
        else:
            await hang_up(ctx)
    elif action.action == "menu":
        assert action.menu is not None
        await ask(ctx, settings, call.caller, action.menu, 1)
    elif action.action == "transfer":
        assert action.to is not None
        transfer = _call(ctx).transfer_call_to_participant(
            target_identifier(action.to), operation_context=contexts.action("transfer", ref)
        )
        await unless_call_gone(transfer, ctx.log)
    elif action.action == "voicemail":
        await record(ctx, call, ref, action.max_length)
    else:
        await hang_up(ctx)


async def record(ctx: Context, call: IvrCall, ref: str, max_length: int) -> None:
    """Start recording the voicemail, and listen for ``#`` at most ``max_length`` seconds."""
    server_call_id = getattr(ctx.event.data, "server_call_id", None)
    if server_call_id is None or ctx.callback_url is None:
        raise RuntimeError("a voicemail needs the call's server id and the receiver's "
                           "--callback-url")
    try:
        started = await ctx.client.start_recording(  # its state changes come to this call
            server_call_id=server_call_id,
            recording_state_callback_url=call.callback_url(ctx.callback_url),
        )
    except ClientError as exc:  # a 4xx: the call ended, or recording is refused
        ctx.log.warning("the voicemail cannot be recorded: %s", exc.code or exc.status)
        await hang_up(ctx)
        return
    now = ctx.event.time or ctx.received_at or datetime.now(UTC)
    deadline = int(now.timestamp()) + max_length
    step = contexts.Step("record", ref=ref, deadline=deadline,
                         recording_id=started.recording_id)
    await listen_for_pound(ctx, call.caller, step, max_length)


async def listen_for_pound(ctx: Context, caller: str, step: contexts.Step, seconds: int) -> None:
    """Listen up to ``seconds`` for the ``#`` that ends voicemail ``step``."""
    listen = _call(ctx).start_recognizing_media(
        RecognizeInputType.DTMF, target_identifier(caller),
        initial_silence_timeout=seconds, dtmf_max_tones_to_collect=1, dtmf_stop_tones=["#"],
        operation_context=contexts.record(step.ref, step.deadline, step.recording_id),
    )
    await unless_call_gone(listen, ctx.log)


async def end_voicemail(ctx: Context, step: contexts.Step) -> None:
    """Stop the voicemail's recording and end the call."""
    try:
        await ctx.client.stop_recording(step.recording_id)
    except CallAutomationError as exc:  # stopped already (the call ended): nothing to keep
        ctx.log.info("the voicemail's recording had stopped: %s", exc.code or exc.status)
    await hang_up(ctx)
