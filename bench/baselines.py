"""Reference receivers for the ingest benchmark (not part of the service).

- ``bare``: Starlette reads the body and answers 200 — the ceiling of the stack.
- ``naive``: the common webhook receiver: parse, insert, and COMMIT per request into SQLite.

Run one with uvicorn: ``uvicorn bench.baselines:bare`` (or ``naive``). NAIVE_DB chooses the
file; NAIVE_JOURNAL (default ``delete``) and NAIVE_SYNCHRONOUS (default ``full``) the journal and
durability, SQLite's own defaults unless told otherwise: ``wal`` with ``normal`` is a receiver
tuned like our log, committing each request on its own.
"""

from __future__ import annotations

import json
import os
import sqlite3

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def _bare(request: Request) -> Response:
    await request.body()
    return JSONResponse({"accepted": 1, "duplicates": 0})


bare = Starlette(routes=[Route("/api/callbacks", _bare, methods=["POST"])])

_db: sqlite3.Connection | None = None


def _connection() -> sqlite3.Connection:
    global _db
    if _db is None:
        _db = sqlite3.connect(os.environ.get("NAIVE_DB", "naive.db"), isolation_level=None)
        journal = os.environ.get("NAIVE_JOURNAL", "delete")  # SQLite's default: rollback journal
        _db.execute(f"PRAGMA journal_mode={journal}")
        _db.execute(f"PRAGMA synchronous={os.environ.get('NAIVE_SYNCHRONOUS', 'full')}")
        _db.execute(
            "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, identity TEXT UNIQUE,"
            " type TEXT, raw BLOB)"
        )
    return _db


async def _naive(request: Request) -> Response:
    body = await request.body()
    document = json.loads(body)
    elements = document if isinstance(document, list) else [document]
    db = _connection()
    db.execute("BEGIN")
    accepted = 0
    for element in elements:
        cursor = db.execute(
            "INSERT OR IGNORE INTO events (identity, type, raw) VALUES (?, ?, ?)",
            (element.get("id"), element.get("type") or element.get("eventType"),
             json.dumps(element).encode()),
        )
        accepted += cursor.rowcount
    db.execute("COMMIT")
    return JSONResponse({"accepted": accepted, "duplicates": len(elements) - accepted})


naive = Starlette(routes=[Route("/api/callbacks", _naive, methods=["POST"])])
