"""``callbacks events``: list, show, retry, prune and stats on a real SQLite log."""

from __future__ import annotations

import asyncio
import io
import json
import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callbacks.cli import main
from callbacks.context import context_factory
from callbacks.dispatch.dispatcher import DispatchConfig, Dispatcher
from callbacks.events import Event, parse_events
from callbacks.routing import Router
from callbacks.store import EventStatus, open_store
from callbacks.terminal import printable
from tests.support.dispatch import settled
from tests.support.log_bodies import ga_element, ga_events
from tests.support.servers import ROOT

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
        (["--operation-context", "gr*"], ["call-a/1", "call-a/2"]),
        (["--operation-context", "[!g]??"], ["call-b/1", "call-c/1"]),
        (["--operation-context", "Gr*"], []),
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


def test_show_takes_the_seq_that_list_shows_an_id_or_a_unique_id_prefix(
    log_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_url = f"sqlite:///{log_path}"
    guids = ["6f1c2a9e-0b7d-4c1e-9a55-000000000001", "6f1c2a9e-0b7d-4c1e-9a55-000000000002",
             "7a00e3b4-5c6d-4e7f-8091-a2b3c4d5e6f7"]

    async def add() -> None:
        async with open_store(store_url) as store:
            body = json.dumps([ga_element("call-d", n, event_id=guid)
                               for n, guid in enumerate(guids, 1)])
            await store.append(parse_events(body.encode()), None)

    asyncio.run(add())
    _, listed, _ = run(capsys, "events", "list", "--store", store_url)
    seq_of_dead = next(line.split()[0] for line in listed.splitlines() if "call-b" in line)

    def shown(given: str) -> tuple[int, str, str]:
        code, out, err = run(capsys, "events", "show", given, "--json", "--store", store_url)
        return code, json.loads(out)["id"] if code == 0 else "", err

    assert shown(seq_of_dead)[:2] == (0, "call-b/1")
    assert shown("call-b/1")[:2] == (0, "call-b/1")  # an id, whatever its length
    assert shown("7a00e3b4")[:2] == (0, guids[2])
    assert shown("6f1c2a9e-0b7d-4c1e-9a55-000000000002")[:2] == (0, guids[1])
    code, _, err = shown("6f1c2a9e")
    assert code == 1
    assert err == ("callbacks events show: '6f1c2a9e' is the start of several event ids: "
                   "give more of it\n")
    code, _, err = shown("7a00e3b")
    assert code == 1
    assert "an id prefix needs 8 characters" in err
    code, _, err = shown("999")
    assert code == 1
    assert err == ("callbacks events show: no event with seq 999 in the log (a number is the "
                   "SEQ of `events list`)\n")
    assert shown("99999999999999999999999")[0] == 1


def test_show_counts_attempts_as_its_outcome_list_does_after_a_retry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_url = f"sqlite:///{tmp_path / 'log.db'}"
    router = Router()

    @router.on("*")
    async def fails(event: Event, ctx: object) -> None:
        raise RuntimeError("still broken")

    async def dispatch_until_dead() -> None:
        store = open_store(store_url)
        dispatcher = Dispatcher(
            store, router, context_factory(None),
            DispatchConfig(max_attempts=2, backoff=0.01, backoff_max=0.01, poll_interval=0.02),
            owner="cli-test",
        )
        await dispatcher.start()
        if await store.get_event("call-x/1") is None:
            await dispatcher.submit(ga_events("call-x", 1), None)
        await settled(store, "call-x/1", EventStatus.DEAD)
        await dispatcher.stop()

    asyncio.run(dispatch_until_dead())
    assert run(capsys, "events", "retry", "--dead", "--store", store_url)[0] == 0
    asyncio.run(dispatch_until_dead())
    code, out, _ = run(capsys, "events", "show", "call-x/1", "--store", store_url)
    assert code == 0
    runs = re.findall(r"attempt (\d+)", out)
    assert runs == ["1", "2", "3", "4"]
    assert "attempts:          4 (2 since the last `callbacks events retry`)\n" in out
    document = json.loads(run(capsys, "events", "show", "call-x/1", "--json",
                              "--store", store_url)[1])
    assert document["attempts"] == 2  # --json keeps its meaning: runs in the current round


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


def test_retry_names_the_ids_it_did_not_send_back(
    log_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_url = f"sqlite:///{log_path}"
    code, out, err = run(capsys, "events", "retry", "--store", store_url,
                         "call-b/1", "typo", "call-a/1")
    assert code == 1  # a typo or a done event must not pass for a retry
    assert out == "1 dead event sent back to pending\n"
    assert err.splitlines() == [
        "callbacks events retry: 'typo': not in the log",
        "callbacks events retry: 'call-a/1': done, not dead",
    ]
    _, out, _ = run(capsys, "events", "list", "--store", store_url, "--json", "--status",
                    "pending")
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["call-b/1", "call-c/1"]
    code, out, err = run(capsys, "events", "retry", "--store", store_url, "call-b/1")
    assert (code, out) == (1, "0 dead events sent back to pending\n")
    assert "'call-b/1': pending, not dead" in err


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


def test_prune_dry_run_counts_what_prune_would_delete_and_deletes_nothing(
    log_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_url = f"sqlite:///{log_path}"
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    code, out, _ = run(capsys, "events", "prune", "--before", tomorrow, "--dry-run",
                       "--store", store_url)
    assert code == 0
    assert out.startswith("3 finished events received before ")
    assert out.endswith(" would be deleted (dry run: nothing deleted)\n")
    code, out, _ = run(capsys, "events", "prune", "--before", "2026-01-02", "--dry-run",
                       "--store", store_url)
    assert out.startswith("0 finished events")  # call-c's old event is pending, not finished
    _, out, _ = run(capsys, "events", "stats", "--json", "--store", store_url)
    assert json.loads(out)["total"] == 4
    _, out, _ = run(capsys, "events", "prune", "--before", tomorrow, "--store", store_url)
    assert out.startswith("3 finished events")


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
        (["list", "--since", "1000000d"], "too long ago"),
        (["list", "--since", "0001-01-01T00:00:00+01:00"], "out of range"),
        (["list", "--until", "9999-12-31T23:59:59-01:00"], "out of range"),
        (["prune", "--before", "9999999999w"], "--before: '9999999999w' is too long ago"),
        (["list", "--store", "postgresql://u:hunter2@db:port/x"], "the port of a PostgreSQL"),
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


def test_another_programs_database_is_refused_and_left_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    conn.close()
    code, out, err = run(capsys, "events", "list", "--store", f"sqlite:///{other}")
    assert (code, out) == (1, "")
    assert err.strip() == (
        f"callbacks events: error: {other} is a SQLite database but not an event log "
        "(it holds other tables); name a new file or an existing log"
    )
    with sqlite3.connect(other) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("users",)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    conn.close()


def test_an_unreachable_log_is_one_line_without_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Port 1 on this host: nothing listens there, the connection is refused at once.
    url = "postgresql://u:hunter2@127.0.0.1:1/x?timeout=2"
    code, out, err = run(capsys, "events", "stats", "--store", url)
    assert (code, out) == (1, "")
    [line] = err.splitlines()
    assert line.startswith("callbacks events: error: cannot open the event log at postgresql://")
    assert "hunter2" not in err


def test_a_reader_that_goes_away_ends_the_output_quietly(log_path: Path) -> None:
    with subprocess.Popen(
        [str(Path(sys.executable).parent / "callbacks"), "events", "list",
         "--store", f"sqlite:///{log_path}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # like `| head -0`: nobody reads what it writes
        err = process.stderr.read()
        code = process.wait(timeout=60)
    assert err == b""  # no BrokenPipeError traceback
    assert code == 141  # what a shell reports for a command stopped by a closed pipe


def test_through_the_console_script(log_path: Path) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "callbacks"), "events", "stats"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"CALLBACKS_STORE": f"sqlite:///{log_path}", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "events: 4" in result.stdout
    assert EventStatus.DEAD.value in result.stdout


class Terminal(io.StringIO):
    """Standard output as a person at a terminal has it."""

    def isatty(self) -> bool:
        return True


HOSTILE = "ctx\x1b]0;pwned\x07\n      9  2026-01-01 00:00:00.000  done     Forged"


@pytest.mark.parametrize("terminal", [False, True])
def test_what_a_sender_wrote_reaches_the_terminal_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    terminal: bool,
) -> None:
    store_url = f"sqlite:///{tmp_path / 'log.db'}"
    call = "call\x1b[2J\u202e"

    async def add() -> None:
        async with open_store(store_url) as store:
            body = json.dumps([ga_element(call, 1, operation_context=HOSTILE,
                                          event_type="ContinuousDtmfRecognitionToneReceived")])
            await store.append(parse_events(body.encode()), "path\x1b]2;x\x07")

    asyncio.run(add())
    monkeypatch.setenv("COLUMNS", "100")
    outputs = []
    for command in (["list"], ["show", "1"], ["stats"]):
        out = Terminal() if terminal else io.StringIO()
        monkeypatch.setattr(sys, "stdout", out)
        assert main(["events", *command, "--store", store_url]) == 0
        outputs.append(re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue()) if terminal
                       else out.getvalue())
    listed, shown, stats = outputs
    for text in outputs:
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "ContinuousDtmfRecognitionToneReceived" in stats
    if terminal:  # rich's table: wrapped within the width, the escaped text on its row's lines
        assert max(len(line) for line in listed.splitlines()) <= 100
        assert "\\x1b" in listed or "\\x1\n" in listed  # shown escaped, maybe wrapped
        assert "\\x1b]0;pwned" in shown and "path\\x1b]2;x\\x07" in shown
    else:  # one line per event, whatever its context holds
        [row] = listed.splitlines()[1:-1]
        assert row.split()[4] == "ContinuousDtmfRecognitionToneReceived"
        assert f"  {printable(HOSTILE)}  " in row
        assert "operation_context:  ctx\\x1b]0;pwned\\x07\\n" in shown
        assert "path_context:      path\\x1b]2;x\\x07\n" in shown


def test_show_lists_the_rest_requests_of_each_run_beside_a_replays_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The requests a handler run made are listed with the event (text and JSON); a replay's
    requests stay in its own section, and the originals are still there after it."""
    from callbacks.store import ReplayMode, ReplayResult, RequestRecord, RestCall

    store_url = f"sqlite:///{tmp_path / 'log.db'}"
    sent = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    async def add() -> None:
        async with open_store(store_url) as store:
            await store.append(ga_events("call-r", 1), None)
            for index, status, code in ((0, 202, None), (1, 404, "8522")):
                await store.record_request(RequestRecord(
                    event_id="call-r/1", handler="menu.play", index=index, attempt=1,
                    operation="play_media", method="POST",
                    path=f"/calling/callConnections/call-r:play{index}", body_hash="ab" * 32,
                    status=status, duration=0.0125, sent_at=sent + timedelta(seconds=index),
                    repeatability_id="7f0c6a3e-0000-5000-8000-000000000001" if index else None,
                    error_code=code, answer=b"{}" if status == 202 else None, replica="r-1",
                ))
            await store.record_replays([ReplayResult(
                "run-9", "call-r/1", ReplayMode.DRY_RUN, sent + timedelta(days=1),
                requests=(RestCall("POST", "/calling/callConnections/call-r:replayed", None, 202,
                                   handler="menu.play"),),
            )])

    asyncio.run(add())
    code, out, _ = run(capsys, "events", "show", "call-r/1", "--store", store_url)
    assert code == 0
    requests = out.split("requests:\n", 1)[1].split("replays", 1)[0].splitlines()
    assert len(requests) == 2
    assert "menu.play #0  play_media: POST /calling/callConnections/call-r:play0 -> 202" in (
        requests[0]
    )
    assert "12.5 ms" in requests[0] and "replica r-1" in requests[0]
    assert "-> 404 8522" in requests[1]
    assert "repeatability-id 7f0c6a3e-0000-5000-8000-000000000001" in requests[1]
    assert "POST /calling/callConnections/call-r:replayed -> 202" in out.split("replays", 1)[1]
    code, out, _ = run(capsys, "events", "show", "call-r/1", "--json", "--store", store_url)
    document = json.loads(out)
    assert [(r["index"], r["status"], r["error_code"]) for r in document["requests"]] == [
        (0, 202, None), (1, 404, "8522")
    ]
    assert "answer" not in document["requests"][0]  # the answer's body stays in the log
    assert document["replays"][0]["requests"][0]["path"].endswith(":replayed")
