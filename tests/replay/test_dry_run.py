"""``callbacks replay`` from the log, dry run: handlers run, every REST call is recorded, none
is sent, the log's events keep their status and outcomes, and the run is kept beside them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from callbacks.cli import main
from callbacks.context import context_factory, repeatability_id
from callbacks.events import Event
from callbacks.replay.clients import CallRecorder, DryRunClient
from callbacks.replay.sources import ReplayItem
from callbacks.replay.targets import HandlerTarget
from callbacks.store import EventStatus, ReplayMode, open_store
from tests.support.log_bodies import ga_events
from tests.support.replay_plugin import router
from tests.support.servers import ROOT
from tests.support.store_contract_queries import settle
from tests.support.thread_server import serve_in_thread

PLUGIN = "tests.support.replay_plugin:router"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LOG = [  # (call, n, type, operation context), logged one second apart
    ("a", 1, "CallConnected", None),
    ("b", 1, "PlayCompleted", "menu"),
    ("a", 2, "ParticipantsUpdated", None),
    ("b", 2, "PlayFailed", None),
    ("a", 3, "PlayCompleted", "menu"),
    ("c", 1, "ParticipantsUpdated", None),
]


async def build_log(path: Path) -> None:
    """The events of LOG; a/1 done, b/1 dead (as a serve process left them)."""
    async with open_store(f"sqlite:///{path}") as store:
        for i, (call, n, event_type, context) in enumerate(LOG):
            events = ga_events(call, n, event_type=event_type, operation_context=context)
            await store.append(events, "tenant", received_at=T0 + timedelta(seconds=i))
        await settle(store, "a", EventStatus.DONE)
        await settle(store, "b", EventStatus.DEAD)


@pytest.fixture
def log_url(tmp_path: Path) -> str:
    path = tmp_path / "events.db"
    asyncio.run(build_log(path))
    return f"sqlite:///{path}"


def replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["replay", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def json_run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[Any], Any]:
    code, out, _ = replay(capsys, *args, "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    return code, lines[:-1], lines[-1]["summary"]


async def snapshot(url: str) -> list[tuple[str, str, int, tuple[object, ...]]]:
    async with open_store(url) as store:
        return [(r.id, r.status.value, r.attempts, r.outcomes) async for r in store.list_events()]


def test_every_rest_call_is_listed_per_event_in_log_order(
    log_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, events, summary = json_run(capsys, "--store", log_url, "--handlers", PLUGIN)
    assert code == 1  # b/2's handler failed
    assert [e["event"]["id"] for e in events] == ["a/1", "b/1", "a/2", "b/2", "a/3", "c/1"]
    by_id = {e["event"]["id"]: e for e in events}

    create, hangup = by_id["a/1"]["requests"]
    assert (create["method"], create["path"], create["status"]) == (
        "POST", "/calling/callConnections?api-version=2026-03-12", 201
    )
    assert create["body"]["callbackUri"] == "https://dry-run.invalid/api/callbacks"
    assert create["body"]["targets"][0]["communicationUser"] == {"id": "8:acs:resource_callee"}
    assert hangup["path"].endswith(":terminate?api-version=2026-03-12")
    assert hangup["status"] == 204
    # the handler got the new call's id back
    assert hangup["path"].startswith("/calling/callConnections/") and "//" not in hangup["path"]

    # A GA event's call is addressed in GA: the play goes to the call's connection id.
    [play] = by_id["b/1"]["requests"]
    assert (play["method"], play["path"], play["status"]) == (
        "POST", "/calling/callConnections/b:play?api-version=2026-03-12", 202
    )
    assert play["body"] == {
        "playSources": [{"kind": "file", "file": {"uri": "https://example.com/again.wav"}}],
        "playTo": [], "interruptCallMediaOperation": False, "playOptions": {"loop": False},
        "operationContext": "again:b/1",
    }
    assert play["handler"] == "tests.support.replay_plugin.play_again"
    # A dry run shows the repeatability ids the dispatcher sends for this event.
    handler = "tests.support.replay_plugin.play_again"
    assert play["repeatability_id"] is None  # the service does not de-duplicate a play
    assert create["repeatability_id"] == repeatability_id("a/1", "tests.support.replay_plugin"
                                                           ".call_back", 0)
    assert hangup["repeatability_id"] == repeatability_id("a/1", "tests.support.replay_plugin"
                                                           ".call_back", 1)
    assert play["handler"] == handler

    # ctx.history() reads the log: a's greeting sees a/1's CallConnected, c's has none.
    assert by_id["a/2"]["requests"][0]["body"]["operationContext"] == "after-connected"
    assert by_id["c/1"]["requests"][0]["body"]["operationContext"] == "no-connected"

    [failed] = by_id["b/2"]["outcomes"]
    assert (failed["ok"], failed["error"]) == (False, "RuntimeError: speaker unplugged")
    assert by_id["b/2"]["requests"] == []
    assert {e["mode"] for e in events} == {"dry-run"}
    assert len({e["run_id"] for e in events}) == 1
    assert summary == {**summary, "events": 6, "handler_runs": 6, "failures": 1,
                       "rest_calls": 6, "recorded": 6, "invalid": 0, "ok": False}


def test_the_log_is_unchanged_and_the_run_is_shown_beside_the_outcomes(
    log_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = asyncio.run(snapshot(log_url))
    _, _, summary = json_run(capsys, "--store", log_url, "--handlers", PLUGIN)
    assert summary["recorded"] == 6
    assert asyncio.run(snapshot(log_url)) == before

    _, out, _ = replay(capsys, "--store", log_url, "--handlers", PLUGIN, "--quiet")
    assert "events: 6" in out and "REST calls: 6 (recorded, none sent)" in out

    assert main(["events", "show", "b/1", "--store", log_url, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "dead"
    assert [o["handler"] for o in shown["outcomes"]] == ["h.a"]  # the original run, untouched
    runs = [r["run_id"] for r in shown["replays"]]  # the JSON run, then the quiet one
    assert len(runs) == 2 and runs[0] == summary["run_id"] and runs[1] != runs[0]
    assert shown["replays"][0]["requests"][0]["path"] == (
        "/calling/callConnections/b:play?api-version=2026-03-12"
    )

    assert main(["events", "show", "b/2", "--store", log_url]) == 0
    text = capsys.readouterr().out
    assert "replays (never change the status or outcomes above):" in text
    assert "FAILED: RuntimeError: speaker unplugged" in text


def test_no_record_keeps_nothing(log_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, summary = json_run(
        capsys, "--store", log_url, "--handlers", PLUGIN, "--no-record", "--id", "b/1"
    )
    assert (code, summary["events"], summary["recorded"]) == (0, 1, 0)
    assert main(["events", "show", "b/1", "--store", log_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["replays"] == []


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["--call", "a"], ["a/1", "a/2", "a/3"]),
        (["--call", "a", "--type", "PlayCompleted"], ["a/3"]),
        (["--status", "dead"], ["b/1"]),
        (["--status", "pending", "--call", "b"], ["b/2"]),
        (["--operation-context", "menu"], ["b/1", "a/3"]),
        (["--since", "2026-03-01T12:00:02Z", "--until", "2026-03-01T12:00:05Z"],
         ["a/2", "b/2", "a/3"]),
        (["--type", "Microsoft.Communication.ParticipantsUpdated", "--since", "2026-03-01"],
         ["a/2", "c/1"]),
        (["--id", "a/2"], ["a/2"]),
        (["--call", "nobody"], []),
    ],
)
def test_filters_combine(
    log_url: str, capsys: pytest.CaptureFixture[str], filters: list[str], expected: list[str]
) -> None:
    _, events, summary = json_run(capsys, "--store", log_url, "--handlers", PLUGIN, *filters)
    assert [e["event"]["id"] for e in events] == expected
    assert summary["events"] == len(expected)


def test_text_output_lists_calls_under_their_handler(
    log_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = replay(capsys, "--store", log_url, "--handlers", PLUGIN, "--call", "b")
    assert code == 1
    assert out.splitlines()[:3] == [
        "seq 2 (b/1)  PlayCompleted  call b",
        out.splitlines()[1],
        '      POST /calling/callConnections/b:play?api-version=2026-03-12 -> 202  '
        '{"playSources":[{"kind":"file","file":{"uri":"https://example.com/again.wav"}}],'
        '"playTo":[],"interruptCallMediaOperation":false,"playOptions":{"loop":false},'
        '"operationContext":"again:b/1"}',
    ]
    assert out.splitlines()[1].startswith("  ok      tests.support.replay_plugin.play_again  ")
    assert "  FAILED  tests.support.replay_plugin.broken" in out
    assert "replay replay-" in out and "failures: 1" in out


def test_a_hanging_handler_times_out_and_the_replay_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def build() -> None:
        async with open_store(f"sqlite:///{tmp_path / 'log.db'}") as store:
            await store.append(ga_events("h", 1, event_type="RecognizeCompleted"), None)
            await store.append(ga_events("h", 2), None)

    asyncio.run(build())
    code, events, summary = json_run(
        capsys, "--store", f"sqlite:///{tmp_path / 'log.db'}", "--handlers", PLUGIN,
        "--handler-timeout", "0.2",
    )
    assert code == 1
    assert events[0]["outcomes"][0]["error"] == "TimeoutError: still running after 0.2 s"
    assert events[1]["outcomes"][0]["ok"] is True
    assert summary["elapsed"] < 5


async def test_the_dry_run_client_never_touches_its_transport() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        pytest.fail(f"a dry run sent {request.method} {request.url}")

    recorder = CallRecorder()
    client = DryRunClient(recorder, transport=httpx2.MockTransport(refuse))
    target = HandlerTarget(router, context_factory(client), recorder, ReplayMode.DRY_RUN)
    events: list[Event] = [
        *ga_events("a", 1, event_type="CallConnected"), *ga_events("a", 2),
        *ga_events("a", 3, event_type="PlayFailed"),
    ]
    results = [await target.replay("run", ReplayItem(e, f"#{i}")) for i, e in enumerate(events)]
    await target.aclose()
    assert [len(r.requests) for r in results] == [2, 1, 0]
    assert [r.ok for r in results] == [True, True, False]
    # ctx.history() with no log behind it is a handler failure, reported, not a crash
    greet = await HandlerTarget(router, context_factory(client), recorder, ReplayMode.DRY_RUN
                                ).replay("run", ReplayItem(
                                    ga_events("a", 4, event_type="ParticipantsUpdated")[0], "#4"))
    assert greet.outcomes[0].error is not None and "NoHistoryError" in greet.outcomes[0].error


def test_the_console_script_sends_nothing_even_given_a_service(
    log_url: str, tmp_path: Path
) -> None:
    hits: list[str] = []

    async def count(request: Request) -> Response:
        hits.append(f"{request.method} {request.url.path}")
        return Response(status_code=500)

    app = Starlette(routes=[Route("/{path:path}", count, methods=["GET", "POST", "DELETE"])])
    with serve_in_thread(app) as url:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "callbacks"), "replay", "--dry-run", "--quiet",
             "--store", log_url, "--handlers", PLUGIN],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                 "CALLBACKS_CONNECTION_STRING": f"endpoint={url};accesskey=a2V5"},
        )
    assert result.returncode == 1, result.stderr  # b/2's handler fails
    assert "events: 6" in result.stdout and "REST calls: 6 (recorded, none sent)" in result.stdout
    assert hits == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--status", "sleeping"], "unknown status 'sleeping'"),
        (["--since", "yesterday-ish"], "is not a date"),
        (["--speed", "fast"], "--speed must be max or a factor"),
        (["--speed", "0x"], "--speed must be max or a factor"),
        (["--handlers", "no.such.module:router"], "failed to import"),
        (["--handlers", ""], "no handlers enabled"),
        (["--live"], "--live needs --connection-string"),
        (["--live", "--connection-string", "endpoint=https://x;accesskey=hunter2!!"],
         "--connection-string: malformed access key"),
        (["--secret", "hunter2"], "--secret applies to --to only"),
        (["--to", "ftp://hunter2@x/api"], "--to must be an http(s) URL"),
        (["--to", "http://x/api/callbacks", "--handlers", PLUGIN], "--handlers does not apply"),
        (["--file", "/nonexistent/events.jsonl"], "--file: no such file: /nonexistent"),
        (["--file", "/"], "--file: a directory, not a file: /"),
        (["--api-style", "1999"], "--api-style must be one of seed, 2021"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    log_url: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CALLBACKS_CONNECTION_STRING", raising=False)
    full = ["--store", log_url, *(["--handlers", PLUGIN] if "--handlers" not in args else []),
            *args]
    if "--to" in args and "--handlers" not in args:
        full.remove("--handlers")
        full.remove(PLUGIN)
    code, out, err = replay(capsys, *full)
    assert code == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "hunter2" not in err and out == ""


def test_a_missing_log_is_a_usage_error_and_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.db"
    code, _, err = replay(capsys, "--store", f"sqlite:///{missing}", "--handlers", PLUGIN)
    assert code == 2 and f"no event log at {missing}" in err
    assert not missing.exists()
