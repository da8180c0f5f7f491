"""Drive a prompted call (:mod:`handlers.prompted_call`) from its events, statelessly.

On each event: fold the call's logged history, advance it by the event, and act on what
changed: the call was answered (play the prompt), a play ended (the next one, or hang up
after the last), a key decided (the flow's own reaction), the closing prompt ended or an
invitee did not answer (hang up). Every request is made through ``ctx``, so its repeatability
id derives from the event: an event handled again acts once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from callbacks import Context, FileSource
from callbacks.events import Event
from handlers.call_events import unless_call_gone
from handlers.prompted_call import CallProgress, PromptedCall

OnDecision = Callable[[Context, CallProgress], Awaitable[None]]
"""A flow's reaction to a key's decision (confirm, ask for an agent, acknowledge)."""


async def play(ctx: Context, url: str, operation_context: str) -> None:
    """Play ``url`` to the call, unless it has ended."""
    await unless_call_gone(
        ctx.call.play_media(FileSource(url), operation_context=operation_context), ctx.log
    )


async def hang_up(ctx: Context) -> None:
    """End the call for everyone (a no-op if it has ended)."""
    await unless_call_gone(ctx.call.hang_up(is_for_everyone=True), ctx.log)


async def close(ctx: Context, kind: PromptedCall, closing_url: str | None) -> None:
    """Stop the prompt, then play the closing prompt (hung up after it), or hang up now."""
    await unless_call_gone(ctx.call.cancel_all_media_operations(), ctx.log)
    if closing_url:
        await play(ctx, closing_url, kind.closing)
    else:
        await hang_up(ctx)


async def drive(
    ctx: Context,
    kind: PromptedCall,
    event: Event,
    *,
    prompt_url: str,
    repeats: int,
    on_decision: OnDecision,
) -> tuple[CallProgress, CallProgress]:
    """Act on ``event`` of a prompted call; the call's progress (before, after) it."""
    before = kind.fold(await ctx.history())
    after = kind.advance(before, event)
    if after.ended:
        return before, after
    if after.established and not before.established:
        await play(ctx, prompt_url, kind.prompt_context(1, repeats))
    elif after.decision is not None and before.decision is None:
        if after.decision in ("no-response", "failed"):
            ctx.log.info("the call ends: %s", after.decision)
            await hang_up(ctx)
        else:
            await on_decision(ctx, after)
    elif after.decision is None and (prompt := kind.parse_prompt(event.operation_context)):
        number, of = prompt
        if after.prompts == number < of:  # this play ran to its end: the next one
            await play(ctx, prompt_url, kind.prompt_context(number + 1, of))
    elif after.closing_played and not before.closing_played:
        await hang_up(ctx)
    elif after.invite == "unreached" and before.invite is None:
        ctx.log.info("the invitee did not answer; ending the call")
        await hang_up(ctx)
    return before, after
