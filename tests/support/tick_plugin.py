"""A handler plugin for the crash tests: each ``Tick`` event plays a prompt on its call.

Ticks are CloudEvents of type ``Contoso.Test.Tick`` with ``data`` ``{"callConnectionId", "n"}``.
After the REST call succeeds the handler appends ``{"call", "n", "attempt"}`` to the file named
by ``CALLBACKS_TEST_RECORD``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from callbacks import Context, FileSource, Router
from callbacks.events import Event

router = Router()


@router.on("Tick")
async def tick(event: Event, ctx: Context) -> None:
    """Play a prompt tagged with the tick number, then record the run."""
    n = event.data["n"]
    await ctx.call.play_media(
        FileSource("https://example.com/tick.wav"), operation_context=f"tick-{n}"
    )
    line = json.dumps({"call": event.call_id, "n": n, "attempt": ctx.attempt})
    with Path(os.environ["CALLBACKS_TEST_RECORD"]).open("a", encoding="utf-8") as out:  # noqa: ASYNC230
        out.write(line + "\n")
