"""A handler plugin for tests that run the real server: it appends what it sees to a file.

The file is named by ``CALLBACKS_TEST_RECORD``; one JSON line per handler run. In a
``--dispatch process`` child, ``CALLBACKS_TEST_CHILD_IMPORT_DELAY`` seconds pass while it is
imported (a plugin slow to load).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from callbacks import Router
from callbacks.dispatch.process import PARENT_PID_VARIABLE
from callbacks.events import Event

if PARENT_PID_VARIABLE in os.environ:
    time.sleep(float(os.environ.get("CALLBACKS_TEST_CHILD_IMPORT_DELAY", "0")))

router = Router()


@router.on("*")
async def record(event: Event, ctx: Any) -> None:
    """Write (type, identity, call id, path context, attempt, pid) as one JSON line."""
    line = {
        "type": event.type,
        "identity": event.identity,
        "call_id": event.call_id,
        "path_context": getattr(ctx, "path_context", None),
        "attempt": getattr(ctx, "attempt", None),
        "pid": os.getpid(),
    }
    with Path(os.environ["CALLBACKS_TEST_RECORD"]).open("a", encoding="utf-8") as out:  # noqa: ASYNC230 - a test's tiny append
        out.write(json.dumps(line) + "\n")


not_a_router = object()
