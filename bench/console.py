"""How fast the console's pages answer on a log of 100 000 events, on SQLite and PostgreSQL.

    python bench/console.py [--events 100000] [--requests 20] [--postgres URL]

Logs ``--events`` ~1.5 KB GA events (``bench.postgres.element``) in calls of 15 events (a call
connected, prompts played, disconnected), most of them done, one in a hundred dead, one in five
thousand a ``RecognizeFailed``, one call in ten with ``menu:*`` contexts; then serves the real
app (``build_app`` with ``--console``, ``--concurrency 0``: nothing dispatches meanwhile) under
uvicorn and times ``--requests`` GETs of each page over HTTP with the API key as a bearer. For
each page: the median and the slowest, in milliseconds. PostgreSQL runs too when ``--postgres``
or ``CALLBACKS_TEST_POSTGRES_URL`` names a database (a schema of its own, dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402 - after the path set-up, for `python bench/console.py`
import httpx2  # noqa: E402

from bench.postgres import element, with_schema  # noqa: E402
from callbacks.config import ServeConfig  # noqa: E402
from callbacks.emulator import serve_asgi  # noqa: E402
from callbacks.events import parse_events  # noqa: E402
from callbacks.service import build_app  # noqa: E402
from callbacks.store import open_store  # noqa: E402

KEY = "bench-console-key-0123456789"
PER_CALL = 15
TYPES = ["CallConnected", "PlayCompleted", "PlayCompleted", "PlayFailed", "PlayCompleted",
         "PlayCompleted", "PlayCompleted", "PlayCompleted", "PlayCompleted", "PlayCompleted",
         "PlayCompleted", "PlayCompleted", "PlayCompleted", "PlayCompleted", "CallDisconnected"]


def call_of(n: int) -> str:
    """The call id of event ``n``."""
    return f"c0ffee00-0000-4000-8000-{n // PER_CALL:012d}"


def event(n: int) -> dict[str, object]:
    """Event ``n`` of the log."""
    body = element(f"bench-{n}", n)
    data = body["data"]
    assert isinstance(data, dict)
    data["callConnectionId"] = call_of(n)
    body["source"] = body["subject"] = f"calling/callConnections/{call_of(n)}"
    kind = "RecognizeFailed" if n % 5000 == 7 else TYPES[n % PER_CALL]
    body["type"] = f"Microsoft.Communication.{kind}"
    data["operationContext"] = f"menu:{n % 3}" if (n // PER_CALL) % 10 == 0 else "bench"
    return body


async def fill(url: str, count: int) -> None:
    """Log ``count`` events, then set their statuses: done, one in a hundred dead."""
    async with open_store(url) as store:
        for start in range(0, count, 500):
            body = [event(n) for n in range(start, min(start + 500, count))]
            await store.append(parse_events(json.dumps(body).encode()), None)
    done = "UPDATE {t} SET status = CASE WHEN seq % 100 = 0 THEN 'dead' ELSE 'done' END"
    if url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute(done.format(t="events"))
            conn.execute("UPDATE lanes SET ready = 0")
    else:
        schema = url.rsplit("schema=", 1)[1]
        conn = await asyncpg.connect(url.split("?")[0])
        try:
            await conn.execute(done.format(t=f"{schema}.callbacks_events"))
            await conn.execute(f"UPDATE {schema}.callbacks_lanes SET ready = false")
            await conn.execute(f"ANALYZE {schema}.callbacks_events")
        finally:
            await conn.close()


def pages(count: int) -> dict[str, str]:
    """The pages timed, by name."""
    middle = count // 2
    return {
        "calls list": "/console/",
        "calls list, rare type": "/console/?type=RecognizeFailed",
        "calls list, context glob": "/console/?context=menu:*",
        "calls list, status dead": "/console/?status=dead",
        "calls list, since 10 min": "/console/?since=10m",
        "calls list, page 2": "/console/?before=" + str(count - 1000),
        "call timeline": f"/console/calls/{call_of(middle)}",
        "event": f"/console/events/bench-{middle}",
        "dead events": "/console/dead",
        "calls list JSON": "/console/api/calls",
    }


async def measure(url: str, count: int, requests: int) -> dict[str, tuple[float, float]]:
    """(median, slowest) ms of each page against the log at ``url``."""
    config = ServeConfig(auth="none", store=url, console=True, api_key=KEY, concurrency=0,
                         dispatch="inline", log_level="WARNING")
    found: dict[str, tuple[float, float]] = {}
    async with serve_asgi(build_app(config)) as base, httpx2.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
    ) as http:
        for name, path in pages(count).items():
            times = []
            for _ in range(requests + 1):
                started = time.perf_counter()
                answer = await http.get(path)
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, (path, answer.status_code, answer.text[:200])
            times = times[1:]  # the first warms caches up
            found[name] = (statistics.median(times), max(times))
    return found


def report(label: str, results: dict[str, tuple[float, float]]) -> None:
    """One table of results."""
    print(f"\n{label}")
    print(f"  {'page':<28} {'median ms':>10} {'slowest ms':>11}")
    for name, (median, slowest) in results.items():
        print(f"  {name:<28} {median:>10.1f} {slowest:>11.1f}")


async def run(args: argparse.Namespace) -> None:
    """Both logs, one after the other."""
    with tempfile.TemporaryDirectory(prefix="callbacks-bench-console-") as tmp:
        url = f"sqlite:///{tmp}/log.db"
        started = time.perf_counter()
        await fill(url, args.events)
        print(f"SQLite log of {args.events} events filled in {time.perf_counter() - started:.1f} s")
        report(f"SQLite, {args.events} events", await measure(url, args.events, args.requests))
    postgres = args.postgres or os.environ.get("CALLBACKS_TEST_POSTGRES_URL")
    if not postgres:
        print("\nPostgreSQL skipped: give --postgres URL or CALLBACKS_TEST_POSTGRES_URL")
        return
    schema = f"bench_console_{uuid.uuid4().hex[:8]}"
    url = with_schema(postgres, schema)
    try:
        started = time.perf_counter()
        await fill(url, args.events)
        print(f"\nPostgreSQL log filled in {time.perf_counter() - started:.1f} s")
        report(f"PostgreSQL, {args.events} events",
               await measure(url, args.events, args.requests))
    finally:
        conn = await asyncpg.connect(postgres)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await conn.close()


def main() -> None:
    """``python bench/console.py``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000, help="events in the log")
    parser.add_argument("--requests", type=int, default=20, help="timed GETs of each page")
    parser.add_argument("--postgres", help="a PostgreSQL database URL (default: "
                        "CALLBACKS_TEST_POSTGRES_URL)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
