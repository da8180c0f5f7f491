"""The smallest useful plugin: log every event, and say which tone was pressed.

    callbacks serve --auth none --handlers examples.hello:router
"""

from __future__ import annotations

from callbacks import Context, Router
from callbacks.events import DtmfReceived, Event

router = Router()


@router.on(DtmfReceived)
async def tone(event: DtmfReceived, ctx: Context) -> None:
    """Log the key the caller pressed."""
    tone = event.data.tone_info.tone
    ctx.log.info("DtmfReceived on call %s: tone %s", event.call_id, getattr(tone, "digit", tone))


@router.on("*")
async def log_event(event: Event, ctx: Context) -> None:
    """Log every event with its call and operation context."""
    ctx.log.info("%s (%s) on call %s", event.type, event.dialect, event.call_id)
