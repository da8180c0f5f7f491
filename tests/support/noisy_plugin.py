"""A handler plugin for the dispatcher-process tests: it prints, and leaves a subprocess behind.

Each run prints a line to standard output, starts ``sleep 60`` without waiting for it (its pid
appended to ``$CALLBACKS_TEST_RECORD.pids``), then records the event like
:mod:`tests.support.recording_plugin`. Neither the print nor the subprocess may disturb the
dispatcher process's pipes to the server.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from callbacks import Router
from callbacks.events import Event
from tests.support.recording_plugin import record

router = Router()


@router.on("*")
async def noisy(event: Event, ctx: Any) -> None:
    """Print, start a subprocess that outlives the run, then record."""
    print(f"handler output for {event.identity}")
    sleeper = subprocess.Popen(["sleep", "60"])  # noqa: ASYNC220 - a test's fire-and-forget
    with Path(os.environ["CALLBACKS_TEST_RECORD"] + ".pids").open("a") as out:  # noqa: ASYNC230
        out.write(f"{sleeper.pid}\n")
    await record(event, ctx)
