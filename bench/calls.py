"""Reading one large call from the SQLite log, and upgrading a log of schema version 2.

    python bench/calls.py [--events 100000] [--runs 3]

Logs ``--events`` ~1.5 KB GA events (``bench.postgres.element``), half of them in one call and
the rest over 32 others, with statuses done, dead, pending and failed in turn. Then:

- the upgrade: a copy of the log is put back in the shape of schema version 2 (one index of every
  event by call, ``events_by_lane``; no requests table, replica column, dead or failed index)
  and opened, which migrates it to the current version; the time of that open;
- the big call read page by page (500 rows, keyset on seq, every column), with version 2's query
  on its index against version 3's merge of its two partial indexes (``select_events``): raw SQL
  on the same rows, so the two schemas are compared in one run;
- through the store, as ``callbacks events list --call`` reads it: every event of the call, and
  its newest 20.

Each time is the best of ``--runs``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.postgres import element  # noqa: E402 - after the path set-up, for `python bench/...`
from callbacks.events import parse_events  # noqa: E402
from callbacks.store import EventFilter, open_store  # noqa: E402
from callbacks.store.sqlite.rows import EVENT_COLUMNS, PAGE, select_events  # noqa: E402

BIG = "c0ffee00-0000-4000-8000-00000000b1c0"
STATUSES = ("done", "dead", "pending", "failed")


async def fill(path: Path, count: int) -> None:
    """``count`` events, every other one in the call BIG; statuses in turn."""
    async with open_store(f"sqlite:///{path}") as store:
        for start in range(0, count, 500):
            body = []
            for n in range(start, min(start + 500, count)):
                event = element(f"calls-{n}", n)
                if n % 2 == 0:
                    event["data"]["callConnectionId"] = BIG
                body.append(event)
            await store.append(parse_events(json.dumps(body).encode()), None)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE events SET status = CASE seq % 4 WHEN 0 THEN ? WHEN 1 THEN ? WHEN 2 THEN ?"
            " ELSE ? END",
            STATUSES,
        )


def as_version_2(path: Path) -> None:
    """Put the log back as schema version 2 had it: no requests table (4), no replica column
    nor dead and failed indexes (5), and one lane index of every event instead of the finished
    events' (3)."""
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX events_dead")
        conn.execute("DROP INDEX events_failed")
        conn.execute("ALTER TABLE outcomes DROP COLUMN replica")
        conn.execute("DROP TRIGGER events_pruned_requests")
        conn.execute("DROP TABLE requests")
        conn.execute("DROP INDEX events_finished")
        conn.execute("CREATE INDEX events_by_lane ON events(lane, seq)")
        conn.execute("PRAGMA user_version = 2")


def read_call(path: Path, query: Callable[[int], tuple[str, tuple[object, ...]]]) -> int:
    """Every row of the big call, page by page: ``query(cursor)`` gives each page's SQL."""
    rows = 0
    cursor = -1
    with sqlite3.connect(path) as conn:
        while True:
            page = conn.execute(*query(cursor)).fetchall()
            rows += len(page)
            if len(page) < PAGE:
                return rows
            cursor = page[-1][0]


def version_2_page(cursor: int) -> tuple[str, tuple[object, ...]]:
    sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE lane = ? AND seq > ? ORDER BY seq LIMIT ?"
    return sql, (BIG, cursor, PAGE)


def version_3_page(cursor: int) -> tuple[str, tuple[object, ...]]:
    return select_events(["seq > ?"], [cursor], call=BIG, order="ASC", limit=PAGE)


def best(runs: int, measure: Callable[[], object]) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = measure()
        times.append(time.perf_counter() - started)
    return min(times), result


async def open_once(path: Path) -> float:
    """Seconds to open the log (and migrate it), then close it."""
    started = time.perf_counter()
    async with open_store(f"sqlite:///{path}"):
        return time.perf_counter() - started


async def through_the_store(path: Path, runs: int) -> tuple[float, int, float]:
    async with open_store(f"sqlite:///{path}") as store:
        call = EventFilter(call_id=BIG)
        whole, newest, count = [], [], 0
        for _ in range(runs):
            started = time.perf_counter()
            count = sum([1 async for _ in store.list_events(call)])
            whole.append(time.perf_counter() - started)
            started = time.perf_counter()
            _ = [r async for r in store.list_events(call, newest_first=True, limit=20)]
            newest.append(time.perf_counter() - started)
    return min(whole), count, min(newest)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.events < 2 or args.runs < 1:
        parser.error("--events must be at least 2 and --runs at least 1")
    with tempfile.TemporaryDirectory() as tmp:
        log, old = Path(tmp) / "log.db", Path(tmp) / "old.db"
        asyncio.run(fill(log, args.events))
        shutil.copy(log, old)
        as_version_2(old)
        v2_seconds, v2_rows = best(args.runs, lambda: read_call(old, version_2_page))
        upgrade = asyncio.run(open_once(old))
        v3_seconds, v3_rows = best(args.runs, lambda: read_call(old, version_3_page))
        whole, count, newest = asyncio.run(through_the_store(log, args.runs))
    print(f"log: {args.events} events, {count} in one call")
    print(f"upgrade from version 2 (first open): {upgrade:.3f} s")
    print(f"the call page by page, raw SQL: version 2 {v2_seconds:.3f} s ({v2_rows} rows), "
          f"version 3 {v3_seconds:.3f} s ({v3_rows} rows)")
    print(f"through the store: every event of the call {whole:.3f} s, newest 20 "
          f"{newest * 1000:.2f} ms")
    return 0 if v2_rows == v3_rows == count else 1


if __name__ == "__main__":
    sys.exit(main())
