"""A replay run as a whole: the progress line, Ctrl-C, and a PostgreSQL log through the CLI."""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from callbacks.cli import main
from callbacks.replay.output import Progress
from callbacks.store import open_store
from tests.support.log_bodies import ga_events
from tests.support.postgres import POSTGRES_URL, fresh_schema, needs_postgres, with_options
from tests.support.servers import ROOT, interruptible

PLUGIN = "tests.support.replay_plugin:router"


class Terminal(io.StringIO):
    """Standard error as a person sees it (the progress line is only drawn there)."""

    def isatty(self) -> bool:
        return True


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_the_progress_line_waits_then_redraws_at_most_ten_times_a_second() -> None:
    now = [0.0]
    err = Terminal()
    progress = Progress(err, lambda: 0.25, clock=lambda: now[0])
    for _ in range(100):  # the first half second: nothing, short replays stay quiet
        now[0] += 0.004
        progress.tick(False)
    assert err.getvalue() == ""
    for i in range(300):
        now[0] += 0.004
        progress.tick(i % 100 == 0)
    drawn = err.getvalue().split("\r")[1:]
    assert 10 <= len(drawn) <= 13  # 1.2 s at most ten a second
    # A rich bar (a quarter drawn), then the figures; the line is erased before each redraw.
    assert drawn[-1].startswith("\x1b[2K")
    assert re.fullmatch(r"━{6}╺━{17}   25%  3\d\d events  250/s  3 failed",
                        ANSI.sub("", drawn[-1].removeprefix("\x1b[2K"))), drawn[-1]
    progress.clear()
    assert err.getvalue().endswith("\r\x1b[2K")


def test_no_progress_line_when_stderr_is_not_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "many.jsonl"
    lines = [json.dumps(json.loads(e.raw)) for e in ga_events("c", *range(3000))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = main(["replay", "--file", str(path), "--handlers", PLUGIN, "--quiet"])
    captured = capsys.readouterr()
    assert code == 0
    assert "\r" not in captured.err and "events: 3000" in captured.out


def test_ctrl_c_stops_after_recording_what_was_replayed(tmp_path: Path) -> None:
    async def build() -> None:
        async with open_store(f"sqlite:///{tmp_path / 'log.db'}") as store:
            await store.append(ga_events("c", 1, 2), None)
            await store.append(ga_events("c", 3, event_type="RecognizeCompleted"), None)
            await store.append(ga_events("c", 4), None)

    asyncio.run(build())
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "callbacks"), "replay", "--json",
         "--store", f"sqlite:///{tmp_path / 'log.db'}", "--handlers", PLUGIN],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, preexec_fn=interruptible,
    )
    assert process.stdout is not None
    first, second = process.stdout.readline(), process.stdout.readline()
    time.sleep(0.3)  # c/3's handler hangs
    process.send_signal(signal.SIGINT)
    rest, err = process.communicate(timeout=20)
    assert process.returncode == 130, err
    assert [json.loads(line)["event"]["id"] for line in (first, second)] == ["c/1", "c/2"]
    summary = json.loads(rest.splitlines()[-1])["summary"]
    assert (summary["events"], summary["recorded"], summary["stopped"]) == (2, 2, "interrupted")
    assert "Traceback" not in err

    async def replayed() -> list[int]:
        async with open_store(f"sqlite:///{tmp_path / 'log.db'}") as store:
            return [len(await store.replay_outcomes(f"c/{n}")) for n in (1, 2, 3, 4)]

    assert asyncio.run(replayed()) == [1, 1, 0, 0]


@needs_postgres
def test_a_dry_run_from_a_postgres_log(capsys: pytest.CaptureFixture[str]) -> None:
    async def scenario() -> None:
        async with fresh_schema() as schema:
            url = with_options(POSTGRES_URL, schema=schema)
            async with open_store(url) as store:
                await store.append(ga_events("a", 1) + ga_events("b", 1) + ga_events("a", 2), None)
            code = await asyncio.to_thread(
                main, ["replay", "--store", url, "--handlers", PLUGIN, "--json", "--call", "a"]
            )
            assert code == 0
            async with open_store(url) as store:
                replays = await store.replay_outcomes("a/2")
            play = "/calling/callConnections/a:play?api-version=2026-03-12"
            assert len(replays) == 1 and replays[0].requests[0].path == play

    asyncio.run(scenario())
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["event"]["id"] for line in lines[:-1]] == ["a/1", "a/2"]
    assert lines[-1]["summary"]["recorded"] == 2
