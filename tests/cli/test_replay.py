"""``callbacks replay --file`` and ``callbacks events export``: JSON arrays, JSON Lines and
exports, filters on files, and files with unreadable lines (reported, replayed only if asked)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from callbacks.cli import main
from callbacks.store import open_store
from tests.support.log_bodies import ga_body, ga_element, ga_events

PLUGIN = "tests.support.replay_plugin:router"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[Any], str]:
    code = main(["replay", *args])
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    return code, lines, captured.err


def ids(lines: list[Any]) -> list[str]:
    return [line["event"]["id"] for line in lines if "event" in line]


@pytest.fixture(autouse=True)
def no_log_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replays of files run where no event log exists unless a test makes one."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CALLBACKS_STORE", raising=False)


def test_a_json_array_file_is_replayed_in_order_without_a_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "body.json"
    path.write_bytes(ga_body("a", 1, 2, 3))
    code, lines, err = run(capsys, "--file", str(path), "--handlers", PLUGIN, "--json")
    assert code == 0, err
    assert ids(lines) == ["a/1", "a/2", "a/3"]
    assert [line["event"]["origin"] for line in lines[:-1]] == ["line 1"] * 3
    play = "/calling/callConnections/a:play?api-version=2026-03-12"
    assert [line["requests"][0]["path"] for line in lines[:-1]] == [play] * 3
    assert lines[-1]["summary"]["recorded"] == 0
    assert not (tmp_path / "callbacks.db").exists()  # no log was created to record in


def test_json_lines_with_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "events.jsonl"
    elements = [ga_element("a", 1), ga_element("b", 1, operation_context="menu"),
                ga_element("a", 2, event_type="PlayFailed"), ga_element("b", 2)]
    path.write_text("\n".join(json.dumps(e) for e in elements) + "\n", encoding="utf-8")
    code, lines, _ = run(capsys, "--file", str(path), "--handlers", PLUGIN, "--json",
                         "--call", "b", "--type", "PlayCompleted")
    assert code == 0
    assert ids(lines) == ["b/1", "b/2"]
    code, lines, _ = run(capsys, "--file", str(path), "--handlers", PLUGIN, "--json",
                         "--operation-context", "menu")
    assert ids(lines) == ["b/1"]


def test_unreadable_lines_are_all_reported_and_nothing_is_replayed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(
        "\n".join([
            json.dumps(ga_element("a", 1)),
            '{"id": "a/2", "type": ',  # cut short
            json.dumps(ga_element("a", 3)),
            json.dumps({"type": "Microsoft.Communication.PlayCompleted"}),  # not an event
            json.dumps({**ga_element("a", 5), "data": "nope"}),  # an event with bad data
            json.dumps(ga_element("a", 6)),
        ]) + "\n",
        encoding="utf-8",
    )
    code, lines, err = run(capsys, "--file", str(path), "--handlers", PLUGIN, "--json")
    assert code == 1
    assert lines == []
    reported = err.strip().splitlines()
    assert [line.split(":")[0] for line in reported[:3]] == [
        f"{path} line 2", f"{path} line 4", f"{path} line 5"
    ]
    assert "not valid JSON" in reported[0]
    assert reported[-1] == (
        f"callbacks replay: 3 unreadable entries in {path}; nothing replayed "
        "(--skip-invalid replays the rest)"
    )

    code, lines, err = run(capsys, "--file", str(path), "--handlers", PLUGIN, "--json",
                           "--skip-invalid")
    assert code == 0, err
    assert ids(lines) == ["a/1", "a/3", "a/6"]
    assert lines[-1]["summary"]["invalid"] == 3
    assert [line.split(":")[0] for line in err.strip().splitlines()] == [
        "skipped line 2", "skipped line 4", "skipped line 5"
    ]


async def build_log(path: Path) -> None:
    async with open_store(f"sqlite:///{path}") as store:
        await store.append(ga_events("a", 1, 2), "tenant", received_at=T0)
        await store.append(ga_events("b", 1), None, received_at=T0 + timedelta(seconds=3))


def test_export_then_replay_the_file_into_the_log_it_came_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "callbacks.db"  # the default --store, in the working directory
    asyncio.run(build_log(log))
    assert main(["events", "export", "--call", "a", "--output", "a.jsonl"]) == 0
    assert capsys.readouterr().err == "2 events exported\n"
    assert main(["events", "export"]) == 0
    exported = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["meta"]["id"] for line in exported] == ["a/1", "a/2", "b/1"]
    assert json.loads(exported[0])["meta"]["path_context"] == "tenant"

    code, lines, err = run(capsys, "--file", "a.jsonl", "--handlers", PLUGIN, "--json")
    assert code == 0, err
    assert ids(lines) == ["a/1", "a/2"]
    assert lines[-1]["summary"]["recorded"] == 2  # the log exists: the run is kept in it
    assert main(["events", "show", "a/2", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [r["mode"] for r in shown["replays"]] == ["dry-run"]


def test_export_to_an_unwritable_path_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(build_log(tmp_path / "callbacks.db"))
    code = main(["events", "export", "--output", str(tmp_path / "missing" / "x.jsonl")])
    assert code == 2
    assert "--output: cannot write" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[" * 100_000, "line 1: nested too deeply to be an event"),
        ('{"a":' * 100_000, "line 1: nested too deeply to be an event"),
        ('{"id": ', "line 1: not valid JSON"),
    ],
)
def test_a_file_with_one_unreadable_entry_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    code, _, err = run(capsys, "--file", str(path), "--handlers", PLUGIN)
    assert code == 1
    [line] = err.splitlines()
    assert line.startswith(f"callbacks replay: {path} {message}")
    assert line.endswith("; nothing replayed (--skip-invalid replays the rest)")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("/dev/zero", "--file: /dev/zero is not a regular file (a device or a pipe)"),
        ("missing.jsonl", "--file: no such file: missing.jsonl"),
        (".", "--file: a directory, not a file: ."),
    ],
)
def test_a_file_that_is_not_a_regular_file_is_named_as_such(
    capsys: pytest.CaptureFixture[str], given: str, message: str
) -> None:
    code, _, err = run(capsys, "--file", given, "--handlers", PLUGIN)
    assert code == 2
    [line] = err.splitlines()
    assert line.startswith(f"callbacks replay: error: {message}")


def participants_updated(call_id: str, n: int, *raw_ids: str) -> dict[str, Any]:
    """A GA ParticipantsUpdated of ``call_id`` listing ``raw_ids`` (phone numbers)."""
    element = ga_element(call_id, n, event_type="ParticipantsUpdated", operation_context=None)
    element["data"]["participants"] = [  # type: ignore[index]
        {"identifier": {"kind": "phoneNumber", "rawId": raw_id,
                        "phoneNumber": {"value": raw_id.removeprefix("4:")}}}
        for raw_id in raw_ids
    ]
    return element


def test_a_recorded_call_replays_as_it_happened_with_its_history_from_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The built-in greeting compares each participant list with the call's previous one."""
    monkeypatch.setenv("CALLBACKS_GREETING_AUDIO_URL", "https://example.com/hello.wav")
    path = tmp_path / "events.jsonl"
    elements = [
        ga_element("a", 1, event_type="CallConnected"),
        participants_updated("a", 2, "4:+14250000001"),
        participants_updated("b", 1, "4:+14250000009"),
        participants_updated("a", 3, "4:+14250000001", "4:+14250000002"),
    ]
    path.write_text("".join(json.dumps(e) + "\n" for e in elements), encoding="utf-8")
    code, lines, err = run(capsys, "--file", str(path), "--dry-run", "--handlers", "greeting",
                           "--json")
    assert code == 0, err
    greeted = {line["event"]["id"]: [r["body"]["operationContext"] for r in line["requests"]]
               for line in lines if "event" in line}
    assert greeted == {
        "a/1": [], "a/2": ["greeting:4:+14250000001"], "b/1": ["greeting:4:+14250000009"],
        "a/3": ["greeting:4:+14250000002"],  # only who joined since a/2
    }
    assert lines[-1]["summary"]["failures"] == 0

    # Filtered out, an event is still part of its call's history.
    code, lines, _ = run(capsys, "--file", str(path), "--handlers", PLUGIN, "--json",
                         "--type", "ParticipantsUpdated", "--call", "a")
    assert code == 0
    assert [line["requests"][0]["body"]["operationContext"] for line in lines[:-1]] == [
        "after-connected", "after-connected",
    ]


def test_the_file_is_the_history_even_where_a_log_holds_other_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "callbacks.db"

    async def a_log_with_a_connected_call_b() -> None:
        async with open_store(f"sqlite:///{log}") as store:
            await store.append(ga_events("b", 7, event_type="CallConnected"), None)

    asyncio.run(a_log_with_a_connected_call_b())
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(participants_updated("b", 1, "4:+1")) + "\n", encoding="utf-8")
    code, lines, _ = run(capsys, "--file", str(path), "--handlers", PLUGIN, "--json",
                         "--store", f"sqlite:///{log}")
    assert code == 0
    assert lines[0]["requests"][0]["body"]["operationContext"] == "no-connected"


def test_a_failing_handler_is_one_line_on_stderr_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(ga_element("a", n, event_type="PlayFailed")) + "\n"
                            for n in (1, 2)), encoding="utf-8")
    code, _, err = run(capsys, "--file", str(path), "--handlers", PLUGIN, "--quiet")
    assert code == 1
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert all(line.endswith("RuntimeError: speaker unplugged") for line in lines), err
