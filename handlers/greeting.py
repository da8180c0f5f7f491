"""Play an audio file to a call once for each participant who joins it.

Every ``ParticipantsUpdated`` carries the call's FULL participant list; the handler compares it
with the previous list in the call's logged history, and plays ``audio_url`` once per
participant who is new. Each play's repeatability id derives from (event, handler, index), so a
re-dispatched event (a retry, a restart, another replica) greets nobody twice.
"""

from __future__ import annotations

import fnmatch

from pydantic import BaseModel, ConfigDict, Field, field_validator

from callbacks import Context, FileSource, Plugin, Router
from callbacks.events import ParticipantsUpdated
from handlers.call_events import audio_url, unless_call_gone

OPERATION_CONTEXT = "greeting"


class GreetingSettings(BaseModel):
    """Settings of the greeting plugin (``CALLBACKS_GREETING_*`` or ``[greeting]``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    audio_url: str = Field(description="audio file played for each participant who joins")
    path_context: str | None = Field(
        default=None,
        description="glob of callback path contexts whose calls are greeted; unset: every call",
    )

    @field_validator("audio_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return audio_url(value)


router = Router()


def newly_joined(
    current: ParticipantsUpdated, previous: ParticipantsUpdated | None
) -> list[str]:
    """Raw ids in ``current``'s list that were not in ``previous``'s, in list order."""
    before = {p.identifier.raw_id for p in previous.data.participants} if previous else set()
    joined: list[str] = []
    for participant in current.data.participants:
        raw_id = participant.identifier.raw_id
        if raw_id not in before and raw_id not in joined:
            joined.append(raw_id)
    return joined


@router.on(ParticipantsUpdated)
async def greet(event: ParticipantsUpdated, ctx: Context) -> None:
    """Play the greeting once per participant who was not in the previous list."""
    settings = ctx.settings(GreetingSettings)
    if settings.path_context is not None and not fnmatch.fnmatchcase(
        ctx.path_context or "", settings.path_context
    ):
        return
    for raw_id in newly_joined(event, await ctx.previous(ParticipantsUpdated)):
        ctx.log.info("greeting %s", raw_id)
        play = ctx.call.play_media(
            FileSource(settings.audio_url), operation_context=f"{OPERATION_CONTEXT}:{raw_id}"
        )
        if not await unless_call_gone(play, ctx.log):
            return  # the call is over: nobody is left to greet


plugin = Plugin(
    "greeting",
    router,
    "Play an audio file to a call once for each participant who joins it.",
    settings=GreetingSettings,
)
