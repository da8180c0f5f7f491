"""``synchronous=full`` fsyncs every group commit: the real server under strace, counting the
fdatasync/fsync calls on the log's WAL while acknowledged requests are sent one at a time (each
one its own group commit). At the default ``normal``, commits are not synced, which shows the
count measures what it says."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from tests.support.log_bodies import ga_body
from tests.support.servers import ROOT, free_port, wait_until_ready

pytestmark = pytest.mark.skipif(
    shutil.which("strace") is None, reason="strace is not installed (apt-get install strace)"
)

POSTS = 12


def synced_commits(tmp_path: Path, synchronous: str) -> int:
    """How many times the server (and its dispatching child) synced the WAL while POSTS
    events were acknowledged one after the other."""
    trace, log = tmp_path / f"{synchronous}.trace", tmp_path / f"{synchronous}.db"
    port = free_port()
    tracer = subprocess.Popen(
        ["strace", "-f", "-qq", "-y", "-e", "trace=fsync,fdatasync", "-o", str(trace),
         str(Path(sys.executable).parent / "callbacks"), "serve", "--port", str(port),
         "--auth", "none", "--handlers", "bench.noop:router",
         "--store", f"sqlite:///{log}?synchronous={synchronous}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        try:
            wait_until_ready(f"http://127.0.0.1:{port}/readyz", tracer, timeout=60)
        except RuntimeError as exc:
            pytest.skip(f"cannot trace a process here (ptrace refused?): {exc}")
        time.sleep(0.5)  # start-up's own syncs (schema, first checkpoint) are done
        before = wal_syncs(trace, log)
        for n in range(POSTS):
            answer = httpx2.post(f"http://127.0.0.1:{port}/api/callbacks",
                                 content=ga_body(f"call-{n}", 1),
                                 headers={"content-type": "application/json"})
            assert answer.status_code == 200
        synced = wal_syncs(trace, log) - before
    finally:
        server = Path(f"/proc/{tracer.pid}/task/{tracer.pid}/children").read_text().split()
        for pid in server[:1]:
            subprocess.run(["kill", "-TERM", pid], check=False)
        try:
            tracer.wait(timeout=30)
        except subprocess.TimeoutExpired:
            tracer.send_signal(signal.SIGKILL)
            tracer.wait()
    return synced


def wal_syncs(trace: Path, log: Path) -> int:
    wal = f"<{log}-wal>"
    return sum(1 for line in trace.read_text().splitlines()
               if ("fdatasync(" in line or "fsync(" in line) and wal in line)


def test_synchronous_full_syncs_the_wal_at_every_acknowledged_commit(tmp_path: Path) -> None:
    assert synced_commits(tmp_path, "full") >= POSTS


def test_synchronous_normal_does_not_sync_each_commit(tmp_path: Path) -> None:
    assert synced_commits(tmp_path, "normal") < POSTS
