"""Drive a prompted call (:mod:`handlers.prompted_call`) from its events, statelessly.

On each event: fold the call's logged history, advance it by the event, and act on what
changed: the call was answered (ask the first time), a prompt ended unanswered (ask again, or
hang up after the last), a key decided (the flow's own reaction), the closing prompt ended or an
invitee did not answer (hang up). Every request is made through ``ctx``, so its repeatability
id derives from the event: an event handled again acts once.

How a prompt asks follows the call's API (the dialect of the event, as ``ctx.call`` does): on a
GA call it is ``start_recognizing_media`` for one DTMF key with the prompt played first, listening
``timeout`` seconds after it; on a 2021 call it is a PlayAudio, with keys arriving as DtmfReceived.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from callbacks import (
    CallConnection,
    Context,
    FileSource,
    RecognizeInputType,
    target_identifier,
)
from callbacks.events import Dialect, Event
from handlers.call_events import unless_call_gone
from handlers.prompted_call import CallProgress, PromptedCall

OnDecision = Callable[[Context, CallProgress], Awaitable[None]]
"""A flow's reaction to a key's decision (confirm, ask for an agent, acknowledge)."""


@dataclass(frozen=True, slots=True)
class Prompting:
    """How a prompted call asks: what it plays, how often, to whom, how long it listens."""

    url: str
    repeats: int
    callee: str
    """Who the prompt asks (``+1425...`` or ``8:acs:...``): a GA recognize listens to them."""
    timeout: int
    """Seconds a GA recognize waits for a key once the prompt has played."""


def on_ga(ctx: Context) -> bool:
    """Whether the event's call speaks GA (recognize, PlayCompleted) rather than the 2021 API."""
    return ctx.event.dialect is Dialect.GA


async def play(ctx: Context, url: str, operation_context: str) -> None:
    """Play ``url`` to the call, unless it has ended."""
    await unless_call_gone(
        ctx.call.play_media(FileSource(url), operation_context=operation_context), ctx.log
    )


async def ask(ctx: Context, kind: PromptedCall, prompting: Prompting, number: int) -> None:
    """Ask the ``number``-th time: a GA recognize with the prompt, or a 2021 play."""
    context = kind.prompt_context(number, prompting.repeats)
    if not on_ga(ctx):
        await play(ctx, prompting.url, context)
        return
    call = ctx.call
    assert isinstance(call, CallConnection)  # ctx.call of a GA event is a GA call
    listen = call.start_recognizing_media(
        RecognizeInputType.DTMF, target_identifier(prompting.callee),
        play_prompt=FileSource(prompting.url), interrupt_prompt=True,
        dtmf_max_tones_to_collect=1, initial_silence_timeout=prompting.timeout,
        operation_context=context,
    )
    await unless_call_gone(listen, ctx.log)


async def hang_up(ctx: Context) -> None:
    """End the call for everyone (a no-op if it has ended)."""
    await unless_call_gone(ctx.call.hang_up(is_for_everyone=True), ctx.log)


async def stop_asking(ctx: Context) -> None:
    """Stop a 2021 prompt still playing; a GA recognize has already ended with its key."""
    if not on_ga(ctx):
        await unless_call_gone(ctx.call.cancel_all_media_operations(), ctx.log)


async def close(ctx: Context, kind: PromptedCall, closing_url: str | None) -> None:
    """Stop the prompt, then play the closing prompt (hung up after it), or hang up now."""
    await stop_asking(ctx)
    if closing_url:
        await play(ctx, closing_url, kind.closing)
    else:
        await hang_up(ctx)


async def drive(
    ctx: Context,
    kind: PromptedCall,
    event: Event,
    prompting: Prompting,
    on_decision: OnDecision,
) -> tuple[CallProgress, CallProgress]:
    """Act on ``event`` of a prompted call; the call's progress (before, after) it."""
    before = kind.fold(await ctx.history())
    after = kind.advance(before, event)
    if after.ended:
        return before, after
    if after.established and not before.established:
        await ask(ctx, kind, prompting, 1)
    elif after.decision is not None and before.decision is None:
        if after.decision in ("no-response", "failed"):
            ctx.log.info("the call ends: %s", after.decision)
            await hang_up(ctx)
        else:
            await on_decision(ctx, after)
    elif after.decision is None and (prompt := kind.parse_prompt(event.operation_context)):
        number, of = prompt
        if after.prompts == number < of:  # this prompt ended unanswered: the next one
            await ask(ctx, kind, prompting, number + 1)
    elif after.closing_played and not before.closing_played:
        await hang_up(ctx)
    elif after.invite == "unreached" and before.invite is None:
        ctx.log.info("the invitee did not answer; ending the call")
        await hang_up(ctx)
    return before, after
