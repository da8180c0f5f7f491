"""Handler plugins of the end-to-end tests, loaded by the real ``callbacks serve``.

Each router is one call flow, enabled with ``--handlers tests.support.e2e_plugin:<router>``. The
tests read what the flows did from the emulator's journal (REST requests, callbacks) and the event
log.
"""

from __future__ import annotations

from callbacks import Context, Router
from callbacks.events import (
    CallLegStateChanged,
    CallState,
    DtmfReceived,
    ParticipantsUpdated,
    PlayAudioResult,
    Tone,
)

AUDIO = "https://example.com/audio"
CAROL = "8:acs:resource_carol"
"""The agent the invite flow brings in and sends away again."""


def _established(event: CallLegStateChanged) -> bool:
    return event.data.call_state == CallState.ESTABLISHED


# -- reminder: call, prompt, wait for "1", confirm, hang up ----------------------------------

reminder = Router()


@reminder.on(CallLegStateChanged)
async def remind(event: CallLegStateChanged, ctx: Context) -> None:
    """Play the reminder once the callee has answered."""
    if _established(event):
        await ctx.call.play_audio(f"{AUDIO}/reminder.wav", operation_context="reminder-prompt")


@reminder.on(DtmfReceived)
async def confirm(event: DtmfReceived, ctx: Context) -> None:
    """On "1": stop whatever still plays, then play the confirmation."""
    if event.data.tone_info.tone == Tone.TONE1:
        await ctx.call.cancel_media_processing(operation_context="confirmed")
        await ctx.call.play_audio(f"{AUDIO}/confirmed.wav", operation_context="confirmation")


@reminder.on(PlayAudioResult, operation_context="confirmation")
async def goodbye(event: PlayAudioResult, ctx: Context) -> None:
    """Hang up once the confirmation has played."""
    await ctx.call.hangup()


# -- greeter: a welcome prompt for everyone who joins ----------------------------------------

greeter = Router()
_greeted: dict[str, set[str]] = {}
"""Who has been greeted, per call; in memory, which is enough for one test process."""


@greeter.on(ParticipantsUpdated)
async def greet(event: ParticipantsUpdated, ctx: Context) -> None:
    """Play a welcome naming each participant not greeted yet."""
    seen = _greeted.setdefault(event.call_id or "", set())
    for participant in event.data.participants:
        raw_id = participant.identifier.raw_id
        if raw_id not in seen:
            await ctx.call.play_audio(f"{AUDIO}/welcome.wav", operation_context=f"welcome:{raw_id}")
            seen.add(raw_id)


# -- hold: looping music until the caller presses #, then goodbye -----------------------------

hold = Router()


@hold.on(CallLegStateChanged)
async def music(event: CallLegStateChanged, ctx: Context) -> None:
    """Loop hold music once the call is up."""
    if _established(event):
        await ctx.call.play_audio(f"{AUDIO}/hold.wav", loop=True, operation_context="hold-music")


@hold.on(DtmfReceived)
async def stop_music(event: DtmfReceived, ctx: Context) -> None:
    """On "#": cancel the music."""
    if event.data.tone_info.tone == Tone.POUND:
        await ctx.call.cancel_media_processing(operation_context="stop-hold")


@hold.on(PlayAudioResult, operation_context="hold-music")
async def music_ended(event: PlayAudioResult, ctx: Context) -> None:
    """Say goodbye, naming how the music ended (its result code and subcode)."""
    info = event.data.result_info
    outcome = f"{info.code}/{info.subcode}" if info else "none"
    await ctx.call.play_audio(f"{AUDIO}/goodbye.wav", operation_context=f"after-hold:{outcome}")


@hold.on(PlayAudioResult, operation_context="after-hold:*")
async def hang_up_after_goodbye(event: PlayAudioResult, ctx: Context) -> None:
    """Hang up after the goodbye."""
    await ctx.call.hangup()


# -- agent: invite an agent once the call is up, then remove them ----------------------------

agent = Router()


@agent.on(CallLegStateChanged)
async def invite_agent(event: CallLegStateChanged, ctx: Context) -> None:
    """Bring the agent in once the callee has answered."""
    if _established(event):
        await ctx.call.invite_participants([CAROL], operation_context="invite-agent")


@agent.on(ParticipantsUpdated)
async def remove_agent(event: ParticipantsUpdated, ctx: Context) -> None:
    """Send the agent away as soon as they appear in the call."""
    for participant in event.data.participants:
        if participant.identifier.raw_id == CAROL and participant.participant_id:
            await ctx.call.remove_participant(participant.participant_id)
