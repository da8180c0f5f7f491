"""CPU per event of the event log and the dispatcher, without HTTP: where ingest's time goes.

    python bench/dispatch.py [--events 30000] [--runs 2]

Submits ``--events`` ~1.5 KB GA events over 64 calls (``bench.postgres.element``: what
bench/post.lua posts) straight to a :class:`Dispatcher` on a fresh SQLite log (32 submits at a
time, as concurrent requests would), with a no-op handler, and waits until every event is done.
Reported per run: CPU time per event (this process, every thread) with ``concurrency 0``
(logging only) and with the default concurrency (logging and dispatching). The difference is
what dispatching one event costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.noop import router  # noqa: E402 - after the path set-up, for `python bench/...`
from bench.postgres import element  # noqa: E402
from callbacks.context import context_factory  # noqa: E402
from callbacks.dispatch.dispatcher import DispatchConfig, Dispatcher  # noqa: E402
from callbacks.events import Event, parse_events  # noqa: E402
from callbacks.store import open_store  # noqa: E402


async def cpu_per_event(requests: list[list[Event]], concurrency: int) -> float:
    """CPU microseconds per event to log (and, unless ``concurrency`` is 0, dispatch) them."""
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/log.db")
        config = DispatchConfig(concurrency=concurrency)
        dispatcher = Dispatcher(store, router, context_factory(None), config)
        await dispatcher.start()
        started = time.process_time()
        for at in range(0, len(requests), 32):
            await asyncio.gather(*(dispatcher.submit(r, None) for r in requests[at : at + 32]))
        while concurrency:
            stats = await store.stats()
            if stats.by_status.get("done", 0) >= len(requests):
                break
            await asyncio.sleep(0.01)
        spent = time.process_time() - started
        await dispatcher.stop()
    return spent / len(requests) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    requests = [parse_events(json.dumps(element(f"bench-{n}", n)).encode())
                for n in range(args.events)]
    for run in range(1, args.runs + 1):
        logging_only = uvloop.run(cpu_per_event(requests, 0))
        with_dispatch = uvloop.run(cpu_per_event(requests, DispatchConfig().concurrency))
        print(f"run {run}: log only {logging_only:.1f} us CPU/event, log and dispatch "
              f"{with_dispatch:.1f} us (dispatch {with_dispatch - logging_only:.1f} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
