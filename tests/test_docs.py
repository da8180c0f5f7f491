"""Every command in README.md and docs/*.md names real commands and flags; the try-it blocks run.

Commands come from ``tests/support/doc_commands.py``. A ``callbacks`` command is walked down
the real argument parser (``callbacks call FLOW`` through the flow's own), so an unknown
subcommand or flag fails here; a ``python bench/...`` script must exist and take the flags
given (its ``--help`` lists them). The blocks that can run on one machine run as written, only
moved to free ports and a temporary log: the receiver's quick start in README.md and the three
"try it" blocks of docs/flows.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pytest

from callbacks.cli import build_parser
from callbacks.cli.flows import _call_parser
from callbacks.plugins.loader import PluginError, load_plugin
from tests.support import ROOT
from tests.support.doc_commands import DOCS, Command, commands, shell_blocks, simple_commands
from tests.support.servers import free_port

BIN = Path(sys.executable).parent
ALL = [command for path in DOCS for command in commands(path)]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def _flow_parser(name: str) -> argparse.ArgumentParser | None:
    try:
        plugin = load_plugin(name)
    except PluginError:
        return None  # a placeholder (NAME, FLOW) or the reader's own plugin
    return _call_parser(plugin.name, plugin.flow) if plugin.flow is not None else None


def _words(token: str) -> list[str]:
    """A synopsis's ``[--call`` or ``pending|done]`` as its words."""
    return [word for word in token.strip("[]").split("|") if word]


def check_callbacks(words: list[str]) -> list[str]:
    """What is wrong with ``callbacks WORDS...``: unknown commands and flags."""
    parser, path, rest = build_parser(), "callbacks", words[1:]
    while rest and (choices := _subcommands(parser)) and not rest[0].startswith("-"):
        if rest[0] not in choices:
            return [f"{path}: no command {rest[0]!r} (has {', '.join(sorted(choices))})"]
        parser, path = choices[rest[0]], f"{path} {rest[0]}"
        rest = rest[1:]
        if path == "callbacks call" and rest and not rest[0].startswith("-"):
            flow = _flow_parser(rest[0])
            parser, path, rest = flow or parser, f"{path} {rest[0]}", rest[1:]
            if flow is None:
                return []  # not a flow this checkout has: nothing to check its options by
    known = _flags(parser)
    return [f"{path}: no option {flag}" for token in rest for word in _words(token)
            if word.startswith("-") and len(word) > 1 and not word[1].isdigit()
            for flag in [word.partition("=")[0]] if flag not in known]


@cache
def script_help(script: str) -> str:
    """``python SCRIPT --help`` as the script prints it."""
    result = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, f"{script} --help: {result.stderr[-500:]}"
    return result.stdout


def check_python(words: list[str]) -> list[str]:
    """What is wrong with ``python SCRIPT ...``: a missing script, flags it does not take."""
    script = words[1]
    if not script.endswith(".py"):
        return []  # python -c, python -m, python - (a here-document)
    if not (ROOT / script).is_file():
        return [f"no script {script}"]
    flags = {word.partition("=")[0] for word in words[2:] if word.startswith("--")}
    usage = script_help(script)
    return [f"{script}: no option {flag}" for flag in sorted(flags) if flag not in usage]


@pytest.mark.parametrize("command", ALL, ids=[c.where for c in ALL])
def test_each_documented_command_names_real_commands_and_flags(command: Command) -> None:
    problems = []
    for words in simple_commands(command.text):
        if words[0] == "callbacks":
            problems += check_callbacks(words)
        elif words[0] in ("python", "python3"):
            problems += check_python(words)
        elif words[0] == "bash" and len(words) > 1:
            problems += [] if (ROOT / words[1]).is_file() else [f"no script {words[1]}"]
    assert not problems, f"{command.where}: {command.text}\n" + "\n".join(problems)


def test_the_reader_finds_the_commands_it_checks() -> None:
    """The checks above are only as good as the extraction."""
    texts = [c.text for c in ALL]
    assert any(t.startswith("callbacks events prune --before 30d") for t in texts)
    assert any(t.startswith("callbacks call notify --to +14260000001") for t in texts)
    assert any("python bench/postgres.py" in t for t in texts)
    assert check_callbacks(["callbacks", "events", "lst"])
    assert check_callbacks(["callbacks", "replay", "[--dry-run", "--lve]"]) == [
        "callbacks replay: no option --lve"
    ]
    assert check_callbacks(["callbacks", "call", "reminder", "--too", "x"]) == [
        "callbacks call reminder: no option --too"
    ]
    assert check_callbacks(["callbacks", "events", "retry", "ID...", "--dead"]) == []
    assert simple_commands("A=1 B=2 callbacks flows | head && echo x # done") == [
        ["callbacks", "flows"], ["head"], ["echo", "x"]
    ]


# -- the blocks that run on one machine ---------------------------------------------------------


def run_block(text: str, tmp_path: Path, timeout: float) -> str:
    """Run a documented block with bash in a session of its own; everything it printed.

    It runs from the checkout (its paths are relative to a clone), on free ports instead of
    8080 and 8089 and with its log in ``tmp_path``; whatever it left running is ended.
    """
    receiver, emulator = free_port(), free_port()
    script = text.replace("8080", str(receiver)).replace("8089", str(emulator))
    env = {
        "PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path),
        "CALLBACKS_PORT": str(receiver), "CALLBACKS_STORE": f"sqlite:///{tmp_path / 'log.db'}",
    }
    process = subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # the session this test started
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "Traceback" not in output and "error:" not in output, output
    return output


def test_the_receivers_quick_start_runs(tmp_path: Path) -> None:
    [block] = shell_blocks(ROOT / "README.md", "examples.hello:router &")
    output = run_block(block.text, tmp_path, timeout=60)
    assert '{"accepted":1,"duplicates":0}' in output
    assert "DtmfReceived" in output and "(1 event)" in output


FLOWS = ROOT / "docs" / "flows.md"


TRY_IT = {
    "greeting.toml": ["greeting:8:acs:resource_alice", "greeting:8:acs:resource_bob",
                      "greeting:8:acs:resource_carol", "(3 events)"],
    "reminder-flow.toml": ["+14250000001 confirmed (Dentist, Tuesday 9:00)",
                           "+14250000002 agent", "+14250000003 no-answer"],
    "notify.toml": ["some-reached", "2/4 reached; unreached: +14260000003, +14260000004"],
    "ivr-callers.toml": ["+14255550100 transferred to 8:acs:resource_agent [main:agent]",
                         "+14255550111 voicemail (ended by #) [main:support > support:message]",
                         "+14255550122 info [main:opening hours]"],
}


def test_the_try_it_blocks_of_the_flows_run_as_written(tmp_path: Path) -> None:
    """All four at once (each on its own ports and log): they mostly wait for simulated calls."""
    blocks = {name: shell_blocks(FLOWS, f"examples/scenarios/{name}") for name in TRY_IT}
    assert all(len(found) == 1 for found in blocks.values()), blocks
    for name in TRY_IT:
        (tmp_path / name).mkdir()
    with ThreadPoolExecutor(len(TRY_IT)) as pool:
        runs = {name: pool.submit(run_block, found[0].text, tmp_path / name, 120)
                for name, found in blocks.items()}
    for name, expected in TRY_IT.items():
        output = runs[name].result()
        missing = [text for text in expected if text not in output]
        assert not missing, f"{name}: {missing} not in:\n{output}"
