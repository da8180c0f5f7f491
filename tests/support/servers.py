"""Run real processes and servers for end-to-end tests: free ports, readiness, clean stops."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from tests.support import ROOT


def _ephemeral_start() -> int:
    """The first port of the range outgoing connections take their local ports from."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port nothing is bound to right now, below the ephemeral range.

    A port the kernel hands out for ``bind(0)`` comes from the range outgoing connections use
    too, so a server started on it a moment later could find it taken by some process's
    connection (a callback, a ring) and fail with "already in use".
    """
    high = _ephemeral_start() - 1
    for _ in range(64):
        port = random.randint(max(1024, high - 16_000), high)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # the low range is crowded: any free port
        sock.bind(("127.0.0.1", 0))
        found: int = sock.getsockname()[1]
        return found


def wait_until_ready(
    url: str, process: subprocess.Popen[bytes] | None, timeout: float = 20
) -> None:
    """Poll ``url`` until it answers 200; fail early if ``process`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise RuntimeError(f"server exited with {process.returncode}:\n{output}")
        try:
            if httpx2.get(url, timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def interruptible() -> None:
    """For ``preexec_fn``: Ctrl-C (SIGINT) acts as on a terminal in the started process, also
    when the tests run as a shell's background job, which starts with SIGINT ignored and passes
    that on to every process it starts."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start the real ``callbacks`` console script with ``args``; output goes to one pipe."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "callbacks"), *args],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=interruptible,
    )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30) -> str:
    """Signal ``process``, wait for it, and return everything it printed."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output.decode(errors="replace")


def read_records(path: Path) -> list[dict[str, object]]:
    """The JSON lines tests.support.recording_plugin wrote to ``path`` (none yet: empty)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
