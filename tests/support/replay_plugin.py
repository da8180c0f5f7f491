"""Handlers for the replay tests: each kind of REST call, a failure, a hang, the call history."""

from __future__ import annotations

import asyncio

from callbacks import Context, FileSource, Router
from callbacks.events import CallConnected, Event, ParticipantsUpdated

router = Router()


@router.on("PlayCompleted")
async def play_again(event: Event, ctx: Context) -> None:
    """One play per event, tagged with the event."""
    await ctx.call.play_media(
        FileSource("https://example.com/again.wav"), operation_context=f"again:{event.identity}"
    )


@router.on("CallConnected")
async def call_back(event: Event, ctx: Context) -> None:
    """Create a call, then hang up the call the answer names (uses the answer)."""
    placed = await ctx.client.create_call(
        "8:acs:resource_callee", ctx.callback_url or "https://x.invalid"
    )
    await ctx.client.get_call_connection(placed.call_connection_id).hang_up(is_for_everyone=True)


@router.on("ParticipantsUpdated")
async def greet_if_connected(event: ParticipantsUpdated, ctx: Context) -> None:
    """Play a greeting whose context says whether the call's history has a CallConnected."""
    connected = await ctx.previous(CallConnected)
    await ctx.call.play_media(
        FileSource("https://example.com/hello.wav"),
        operation_context="after-connected" if connected else "no-connected",
    )


@router.on("PlayFailed")
async def broken(event: Event, ctx: Context) -> None:
    """Always fails."""
    raise RuntimeError("speaker unplugged")


@router.on("RecognizeCompleted")
async def hangs(event: Event, ctx: Context) -> None:
    """Never finishes on its own."""
    await asyncio.sleep(3600)
