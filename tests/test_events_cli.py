"""``callbacks events``: list, show, retry, prune and stats on a real SQLite log."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callbacks.cli import main
from callbacks.context import context_factory
from callbacks.dispatch import DispatchConfig, Dispatcher
from callbacks.events import Event
from callbacks.routing import Router
from callbacks.store import EventStatus, open_store
from tests.log_bodies import ga_events
from tests.servers import ROOT

OLD = datetime(2026, 1, 1, tzinfo=UTC)


async def build_log(path: Path) -> None:
    """Three calls: call-a ok (2 events), call-b dead (1), call-c pending (received long ago)."""
    router = Router()

    @router.on("*", call_id="call-b")
    async def fails(event: Event, ctx: object) -> None:
        raise RuntimeError("speaker unplugged")

    @router.on("*", call_id="call-a")
    async def works(event: Event, ctx: object) -> None:
        return None

    store = open_store(f"sqlite:///{path}")
    dispatcher = Dispatcher(
        store, router, context_factory(None),
        DispatchConfig(max_attempts=1, backoff=0.01, backoff_max=0.01, poll_interval=0.02),
        owner="cli-test",
    )
    await dispatcher.start()
    await dispatcher.submit(ga_events("call-a", 1, 2, operation_context="greeting"), "tenant")
    await dispatcher.submit(ga_events("call-b", 1), None)
    for _ in range(200):
        stats = await store.stats()
        if stats.by_status.get("done") == 2 and stats.by_status.get("dead") == 1:
            break
        await asyncio.sleep(0.02)
    await dispatcher.stop()
    async with open_store(f"sqlite:///{path}") as raw_store:
        # Logged but never dispatched: a process that stopped before handling it.
        await raw_store.append(ga_events("call-c", 1, event_type="CallConnected"), None,
                               received_at=OLD)


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "events.db"
    asyncio.run(build_log(path))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_json_has_the_documented_fields(
    log_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "events", "list", "--store", f"sqlite:///{log_path}", "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["call_id"], r["status"]) for r in rows] == [
        ("call-a", "done"), ("call-a", "done"), ("call-b", "dead"), ("call-c", "pending"),
    ]
    first = rows[0]
    assert {"id", "type", "dialect", "call_id", "operation_context", "received_at", "status",
            "outcomes"} <= set(first)
    assert first["id"] == "call-a/1"
    assert first["type"] == "PlayCompleted"
    assert first["dialect"] == "ga"
    assert first["operation_context"] == "greeting"
    assert first["outcomes"][0]["ok"] is True
    assert rows[2]["outcomes"][0]["error"] == "RuntimeError: speaker unplugged"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["--call", "call-a"], ["call-a/1", "call-a/2"]),
        (["--status", "dead"], ["call-b/1"]),
        (["--type", "CallConnected"], ["call-c/1"]),
        (["--operation-context", "greeting", "--status", "done"], ["call-a/1", "call-a/2"]),
        (["--until", "2026-06-01"], ["call-c/1"]),
        (["--since", "2026-06-01", "--call", "call-b"], ["call-b/1"]),
        (["--id", "call-a/2"], ["call-a/2"]),
        (["--limit", "1", "--newest-first"], ["call-c/1"]),
    ],
)
def test_list_filters_combine(
    log_path: Path, capsys: pytest.CaptureFixture[str], filters: list[str], expected: list[str]
) -> None:
    code, out, _ = run(
        capsys, "events", "list", "--store", f"sqlite:///{log_path}", "--json", *filters
    )
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == expected


def test_list_table_is_readable(log_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "events", "list", "--store", f"sqlite:///{log_path}")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["SEQ", "RECEIVED", "(UTC)", "STATUS"]
    assert "dead" in lines[3] and "call-b" in lines[3]
    assert lines[-1] == "(4 events)"


def test_show_prints_raw_event_and_outcomes(
    log_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "events", "show", "call-b/1", "--store", f"sqlite:///{log_path}")
    assert code == 0
    assert "status:            dead" in out
    assert "FAILED: RuntimeError: speaker unplugged" in out
    assert '"callConnectionId": "call-b"' in out
    code, out, _ = run(
        capsys, "events", "show", "call-b/1", "--json", "--store", f"sqlite:///{log_path}"
    )
    document = json.loads(out)
    assert document["raw"]["data"]["callConnectionId"] == "call-b"
    code, _, err = run(capsys, "events", "show", "nope", "--store", f"sqlite:///{log_path}")
    assert code == 1
    assert "no event 'nope'" in err


def test_retry_dead_sends_them_back_to_pending(
    log_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_url = f"sqlite:///{log_path}"
    code, out, _ = run(capsys, "events", "retry", "--dead", "--store", store_url)
    assert (code, out) == (0, "1 dead event sent back to pending\n")
    _, out, _ = run(capsys, "events", "list", "--store", store_url, "--json", "--status",
                    "pending")
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["call-b/1", "call-c/1"]
    code, _, err = run(capsys, "events", "retry", "--store", store_url)
    assert code == 2
    assert "give event ids or --dead" in err


def test_prune_deletes_only_finished_events_before_the_date(
    log_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_url = f"sqlite:///{log_path}"
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    code, out, _ = run(capsys, "events", "prune", "--before", tomorrow, "--store", store_url)
    assert code == 0
    assert out.startswith("3 finished events")
    _, out, _ = run(capsys, "events", "list", "--store", store_url, "--json")
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["call-c/1"]


def test_stats(log_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "events", "stats", "--json", "--store", f"sqlite:///{log_path}")
    assert code == 0
    stats = json.loads(out)
    assert stats["total"] == 4
    assert stats["by_status"] == {"done": 2, "dead": 1, "pending": 1}
    assert stats["by_type"] == {"PlayCompleted": 3, "CallConnected": 1}
    assert stats["calls_with_work"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "--status", "sleeping"], "unknown status 'sleeping'"),
        (["list", "--since", "yesterday-ish"], "is not a date"),
        (["prune", "--before", "soon"], "--before"),
        (["list", "--store", "mysql://u:hunter2@db/x"], "unsupported event log URL scheme"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    log_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    if "--store" not in args:
        args = [*args, "--store", f"sqlite:///{log_path}"]
    code, _, err = run(capsys, "events", *args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "hunter2" not in err


def test_a_missing_log_is_a_clear_error_not_an_empty_new_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.db"
    code, _, err = run(capsys, "events", "list", "--store", f"sqlite:///{missing}")
    assert code == 2
    assert f"no event log at {missing}" in err
    assert not missing.exists()


def test_through_the_console_script(log_path: Path) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "callbacks"), "events", "stats"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"CALLBACKS_STORE": f"sqlite:///{log_path}", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "events: 4" in result.stdout
    assert EventStatus.DEAD.value in result.stdout
