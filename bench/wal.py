"""WAL benchmark: the SQLite log's WAL size and COMMIT cost under sustained writes.

    python bench/wal.py [--commits 3000] [--group 28] [--no-restart]

Commits ``--commits`` groups of ``--group`` ~1.5 KB events over 64 calls to a fresh SQLite log
(the store's own schema and INSERT, ``synchronous=normal``), one every ~2 ms, while the store's
:class:`~callbacks.store.sqlite.checkpoint.Checkpointer` runs as ``callbacks serve`` runs it.
Every 500 commits it prints the COMMIT's CPU time per event (the writing thread's own) and the
WAL file's size. ``--no-restart`` turns the WAL restart off (a passive checkpoint alone, as
before f059a96): then the WAL grows for as long as the writes last, and COMMITs cost more.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from callbacks.store.sqlite.checkpoint import RESTART_FRAMES, Checkpointer  # noqa: E402
from callbacks.store.sqlite.rows import LANE_HAS_WORK  # noqa: E402
from callbacks.store.sqlite.schema import Synchronous, open_connections  # noqa: E402
from callbacks.store.sqlite.store import _INSERT_EVENT  # noqa: E402 - after the path set-up
from callbacks.store.sqlite.writer import wait_unlocked  # noqa: E402

RAW = b"x" * 1500
REPORT_EVERY = 500


def _megabytes(path: Path) -> float:
    return path.stat().st_size / 1e6


async def run(commits: int, group: int, restart: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/log.db"
        wal = Path(f"{path}-wal")
        writer, reader = open_connections(path, Synchronous.NORMAL, 5.0)
        done = 0
        checkpointer = Checkpointer(
            path, restart_frames=RESTART_FRAMES if restart else 2**62
        )
        checkpointer.start()
        cpu: list[float] = []
        n = 0
        try:
            for _ in range(commits):
                rows = []
                for _ in range(group):
                    n += 1
                    lane = f"c0ffee00-0000-4000-8000-{n % 64:012d}"
                    rows.append((f"bench-{n}", "PlayCompleted",
                                 "Microsoft.Communication.PlayCompleted", "ga", lane, "bench",
                                 None, None, "2026-12-03T00:00:00.000000+00:00", None, RAW))
                await wait_unlocked(lambda: writer.execute("BEGIN IMMEDIATE"), 5.0)
                writer.executemany(_INSERT_EVENT, rows)
                writer.executemany(LANE_HAS_WORK, [(row[4], time.time()) for row in rows])
                started = time.thread_time()
                writer.execute("COMMIT")
                cpu.append(time.thread_time() - started)
                done += 1
                if done % REPORT_EVERY == 0:
                    print(f"{done:>6} commits: COMMIT {statistics.mean(cpu) * 1e6 / group:5.1f}"
                          f" us CPU/event, WAL {_megabytes(wal):6.0f} MB,"
                          f" restarts {checkpointer.restarts}", flush=True)
                    cpu.clear()
                await asyncio.sleep(0.002)  # the lock is free between groups, as in a server
        finally:
            await checkpointer.close()
            reader.close()
            writer.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=3000)
    parser.add_argument("--group", type=int, default=28, help="events per commit")
    parser.add_argument("--no-restart", action="store_true",
                        help="passive checkpoints only (the WAL is never restarted)")
    args = parser.parse_args()
    uvloop.run(run(args.commits, args.group, not args.no_restart))
    return 0


if __name__ == "__main__":
    sys.exit(main())
