"""``callbacks calls list|show`` and ``events list --follow`` on a real SQLite log: the table,
JSON, filters, pages, the timeline, escaping, following as events arrive, and Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import pytest

from callbacks.cli import main
from callbacks.events import parse_events
from callbacks.store import EventStatus, open_store
from tests.support.log_bodies import ga_element, ga_events
from tests.support.servers import start_cli, stop
from tests.support.store_contract import failed, ok
from tests.support.store_contract_requests import request

HOSTILE = "ctx\x1b]0;pwned\x07\n<b>"


async def build(path: Path) -> None:
    """call-ok: connected then ended; call-bad: a dead event with a failed run and a request."""
    async with open_store(f"sqlite:///{path}") as store:
        await store.append(ga_events("call-ok", 1, event_type="CallConnected"), None)
        await store.append(ga_events("call-bad", 1, operation_context="menu:1"), None)
        await store.append(ga_events("call-ok", 2, event_type="CallDisconnected"), None)
        await store.claim_calls("replica-1", 10, 30)
        for call, status, outcome in (("call-ok", EventStatus.DONE, ok("h.a")),
                                      ("call-bad", EventStatus.DEAD, failed("h.a"))):
            for item in await store.next_events(call, 10):
                await store.finish("replica-1", item.seq, status, [outcome])
            await store.release("replica-1", call)
        await store.record_request(request("call-bad/1", 0, status=404, answer=None,
                                           path="/calling/callConnections/call-bad:play"))


@pytest.fixture
def log(tmp_path: Path) -> str:
    path = tmp_path / "events.db"
    asyncio.run(build(path))
    return f"sqlite:///{path}"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_prints_recent_calls_newest_first(log: str, capsys: pytest.CaptureFixture[str]
                                               ) -> None:
    code, out, _ = run(capsys, "calls", "list", "--store", log)
    assert code == 0
    header, ok_row, bad_row, total = out.splitlines()
    assert header.split()[:3] == ["CALL", "FIRST", "(UTC)"]
    assert ok_row.split()[0] == "call-ok" and " ended " in ok_row
    assert "CallDisconnected" in ok_row and ok_row.split()[-2:] == ["0", "-"]
    assert bad_row.split()[0] == "call-bad" and "1 (1 dead)" in bad_row
    assert total == "(2 calls)"
    code, out, _ = run(capsys, "calls", "list", "--json", "--status", "dead", "--store", log)
    [line] = out.splitlines()
    document = json.loads(line)
    assert (document["call_id"], document["dead"], document["failures"]) == ("call-bad", 1, 1)
    assert set(document) >= {"first_at", "last_at", "state", "last_event", "outcome"}


def test_list_pages_with_before(log: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "calls", "list", "--limit", "1", "--store", log)
    assert code == 0 and out.splitlines()[1].startswith("call-ok")
    hint = out.splitlines()[-1]
    assert hint.startswith("(1 call; older: callbacks calls list --before ")
    before = hint.rsplit(" ", 1)[1].rstrip(")")
    code, out, _ = run(capsys, "calls", "list", "--limit", "1", "--before", before, "--store", log)
    assert code == 0 and out.splitlines()[1].startswith("call-bad")
    assert out.splitlines()[-1] == "(1 call)"


def test_show_prints_the_timeline_with_offsets_outcomes_and_requests(
    log: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "calls", "show", "call-bad", "--store", log)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("call call-bad: ") and "1 failed handler runs" in lines[0]
    assert any("REST" in line and "POST /calling/callConnections/call-bad:play" in line
               and "404" in line for line in lines)
    assert any("callback" in line and "PlayCompleted" in line and "dead" in line
               for line in lines)
    assert any("handler" in line and "FAILED: RuntimeError: boom" in line for line in lines)
    assert all(line.strip().startswith("+") for line in lines[1:])
    code, out, _ = run(capsys, "calls", "show", "call-bad", "--json", "--store", log)
    head, *entries = (json.loads(line) for line in out.splitlines())
    assert head["call"]["call_id"] == "call-bad"
    assert {e["kind"] for e in entries} == {"callback", "handler", "request"}
    assert all(e["offset"] >= 0 for e in entries)
    code, _, err = run(capsys, "calls", "show", "nobody", "--store", log)
    assert code == 1 and "no call 'nobody'" in err


def test_a_missing_log_is_refused_not_created(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "typo.db"
    for command in (["calls", "list"], ["calls", "show", "x"]):
        code, _, err = run(capsys, *command, "--store", f"sqlite:///{missing}")
        assert code == 2 and "no event log" in err
    assert not missing.exists()


def test_what_a_sender_wrote_is_escaped(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    call = "call\x1b[2J"

    async def add() -> None:
        async with open_store(url) as store:
            body = json.dumps([ga_element(call, 1, operation_context=HOSTILE)]).encode()
            await store.append(parse_events(body), None)

    asyncio.run(add())
    for command in (["list"], ["show", call]):
        code, out, _ = run(capsys, "calls", *command, "--store", url)
        assert code == 0 and "\x1b" not in out and "\x07" not in out
        assert "call\\x1b[2J" in out
    assert "ctx\\x1b]0;pwned\\x07\\n<b>" in out


async def _append_later(url: str, *events: tuple[str, int]) -> None:
    await asyncio.sleep(1.0)
    async with open_store(url) as store:
        for call, n in events:
            await store.append(ga_events(call, n), None)


def _follow(url: str, *args: str, expect: str) -> tuple[int, str]:
    """Run a --follow command, add events meanwhile, wait for ``expect``; Ctrl-C it."""
    process = start_cli(*args, "--store", url)
    try:
        asyncio.run(_append_later(url, ("call-ok", 3), ("call-new", 1)))
        deadline = time.monotonic() + 10
        seen = b""
        assert process.stdout is not None
        os.set_blocking(process.stdout.fileno(), False)
        while expect.encode() not in seen and time.monotonic() < deadline:
            seen += process.stdout.read() or b""
            time.sleep(0.05)
        output = seen.decode() + stop(process, signal.SIGINT)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, output


def test_events_list_follow_prints_new_events_and_stops_on_ctrl_c(log: str) -> None:
    code, output = _follow(log, "events", "list", "--follow", "--limit", "1", expect="call-new/1")
    assert code == 130 and "Traceback" not in output
    rows = [line.split()[-1] for line in output.splitlines()[1:] if line.strip()]
    assert rows == ["call-ok/2", "call-ok/3", "call-new/1"]


def test_calls_show_follow_prints_the_calls_new_entries(log: str) -> None:
    code, output = _follow(log, "calls", "show", "call-ok", "--follow", "--json",
                           expect="call-ok/3")
    assert code == 130 and "Traceback" not in output
    entries = [json.loads(line) for line in output.splitlines()[1:]]
    assert [e["event_id"] for e in entries if e["kind"] == "callback"] == [
        "call-ok/1", "call-ok/2", "call-ok/3"
    ]
    assert "call-new" not in output
