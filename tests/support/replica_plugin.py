"""A handler plugin for the replica tests: each ``Tick`` run is timed and recorded per replica.

Ticks are CloudEvents of type ``Contoso.Test.Tick`` with ``data`` ``{"callConnectionId", "n"}``.
A run sleeps ``CALLBACKS_TEST_HANDLER_SECONDS`` (default 0.005) so that two replicas running a
call at once would overlap visibly, then appends ``{"call", "n", "replica", "start", "end",
"attempt"}`` to ``$CALLBACKS_TEST_RECORD_DIR/<replica>.jsonl`` (one file per process, so lines
never interleave). The replica is ``CALLBACKS_REPLICA_NAME``, the variable serve reads too.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

from callbacks import Context, Router
from callbacks.events import Event

router = Router()


@router.on("Tick")
async def tick(event: Event, ctx: Context) -> None:
    """Sleep a little between two timestamps, then record the run."""
    started = time.time()
    await asyncio.sleep(float(os.environ.get("CALLBACKS_TEST_HANDLER_SECONDS", "0.005")))
    ended = time.time()
    replica = os.environ["CALLBACKS_REPLICA_NAME"]
    line = {
        "call": event.call_id, "n": event.data["n"], "replica": replica,
        "start": started, "end": ended, "attempt": ctx.attempt,
    }
    path = Path(os.environ["CALLBACKS_TEST_RECORD_DIR"]) / f"{replica}.jsonl"
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")
