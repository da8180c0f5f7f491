"""Commands that read the log (``events list/show/stats/export``, ``flows``, ``replay`` from the
log) never create or migrate one: a missing log or schema is refused, and so is a log that needs
an upgrade, in one line naming ``callbacks events upgrade``, which upgrades it."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from callbacks.cli import main
from callbacks.store import open_store
from callbacks.store.postgres.schema import SCHEMA_VERSION as POSTGRES_VERSION
from callbacks.store.sqlite.schema import SCHEMA_VERSION as SQLITE_VERSION
from tests.support.log_bodies import ga_events
from tests.support.postgres import POSTGRES_URL, admin, needs_postgres, with_options

PLUGIN = "tests.support.replay_plugin:router"
READERS = [
    ["events", "list"],
    ["events", "show", "c/1"],
    ["events", "stats"],
    ["events", "export"],
    ["flows", "--handlers", "reminder"],
    ["replay", "--dry-run", "--handlers", PLUGIN],
    ["calls", "list"],
    ["calls", "show", "c"],
]
IDS = ["list", "show", "stats", "export", "flows", "replay", "calls-list", "calls-show"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def old_sqlite_log(path: Path) -> None:
    """A log as the first release left it: schema version 1, no replays or requests table."""
    async with open_store(f"sqlite:///{path}") as store:
        await store.append(ga_events("c", 1, 2), None)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX events_dead")
        conn.execute("DROP INDEX events_failed")
        conn.execute("ALTER TABLE outcomes DROP COLUMN replica")
        conn.execute("DROP TRIGGER events_pruned_requests")
        conn.execute("DROP TABLE requests")
        conn.execute("DROP TRIGGER events_pruned_replays")
        conn.execute("DROP TABLE replays")
        conn.execute("DROP INDEX events_finished")
        conn.execute("CREATE INDEX events_by_lane ON events(lane, seq)")
        conn.execute("PRAGMA user_version = 1")
    conn.close()


def fingerprint(path: Path) -> tuple[str, ...]:
    """The bytes of the log and its WAL (the index file changes with every reader)."""
    return tuple(
        hashlib.sha256(file.read_bytes()).hexdigest() if file.exists() else "-"
        for file in (path, path.with_name(path.name + "-wal"))
    )


@pytest.fixture
def old_log(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    asyncio.run(old_sqlite_log(path))
    return path


@pytest.mark.parametrize("command", READERS, ids=IDS)
def test_an_older_sqlite_log_is_refused_untouched_naming_the_upgrade(
    old_log: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    before = fingerprint(old_log)
    code, out, err = run(capsys, *command, "--store", f"sqlite:///{old_log}")
    assert (code, out) == (2, ""), err
    [line] = err.splitlines()
    assert f"the event log at {old_log} has schema version 1, older than this program's" in line
    assert "`callbacks events upgrade` (with the same --store) upgrades it" in line
    assert fingerprint(old_log) == before
    with sqlite3.connect(old_log) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (1,)
    conn.close()


def test_events_upgrade_upgrades_an_older_log_and_then_it_reads(
    old_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"sqlite:///{old_log}"
    code, out, err = run(capsys, "events", "upgrade", "--store", store)
    assert code == 0, err
    assert out == f"{SQLITE_VERSION - 1} schema migrations applied: the event log is up to date\n"
    code, out, _ = run(capsys, "events", "upgrade", "--store", store)
    assert out == "0 schema migrations applied: the event log is up to date\n"
    code, out, _ = run(capsys, "events", "stats", "--store", store, "--json")
    assert code == 0 and '"total": 2' in out


def test_events_upgrade_does_not_create_a_log_either(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    code, _, err = run(capsys, "events", "upgrade", "--store", f"sqlite:///{empty}")
    assert code == 2 and f"no event log at {empty}" in err
    assert empty.stat().st_size == 0


def test_a_current_log_is_read_without_a_migration_transaction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Opening rewrote the schema version (a write) every time, even to read."""
    path = tmp_path / "log.db"
    asyncio.run(empty_log(path))
    before = fingerprint(path)
    code, _, err = run(capsys, "events", "stats", "--store", f"sqlite:///{path}")
    assert code == 0, err
    assert fingerprint(path) == before


async def empty_log(path: Path) -> None:
    async with open_store(f"sqlite:///{path}"):
        pass


# --- PostgreSQL ---------------------------------------------------------------------------------


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"cbtest_{uuid.uuid4().hex[:16]}"
    yield name
    asyncio.run(sql(f"DROP SCHEMA IF EXISTS {name} CASCADE"))


async def sql(statement: str, *args: object) -> object:
    async with admin() as conn:
        return await conn.fetchval(statement, *args)


def schema_exists(name: str) -> bool:
    return bool(asyncio.run(sql(
        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", name
    )))


@needs_postgres
@pytest.mark.parametrize("command", READERS, ids=IDS)
def test_a_mistyped_postgres_schema_is_refused_and_not_created(
    schema: str, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    url = with_options(POSTGRES_URL, schema=schema)
    code, out, err = run(capsys, *command, "--store", url)
    assert (code, out) == (2, ""), err
    [line] = err.splitlines()
    assert line.endswith(f"no event log at {url}: the database has no schema {schema}")
    assert not schema_exists(schema)


@needs_postgres
def test_a_schema_without_the_log_is_refused_and_left_empty(
    schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(sql(f"CREATE SCHEMA {schema}"))
    url = with_options(POSTGRES_URL, schema=schema)
    code, _, err = run(capsys, "events", "stats", "--store", url)
    assert code == 2 and "its schema holds no callbacks tables" in err
    tables = asyncio.run(sql("SELECT count(*) FROM pg_tables WHERE schemaname = $1", schema))
    assert tables == 0


async def old_postgres_log(url: str, schema: str) -> None:
    """A log as the first release left it: migration 1 only."""
    async with open_store(url) as store:
        await store.append(ga_events("c", 1, 2), None)
    async with admin() as conn:
        await conn.execute(f"DROP INDEX {schema}.callbacks_events_dead")
        await conn.execute(f"DROP INDEX {schema}.callbacks_events_failed")
        await conn.execute(f"ALTER TABLE {schema}.callbacks_outcomes DROP COLUMN replica")
        await conn.execute(f"DROP TABLE {schema}.callbacks_requests")
        await conn.execute(f"DROP TABLE {schema}.callbacks_replays")
        await conn.execute(f"DELETE FROM {schema}.callbacks_schema_migrations WHERE version >= 2")


@needs_postgres
@pytest.mark.parametrize("command", READERS, ids=IDS)
def test_an_older_postgres_log_is_refused_until_upgraded(
    schema: str, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    url = with_options(POSTGRES_URL, schema=schema)
    asyncio.run(old_postgres_log(url, schema))
    code, out, err = run(capsys, *command, "--store", url)
    assert (code, out) == (2, ""), err
    assert "has schema version 1, older than this program's" in err
    assert "`callbacks events upgrade` (with the same --store) upgrades it" in err
    assert asyncio.run(sql(f"SELECT max(version) FROM {schema}.callbacks_schema_migrations")) == 1
    code, out, err = run(capsys, "events", "upgrade", "--store", url)
    assert code == 0, err
    assert out.startswith(f"{POSTGRES_VERSION - 1} schema migrations applied")
    code, _, err = run(capsys, *command, "--store", url)
    assert code in (0, 1), err  # show and replay may find nothing to do; nothing is refused
    assert "schema version" not in err
