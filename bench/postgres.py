"""PostgreSQL benchmark: ingest and dispatch throughput of one and of two replicas on one log.

    python bench/postgres.py [--postgres URL] [--duration 10] [--backlog 20000]
                             [--scenarios 1,2,sqlite] [--steady-rate N] [--json out.json]

Needs wrk (Debian: ``apt-get install wrk``) and a PostgreSQL server (default: the
``CALLBACKS_TEST_POSTGRES_URL`` variable, else postgresql://postgres@127.0.0.1:5432/test); each
scenario gets a schema of its own, dropped afterwards. Replicas are real ``callbacks serve``
processes (uvicorn, uvloop, httptools, the no-op handler of ``bench/noop.py``). The ``sqlite``
scenario runs the same measurements on one process with the default SQLite log, for comparison.

Per scenario:

- **dispatch of a backlog**: ``--backlog`` events over 64 calls are logged while no replica
  runs, then the replicas start and drain them; events/s from the first handler start to the
  last finish, read back from the log;
- **a paced load** (wrk with a delay per connection; the same rate in every scenario, by
  default half the first scenario's backlog rate): the dispatch lag (received to handler
  start) p50/p99 of a system that keeps up;
- **ingest at full load**: wrk posts ~1.5 KB GA events (unique ids, 64 calls) over 64
  connections, single events and 10-event arrays, while the replicas dispatch. With two
  replicas each gets 32 connections, as a load balancer would spread them. Reported:
  requests/s, events/s, ack latency p50/p99, and the lag and the time the backlog took to
  drain once the load stopped.

Everything shares one machine, so a second replica adds processes, not cores: compare ratios
measured in one sitting, and read the two-replica rows as the cost of coordination.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg
import httpx2

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # `python bench/postgres.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import BIN, LUA, ROOT, Server, free_port
from callbacks.events import parse_events
from callbacks.store import EventFilter, open_store

CALLS = 64
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def with_schema(url: str, schema: str) -> str:
    """``url`` with ``schema=`` added to its query."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode({"schema": schema})) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def element(event_id: str, n: int) -> dict[str, Any]:
    """A ~1.5 KB GA PlayCompleted event of call ``n % CALLS`` (the shape post.lua sends)."""
    call = f"c0ffee00-0000-4000-8000-{n % CALLS:012d}"
    return {
        "id": event_id, "source": f"calling/callConnections/{call}",
        "type": "Microsoft.Communication.PlayCompleted", "specversion": "1.0",
        "datacontenttype": "application/json", "time": "2024-03-01T12:00:00.123456+00:00",
        "subject": f"calling/callConnections/{call}",
        "data": {
            "callConnectionId": call, "serverCallId": "aHR0cHM6Ly9hcGk",
            "correlationId": "b1c0e6a2-1111-4222-8333-444455556666",
            "operationContext": "bench",
            "resultInformation": {"code": 200, "subCode": 0,
                                  "message": "Action completed successfully. " + "x" * 900},
        },
    }


async def prefill(url: str, count: int) -> None:
    """Log ``count`` events directly (no replica running), 500 per transaction."""
    async with open_store(url) as store:
        for start in range(0, count, 500):
            body = [element(f"backlog-{n}", n) for n in range(start, min(start + 500, count))]
            await store.append(parse_events(json.dumps(body).encode()), None)


async def dispatched(url: str, since: datetime, within: float = 600) -> dict[str, Any]:
    """Wait until nothing is unfinished, then read back the runs of events received since."""
    async with open_store(url) as store:
        deadline = time.monotonic() + within
        while True:
            stats = await store.stats()
            unfinished = stats.by_status.get("pending", 0) + stats.by_status.get("failed", 0)
            if unfinished == 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        drained_at = time.time()
        lags, starts, ends = [], [], []
        async for record in store.list_events(EventFilter(since=since)):
            if record.outcomes:
                first = record.outcomes[0]
                started = first.finished_at.timestamp() - first.duration
                starts.append(started)
                ends.append(max(o.finished_at.timestamp() for o in record.outcomes))
                lags.append(started - record.received_at.timestamp())
    lags.sort()
    if not lags:
        return {"events": 0, "unfinished": unfinished}
    span = max(ends) - min(starts)
    return {
        "events": len(lags),
        "unfinished": unfinished,
        "events_per_s": len(lags) / span if span > 0 else float("inf"),
        "lag_p50_ms": lags[len(lags) // 2] * 1000,
        "lag_p99_ms": lags[int(len(lags) * 0.99)] * 1000,
        "last_finish": max(ends),
        "drained_at": drained_at,
    }


def load(
    ports: list[int], seconds: float, batch: int, run: str, *, rate: float | None = None
) -> dict[str, Any]:
    """wrk against every port at once (64 connections in all); the summed results.

    ``rate`` (requests/s in all) paces each connection; None posts as fast as answered.
    """
    per = 64 // len(ports)
    delay_ms = 64_000 / rate if rate else 0
    processes = [
        subprocess.Popen(
            ["wrk", f"-t{max(1, 2 // len(ports))}", f"-c{per}", f"-d{int(seconds)}s", "--latency",
             "-s", str(LUA), f"http://127.0.0.1:{port}"],
            env={**os.environ, "BENCH_BATCH": str(batch), "BENCH_RUN": f"{run}-{i}-",
                 "BENCH_PATH": "/api/callbacks", "BENCH_DELAY_MS": str(delay_ms)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i, port in enumerate(ports)
    ]
    results = []
    for process in processes:
        out, err = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"wrk failed: {err}")
        line = next(x for x in out.splitlines() if x.startswith("BENCH_JSON "))
        results.append(json.loads(line.removeprefix("BENCH_JSON ")))
    requests = sum(r["requests"] for r in results)
    seconds_run = max(r["seconds"] for r in results)
    return {
        "requests": requests,
        "rps": requests / seconds_run,
        "eps": requests / seconds_run * batch,
        # The worst of the generators: each saw a share of the same load.
        "p50_ms": max(r["p50_ms"] for r in results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "errors": sum(r["errors"] for r in results),
    }


def replica(name: str, url: str) -> Server:
    port = free_port()
    return Server(
        name,
        [str(BIN / "callbacks"), "serve", "--port", str(port), "--auth", "none",
         "--handlers", "bench.noop:router", "--log-level", "warning", "--store", url,
         "--replica-name", name,
         # One process per replica, as when these figures were taken (docs/deploy.md).
         "--dispatch", "inline"],
        {"PYTHONPATH": str(ROOT)}, port,
    )


def wait_ready(servers: list[Server]) -> None:
    for server in servers:
        deadline = time.monotonic() + 60
        while httpx2.get(f"http://127.0.0.1:{server.port}/readyz").status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} not ready")
            time.sleep(0.1)


def scenario(
    label: str, url: str, count: int, duration: float, backlog: int, steady: float | None
) -> dict[str, Any]:
    """Backlog drain, then ingest under load, with ``count`` replicas on the log at ``url``.

    ``steady`` is the paced load's rate in requests/s; None: half the backlog's dispatch rate.
    """
    results: dict[str, Any] = {}
    servers = [replica(f"bench-{i}", url) for i in range(count)]
    try:
        asyncio.run(prefill(url, backlog))
        for server in servers:
            server.start()
        wait_ready(servers)
        results["backlog"] = asyncio.run(dispatched(url, datetime(2000, 1, 1, tzinfo=UTC)))
        print(f"{label}, backlog of {backlog}: {results['backlog']}", flush=True)
        ports = [server.port for server in servers]
        load(ports, 2, 1, "warm")
        asyncio.run(dispatched(url, datetime.now(UTC)))  # only waits for the drain
        # A steady load well below what the replicas dispatch: the lag of a system keeping up.
        rate = results["steady_rate"] = steady or results["backlog"]["events_per_s"] / 2
        began = datetime.now(UTC)
        results["steady"] = load(ports, duration, 1, "steady", rate=rate)
        results["steady_lag"] = asyncio.run(dispatched(url, began))
        print(f"{label}, steady {rate:.0f}/s: {results['steady']}\n"
              f"  dispatch: {results['steady_lag']}", flush=True)
        for batch in (1, 10):
            began = datetime.now(UTC)
            results[f"batch{batch}"] = stats = load(ports, duration, batch, f"b{batch}")
            ended = time.time()
            lag = asyncio.run(dispatched(url, began))
            lag["drain_after_load_s"] = max(0.0, lag.get("last_finish", ended) - ended)
            results[f"lag{batch}"] = lag
            print(f"{label}, batch {batch}: {stats}\n  dispatch: {lag}", flush=True)
        results["peak_rss_mib"] = [server.peak_rss_mib() for server in servers]
    finally:
        for server in servers:
            server.stop()
    return results


def run_scenario(
    name: str, args: argparse.Namespace, workdir: Path, steady: float | None
) -> dict[str, Any]:
    """Scenario ``name``: ``1`` or ``2`` PostgreSQL replicas, or ``sqlite`` (one process)."""
    if name == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
        return scenario("sqlite", url, 1, args.duration, args.backlog, steady)
    schema = f"cbbench_{uuid.uuid4().hex[:12]}"
    try:
        url = with_schema(args.postgres, schema)
        return scenario(f"{name} replica(s)", url, int(name), args.duration, args.backlog, steady)
    finally:
        asyncio.run(_drop(args.postgres, schema))


async def _drop(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()


async def _settings(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url)
    try:
        names = ("server_version", "synchronous_commit", "fsync", "max_connections")
        return {name: str(await conn.fetchval(f"SHOW {name}")) for name in names}
    finally:
        await conn.close()


def _title(name: str) -> str:
    return "SQLite, 1 process" if name == "sqlite" else f"PostgreSQL, {name}"


def report(results: dict[str, Any], settings: dict[str, str]) -> str:
    """The Markdown tables of a run."""
    rows = [
        "| log, replicas | batch | req/s | events/s | ack p50 ms | ack p99 ms | errors "
        "| lag p50 ms | lag p99 ms | drain after load s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["scenarios"].items():
        for batch in (1, 10):
            s, lag = r[f"batch{batch}"], r[f"lag{batch}"]
            rows.append(
                f"| {_title(name)} | {batch} | {s['rps']:.0f} | {s['eps']:.0f} | {s['p50_ms']:.1f} "
                f"| {s['p99_ms']:.1f} | {s['errors']} | {lag.get('lag_p50_ms', 0):.0f} "
                f"| {lag.get('lag_p99_ms', 0):.0f} | {lag['drain_after_load_s']:.1f} |"
            )
    backlog = ["", "| log, replicas | backlog events | dispatched events/s | steady load req/s "
               "| its lag p50 ms | its lag p99 ms | peak RSS MiB |",
               "|---|---|---|---|---|---|---|"]
    for name, r in results["scenarios"].items():
        rss = ", ".join(f"{m:.0f}" for m in r["peak_rss_mib"])
        steady, lag = r["steady"], r["steady_lag"]
        backlog.append(f"| {_title(name)} | {r['backlog']['events']} "
                       f"| {r['backlog'].get('events_per_s', 0):.0f} | {steady['rps']:.0f} "
                       f"| {lag.get('lag_p50_ms', 0):.1f} | {lag.get('lag_p99_ms', 0):.1f} "
                       f"| {rss} |")
    server = ", ".join(f"{k}={v}" for k, v in settings.items())
    return "\n".join([*rows, *backlog, "", f"PostgreSQL: {server}"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get(
        "CALLBACKS_TEST_POSTGRES_URL", DEFAULT_URL))
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument(
        "--scenarios", default="1,2,sqlite",
        help="PostgreSQL replica counts and/or sqlite (one process on SQLite), in order",
    )
    parser.add_argument(
        "--steady-rate", type=float,
        help="requests/s of the paced run (default: half the first scenario's dispatch rate)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    settings = asyncio.run(_settings(args.postgres))
    results: dict[str, Any] = {"settings": settings, "scenarios": {}}
    steady = args.steady_rate
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.scenarios.split(","):
            result = run_scenario(name.strip(), args, Path(tmp), steady)
            results["scenarios"][name.strip()] = result
            steady = steady or result["steady_rate"]  # the same paced load for every scenario
    print(report(results, settings))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
