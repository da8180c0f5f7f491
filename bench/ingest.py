"""Ingest benchmark: the ceiling, our durable receiver, and a naive receiver, in one run.

    python bench/ingest.py [--duration 10] [--soak 60] [--log-level info] [--json results.json]

Needs wrk (Debian: ``apt-get install wrk``). Each server runs as its own process under
uvicorn with uvloop and httptools (ours with ``callbacks serve``'s defaults, at the default log
level, as users run it); after a 2 s warm-up, ``wrk -t1 -c64`` (one thread: the load generator
takes one core's share, not two) posts ~1.5 KB GA events (unique ids, 64 calls) over 64
connections, single events and 10-event arrays. Reported per run: requests/s, events/s, ack
latency p50/p99, peak RSS, and the CPU time per request of the server (all its processes and
threads) and of wrk itself; for ours also dispatch lag (receipt to handler start, p50/p99, read
back from the log: outcome finish - duration - received; received is stamped before the shared
commit, so this includes the wait for the commit and bounds commit-to-start from above).
``ours-log`` is the receiver and its log alone (``--concurrency 0``: no handler runs), to show
what dispatching costs, and ``ours-inline`` the same defaults with handlers in the server
process. Then ours at about half its measured maximum (wrk with a per-request delay), and a soak
that samples RSS for ``--soak`` s.

Compare ratios measured in one sitting, not absolutes: this machine is noisy (±10-20 %).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "post.lua"
BIN = Path(sys.executable).parent
NAMES = ("bare", "ours", "ours-inline", "ours-full", "ours-log", "naive", "naive-wal",
         "naive-wal-full")
"""ours: the defaults (WAL, synchronous=normal: survives kill -9; ``--dispatch auto``: on Linux
with two or more CPUs, handlers run in a child process, on the other core); ours-inline:
``--dispatch inline`` (handlers in the server process); ours-full: the defaults with an fsync per
commit (survives power loss); ours-log: ``--concurrency 0``, the receiver and its log alone (no
handler runs). naive: SQLite's defaults (rollback journal, synchronous=full),
the common receiver; naive-wal(-full): the same receiver tuned like our log, still one commit
per request."""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A server process under test, with an RSS sampler."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    process: subprocess.Popen[bytes] | None = None
    rss_samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv, cwd=ROOT, env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start with {self.process.returncode}")
            try:
                httpx2.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                break
            except httpx2.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{self.name} did not start")
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(1.0):
            rss = self._kib("VmRSS")
            if rss:
                self.rss_samples.append((time.monotonic() - started, rss))

    def peak_rss_mib(self) -> float:
        """The peak RSS of the server plus that of each child process (the dispatcher, if any):
        peaks at different moments, so an upper bound on their peak together."""
        return self._kib("VmHWM") / 1024

    def pids(self) -> list[int]:
        """The server and its child processes (the dispatcher, if any)."""
        if self.process is None:
            return []
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        return [pid, *map(int, children)]

    def _kib(self, key: str) -> int:
        """``key`` of /proc/PID/status, summed over the server and its children."""
        return sum(_status_kib(pid, key) for pid in self.pids())

    def cpu_seconds(self) -> float:
        """CPU time (user + system, all threads) used so far by the server and its children."""
        return sum(self.cpu_by_process(self.pids()))

    @staticmethod
    def cpu_by_process(pids: list[int]) -> list[float]:
        """CPU time (user + system, all threads) used so far by each of ``pids`` (0 if gone)."""
        seconds = []
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                seconds.append(0.0)
                continue
            seconds.append((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
        return seconds

    def stop(self) -> None:
        self._stop.set()
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)


def _status_kib(pid: int, key: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) if match else 0


WRK_THREADS = 1
"""``wrk -t1``: one load-generating thread, as the figures of docs/performance.md are taken."""


def wrk(
    server: Server, seconds: float, batch: int, *, delay_ms: float = 0
) -> dict[str, Any]:
    """One wrk run against ``server``: its stats, and the CPU time per request that the server
    (``cpu_us``) and wrk itself (``wrk_cpu_us``) spent, all processes and threads counted."""
    env = {**os.environ, "BENCH_BATCH": str(batch), "BENCH_DELAY_MS": str(delay_ms),
           "BENCH_PATH": "/api/callbacks", "BENCH_RUN": uuid.uuid4().hex[:8]}
    port = server.port
    server_cpu = server.cpu_seconds()
    wrk_cpu = _children_cpu()
    result = subprocess.run(
        ["wrk", f"-t{WRK_THREADS}", "-c64", f"-d{int(seconds)}s", "--latency", "-s", str(LUA),
         f"http://127.0.0.1:{port}"],
        env=env, capture_output=True, text=True, check=True,
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("BENCH_JSON "))
    stats: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    stats["rps"] = stats["requests"] / stats["seconds"]
    stats["eps"] = stats["rps"] * batch
    requests = max(stats["requests"], 1)
    stats["cpu_us"] = (server.cpu_seconds() - server_cpu) / requests * 1e6
    stats["wrk_cpu_us"] = (_children_cpu() - wrk_cpu) / requests * 1e6
    return stats


def _children_cpu() -> float:
    """CPU time of this process's waited-for children (the wrk runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def servers(workdir: Path, log_level: str) -> dict[str, Server]:
    uvicorn = [str(BIN / "uvicorn"), "--loop", "uvloop", "--http", "httptools",
               "--no-access-log", "--log-level", "warning"]
    ports = {name: free_port() for name in NAMES}

    def ours(name: str, store: str, *extra: str) -> Server:
        return Server(
            name,
            [str(BIN / "callbacks"), "serve", "--port", str(ports[name]), "--auth", "none",
             "--handlers", "bench.noop:router", "--log-level", log_level, "--store", store,
             *extra],
            {"PYTHONPATH": str(ROOT)}, ports[name],
        )

    def naive(name: str, journal: str, synchronous: str) -> Server:
        return Server(
            name, [*uvicorn, "bench.baselines:naive", "--port", str(ports[name])],
            {"NAIVE_DB": str(workdir / f"{name}.db"), "NAIVE_JOURNAL": journal,
             "NAIVE_SYNCHRONOUS": synchronous},
            ports[name],
        )

    return {
        "bare": Server("bare", [*uvicorn, "bench.baselines:bare", "--port", str(ports["bare"])],
                       {}, ports["bare"]),
        "ours": ours("ours", f"sqlite:///{workdir / 'ours.db'}"),
        "ours-inline": ours("ours-inline", f"sqlite:///{workdir / 'ours-inline.db'}",
                            "--dispatch", "inline"),
        "ours-full": ours("ours-full", f"sqlite:///{workdir / 'ours-full.db'}?synchronous=full"),
        "ours-log": ours("ours-log", f"sqlite:///{workdir / 'ours-log.db'}", "--concurrency", "0"),
        "naive": naive("naive", "delete", "full"),
        "naive-wal": naive("naive-wal", "wal", "normal"),
        "naive-wal-full": naive("naive-wal-full", "wal", "full"),
    }


async def dispatch_lag(
    db: Path, since: datetime, until: datetime | None = None
) -> dict[str, float]:
    """Receipt-to-handler-start lag of the events received in [since, until), from the log
    (an upper bound on commit-to-start: it includes the wait for the group commit)."""
    from callbacks.store import EventFilter, open_store

    lags: list[float] = []
    pending = 1
    async with open_store(f"sqlite:///{db}") as store:
        for _ in range(600):  # wait for the dispatcher to drain (it runs after the load)
            stats = await store.stats()
            pending = stats.by_status.get("pending", 0) + stats.by_status.get("failed", 0)
            if pending == 0:
                break
            await asyncio.sleep(0.5)
        async for record in store.list_events(EventFilter(since=since, until=until)):
            if record.outcomes:
                first = record.outcomes[0]
                started = first.finished_at.timestamp() - first.duration
                lags.append(started - record.received_at.timestamp())
    lags.sort()
    if not lags:
        return {"events": 0}
    return {
        "events": len(lags),
        "p50_ms": lags[len(lags) // 2] * 1000,
        "p99_ms": lags[int(len(lags) * 0.99)] * 1000,
        "undispatched": pending,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--soak", type=float, default=60)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--log-level", default="info",
                        help="of our servers (default: serve's own, info)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for name, server in servers(workdir, args.log_level).items():
            try:
                server.start()
                wrk(server, 2, 1)  # warm-up
                began = [datetime.now(UTC)]
                for batch in (1, 10):
                    results[f"{name}/batch{batch}"] = wrk(server, args.duration, batch)
                    print(f"{name:>6} batch {batch:>2}: {results[f'{name}/batch{batch}']}",
                          flush=True)
                    began.append(datetime.now(UTC))
                if name in ("ours", "ours-inline"):
                    # Single events at full load only: arrays carry 10x the events per request.
                    lag = asyncio.run(dispatch_lag(workdir / f"{name}.db", began[0], began[1]))
                    results[f"{name}/lag_full_load"] = lag
                    print(f"  lag (full load, single events): {lag}", flush=True)
                if name == "ours":
                    db = workdir / "ours.db"
                    half = results["ours/batch1"]["rps"] / 2
                    # 64 connections, each waiting delay after its answer: ~64000/delay req/s.
                    delay = 64_000 / half
                    half_began = datetime.now(UTC)
                    results["ours/half_load"] = wrk(server, args.duration, 1, delay_ms=delay)
                    results["ours/lag_half_load"] = asyncio.run(dispatch_lag(db, half_began))
                    print(f"  half load: {results['ours/half_load']}", flush=True)
                    print(f"  lag (half load): {results['ours/lag_half_load']}", flush=True)
                    if args.soak:
                        server.rss_samples.clear()
                        results["ours/soak"] = wrk(server, args.soak, 1)
                        samples = [rss for _, rss in server.rss_samples]
                        results["ours/soak_rss_mib"] = {
                            "first_10s_max": max(samples[:10]) / 1024,
                            "last_10s_max": max(samples[-10:]) / 1024,
                        }
                        print(f"  soak: {results['ours/soak_rss_mib']}", flush=True)
                results[f"{name}/peak_rss_mib"] = server.peak_rss_mib()
            finally:
                server.stop()
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def report(r: dict[str, Any]) -> str:
    rows = ["| server | batch | req/s | events/s | ack p50 ms | ack p99 ms | errors "
            "| server CPU µs/req | wrk CPU µs/req |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name in NAMES:
        for batch in (1, 10):
            s = r[f"{name}/batch{batch}"]
            rows.append(f"| {name} | {batch} | {s['rps']:.0f} | {s['eps']:.0f} | "
                        f"{s['p50_ms']:.1f} | {s['p99_ms']:.1f} | {s['errors']} | "
                        f"{s['cpu_us']:.0f} | {s['wrk_cpu_us']:.0f} |")
    def ratio(a: str, b: str, batch: int) -> str:
        return f"{r[f'{a}/batch{batch}']['rps'] / r[f'{b}/batch{batch}']['rps']:.2f}"

    lines = ["\n".join(rows), "",
             f"ours / bare: single {ratio('ours', 'bare', 1)}, arrays {ratio('ours', 'bare', 10)}",
             f"ours-inline / bare: single {ratio('ours-inline', 'bare', 1)}, "
             f"arrays {ratio('ours-inline', 'bare', 10)}",
             f"ours-inline / naive: single {ratio('ours-inline', 'naive', 1)}, "
             f"arrays {ratio('ours-inline', 'naive', 10)}",
             f"ours / naive (SQLite defaults): single {ratio('ours', 'naive', 1)}, "
             f"arrays {ratio('ours', 'naive', 10)}",
             f"ours-full / naive (both survive power loss): single {ratio('ours-full', 'naive', 1)}"
             f", arrays {ratio('ours-full', 'naive', 10)}",
             f"ours / naive-wal (same durability): single {ratio('ours', 'naive-wal', 1)}, "
             f"arrays {ratio('ours', 'naive-wal', 10)}",
             f"ours-full / naive-wal-full: single {ratio('ours-full', 'naive-wal-full', 1)}, "
             f"arrays {ratio('ours-full', 'naive-wal-full', 10)}",
             f"ours-log (no dispatch) / bare: single {ratio('ours-log', 'bare', 1)}; "
             f"/ naive: single {ratio('ours-log', 'naive', 1)}",
             f"dispatch lag at full load (single events): ours {r['ours/lag_full_load']}, "
             f"ours-inline {r['ours-inline/lag_full_load']}",
             f"half load: {r['ours/half_load']['rps']:.0f} req/s, "
             f"lag {r['ours/lag_half_load']}",
             "peak RSS MiB: " + ", ".join(f"{n} {r[f'{n}/peak_rss_mib']:.0f}" for n in NAMES)]
    if "ours/soak_rss_mib" in r:
        lines.append(f"soak RSS MiB: {r['ours/soak_rss_mib']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
