"""A handler plugin that does nothing: the benchmark measures the receiver, log and dispatcher."""

from __future__ import annotations

from callbacks import Router
from callbacks.context import Context
from callbacks.events import Event

router = Router()


@router.on("*")
async def noop(event: Event, ctx: Context) -> None:
    """Accept every event and do nothing with it."""
