"""A handler plugin for the console's browser test: it fails for good on ``PlayFailed`` events
of calls whose id starts with ``console-dead``, until the file that
``CALLBACKS_TEST_CONSOLE_FLAG`` names exists (the test creates it, then presses Retry)."""

from __future__ import annotations

import os

from callbacks import Context, PermanentError, Router
from callbacks.events import Event

router = Router()


@router.on("PlayFailed")
async def until_fixed(event: Event, ctx: Context) -> None:
    """Dead at once while the flag file is missing; done once it is there."""
    flag = os.environ.get("CALLBACKS_TEST_CONSOLE_FLAG", "")
    fixed = os.path.exists(flag)  # noqa: ASYNC240 - a stat of a local file, in a test plugin
    if (event.call_id or "").startswith("console-dead") and not fixed:
        raise PermanentError("the speaker is unplugged <b>not bold</b>")
