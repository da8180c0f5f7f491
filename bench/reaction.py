"""Reaction benchmark: how long a caller waits between a callback and the REST request it causes.

    python bench/reaction.py [--rate 300] [--calls 100] [--duration 10] [--rounds 3]
                             [--dialect 2021|ga] [--ladder 300,500,700,...]

Open loop: callbacks (DTMF events: the 2021 ``DtmfReceived`` or GA
``ContinuousDtmfRecognitionToneReceived``) are sent at a fixed rate, spread over ``--calls``
calls, whatever the answers; each is answered by a handler that makes one play request to a
local REST stub. The latency of an event runs from the moment its callback is written to the
socket to the moment its play request reaches the stub (the generator and the stub share this
process and its clock). Two servers are compared, their runs alternated within each round:

- ``inline``: what the official samples do (``bench/inline.py``): parse the callback and call
  the REST API inside the request, no log;
- ``ours``: ``callbacks serve`` with its defaults (the SQLite log, ``--dispatch auto``) and the
  same reaction as a handler plugin.

Each run starts the server afresh, waits until it answers ready, sends for 1 s (recorded apart:
the first second after start), then 2 s of warm-up, then ``--duration`` seconds measured. After
the rounds, ``ours`` climbs the ``--ladder`` of rates to find the highest whose p99 stays under
50 ms. Everything runs on this machine: compare the ratios of one run, not absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
KEY = base64.b64encode(b"reaction-benchmark-key-32-bytes!").decode()
SECRET = "bench-secret"
_TAG = b'"operationContext":"'
IDLE_LIMIT = 2.0
"""Seconds an idle keep-alive connection is reused within (the servers keep them 5 s)."""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the REST stub: records when each play arrives -----------------------------------------------


class Stub(asyncio.Protocol):
    """A minimal HTTP/1.1 server answering every request 202, noting each tag's arrival."""

    arrivals: ClassVar[dict[str, float]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport  # uvloop's transports are not asyncio.Transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            start = head.find(b"content-length:")
            length = int(head[start + 15:head.find(b"\r\n", start + 15) if
                              head.find(b"\r\n", start + 15) > 0 else None]) if start >= 0 else 0
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4:head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length:]
            at = body.find(_TAG)
            if at >= 0:
                tag = body[at + len(_TAG):body.find(b'"', at + len(_TAG))].decode()
                self.arrivals.setdefault(tag, now)
            answer = b'{"status":"running"}'
            self.transport.write(
                b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(answer), answer)
            )


# -- the open-loop sender ------------------------------------------------------------------------


class Sender:
    """Posts callbacks over keep-alive connections, never waiting for an answer to send."""

    def __init__(self, port: int, path: str) -> None:
        self.port = port
        self.path = path
        # Keep-alive connections, each with when it was last answered.
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.sent: dict[str, float] = {}
        self.acked: dict[str, float] = {}
        self.errors = 0
        self.error_kinds: Counter[str] = Counter()
        self.tasks: set[asyncio.Task[None]] = set()

    def send(self, tag: str, body: bytes) -> None:
        task = asyncio.create_task(self._send(tag, body))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send(self, tag: str, body: bytes) -> None:
        try:
            reader, writer = await self._connection()
            self.sent[tag] = time.monotonic()
            writer.write(
                b"POST %s HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\n\r\n%s" % (self.path.encode(), len(body), body)
            )
            head = await reader.readuntil(b"\r\n\r\n")
            lower = head.lower()
            start = lower.find(b"content-length:")
            length = int(lower[start + 15:lower.find(b"\r\n", start)]) if start >= 0 else 0
            await reader.readexactly(length)
            self.acked[tag] = now = time.monotonic()
            if not head.startswith(b"HTTP/1.1 200"):
                self.errors += 1
                self.error_kinds[head.split(b"\r\n", 1)[0].decode(errors="replace")] += 1
            self.idle.append((reader, writer, now))
        except (OSError, asyncio.IncompleteReadError) as exc:
            self.errors += 1
            self.error_kinds[type(exc).__name__] += 1

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The most recently answered idle connection, or a new one. Connections idle for
        longer than IDLE_LIMIT are closed unused: uvicorn closes them after 5 s, and a request
        sent as it does so would fail through no fault of the server under test."""
        while self.idle:
            reader, writer, answered = self.idle.pop()
            if time.monotonic() - answered < IDLE_LIMIT:
                return reader, writer
            writer.close()
        return await asyncio.open_connection("127.0.0.1", self.port)

    async def close(self) -> None:
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=5)
        for _, writer, _ in self.idle:
            writer.close()
        self.idle.clear()


def dtmf_event(dialect: str, call: str, tag: str) -> bytes:
    """One DTMF callback of ``call`` whose id is ``tag``."""
    if dialect == "ga":
        return json.dumps([{
            "id": tag, "source": f"calling/callConnections/{call}", "specversion": "1.0",
            "type": "Microsoft.Communication.ContinuousDtmfRecognitionToneReceived",
            "time": "2026-12-05T10:00:00Z", "datacontenttype": "application/json",
            "data": {"callConnectionId": call, "serverCallId": "srv", "correlationId": "corr",
                     "tone": "one", "sequenceId": 1},
        }]).encode()
    return json.dumps({
        "id": tag, "topic": None, "subject": f"callLeg/{call}/dtmf",
        "eventType": "Microsoft.Communication.DtmfReceived",
        "eventTime": "2026-12-05T10:00:00.0000000Z", "metadataVersion": None, "dataVersion": None,
        "data": {"ToneInfo": {"SequenceId": 1, "Tone": "Tone1"}, "CallLegId": call},
    }).encode()


@dataclass
class Result:
    """The latencies of one run, in ms."""

    first_second: list[float] = field(default_factory=list)
    measured: list[float] = field(default_factory=list)
    acks: list[float] = field(default_factory=list)
    """From sending a measured callback to its answer."""
    lost: int = 0
    errors: int = 0


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def drive(
    port: int, rate: float, calls: int, duration: float, dialect: str, *, first: float = 1.0,
    warmup: float = 2.0,
) -> Result:
    """Send at ``rate``/s: ``first`` s, ``warmup`` s, then ``duration`` s measured."""
    sender = Sender(port, f"/api/callbacks?secret={SECRET}")
    call_ids = [str(uuid.uuid4()) for _ in range(calls)]
    phases = [("first", first), ("warmup", warmup), ("measured", duration)]
    tags: dict[str, list[str]] = {name: [] for name, _ in phases}
    interval = 1.0 / rate
    start = time.monotonic()
    n = 0
    for name, seconds in phases:
        end = start + seconds
        while True:
            due = start + n * interval
            if due >= end:
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tag = f"e{n}-{uuid.uuid4().hex[:8]}"
            sender.send(tag, dtmf_event(dialect, call_ids[n % calls], tag))
            tags[name].append(tag)
            n += 1
        start = end
    await asyncio.sleep(2.0)  # stragglers
    await sender.close()
    if sender.error_kinds:
        print(f"  errors: {dict(sender.error_kinds)}", flush=True)
    result = Result(errors=sender.errors)
    for name, into in (("first", result.first_second), ("measured", result.measured)):
        for tag in tags[name]:
            arrived, sent = Stub.arrivals.get(tag), sender.sent.get(tag)
            if arrived is None or sent is None:
                result.lost += 1
            else:
                into.append((arrived - sent) * 1000)
    for tag in tags["measured"]:
        if tag in sender.acked:
            result.acks.append((sender.acked[tag] - sender.sent[tag]) * 1000)
    return result


# -- the servers ---------------------------------------------------------------------------------


def start_server(name: str, port: int, stub_port: int, workdir: Path, dialect: str,
                 extra: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    connection = f"endpoint=http://127.0.0.1:{stub_port};accesskey={KEY}"
    version = "2021-overview" if dialect == "2021" else "2026-03-12"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if name == "inline":
        env |= {"BENCH_CONNECTION_STRING": connection, "BENCH_API_VERSION": version}
        argv = [str(BIN / "uvicorn"), "bench.inline:app", "--port", str(port), "--log-level",
                "warning", "--no-access-log", "--loop", "uvloop", "--http", "httptools"]
    else:
        argv = [str(BIN / "callbacks"), "serve", "--port", str(port), "--secret", SECRET,
                "--handlers", "bench.inline:router", "--connection-string", connection,
                "--api-version", version, "--store", f"sqlite:///{workdir / f'{port}.db'}",
                *extra]
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


async def ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {process.returncode}")
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /readyz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            answer = await reader.read()
            writer.close()
            if answer.startswith(b"HTTP/1.1 200"):
                return
        except OSError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"server on {port} not ready")


async def run(name: str, rate: float, args: argparse.Namespace, stub_port: int, workdir: Path,
              *, first: float = 1.0) -> Result:
    port = free_port()
    process = start_server(name, port, stub_port, workdir, args.dialect, args.serve_args)
    try:
        await ready(port, process)
        return await drive(port, rate, args.calls, args.duration, args.dialect, first=first)
    finally:
        process.terminate()
        process.wait(timeout=60)


def line(name: str, result: Result) -> str:
    m, f = result.measured, result.first_second
    return (f"{name:>7}: p50 {percentile(m, 50):6.2f} ms  p99 {percentile(m, 99):6.2f} ms  "
            f"max {max(m, default=float('nan')):7.2f} ms  (n={len(m)}; answered p50 "
            f"{percentile(result.acks, 50):.2f} p99 {percentile(result.acks, 99):.2f} ms; "
            f"first second p50 "
            f"{percentile(f, 50):.2f} p99 {percentile(f, 99):.2f} max "
            f"{max(f, default=float('nan')):.2f} ms; lost {result.lost}, errors {result.errors})")


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stub_port = free_port()
    stub = await loop.create_server(Stub, "127.0.0.1", stub_port)
    workdir = Path(tempfile.mkdtemp(prefix="bench-reaction-"))
    report: dict[str, Any] = {"rate": args.rate, "rounds": []}
    try:
        for number in range(1, args.rounds + 1):
            round_: dict[str, Any] = {}
            for name in ("inline", "ours"):
                result = await run(name, args.rate, args, stub_port, workdir)
                print(f"round {number} {line(name, result)}", flush=True)
                round_[name] = result
            report["rounds"].append(round_)
        ladder: list[tuple[float, Result]] = []
        for rate in args.ladder:
            result = await run("ours", rate, args, stub_port, workdir, first=0.5)
            ladder.append((rate, result))
            print(f"ladder {rate:>6.0f}/s {line('ours', result)}", flush=True)
            if percentile(result.measured, 99) >= 50 or result.lost:
                break
        report["ladder"] = ladder
    finally:
        stub.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def summary(report: dict[str, Any]) -> None:
    print(f"\nat {report['rate']:.0f}/s, per round (ours / inline):")
    p50s, p99s = [], []
    for number, round_ in enumerate(report["rounds"], 1):
        ours, inline = round_["ours"].measured, round_["inline"].measured
        d50 = percentile(ours, 50) - percentile(inline, 50)
        r99 = percentile(ours, 99) / percentile(inline, 99)
        p50s.append(d50)
        p99s.append(r99)
        print(f"  round {number}: p50 ours - inline {d50:+.2f} ms, p99 ours / inline {r99:.2f}")
    print(f"  median: p50 difference {statistics.median(p50s):+.2f} ms (target within 0.5), "
          f"p99 ratio {statistics.median(p99s):.2f} (target at most 1.5)")
    under = [rate for rate, result in report["ladder"]
             if percentile(result.measured, 99) < 50 and not result.lost]
    print(f"  highest rate with ours' p99 under 50 ms: {max(under) if under else 'none'}/s "
          f"(of {[rate for rate, _ in report['ladder']]})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=300.0, help="callbacks per second")
    parser.add_argument("--calls", type=int, default=100, help="calls they are spread over")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds")
    parser.add_argument("--dialect", choices=("2021", "ga"), default="2021",
                        help="2021 DtmfReceived or GA ContinuousDtmfRecognitionToneReceived")
    parser.add_argument("--ladder", default="300,500,700,800,900,1000,1200,1500",
                        type=lambda v: [float(x) for x in v.split(",") if x],
                        help="rates ours climbs to find the highest with p99 under 50 ms")
    parser.add_argument("--serve-args", default=[], type=shlex.split,
                        help="more options of `callbacks serve` (default: none, as users run it)")
    args = parser.parse_args()
    try:
        import uvloop

        report = uvloop.run(main_async(args))
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it
        report = asyncio.run(main_async(args))
    summary(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
