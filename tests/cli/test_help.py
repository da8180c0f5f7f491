"""Every option of every command is declared once, with help, its default and its variable."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from callbacks.cli import build_parser, main
from callbacks.config import ServeConfig
from callbacks.options import API_STYLE, Option

SENTINEL = "s3cr3t-from-the-environment"


def commands(parser: argparse.ArgumentParser, path: str = "callbacks") -> Iterator[
    tuple[str, argparse.ArgumentParser]
]:
    """Every command and sub-command's parser, depth first."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, f"{path} {name}")


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions
            if a.option_strings and not isinstance(a, argparse._HelpAction)]


def call_parser() -> argparse.ArgumentParser:
    """The parser `callbacks call reminder` builds from the flow's request model."""
    from callbacks.cli.flows import _call_parser
    from callbacks.plugins.loader import load_plugin

    plugin = load_plugin("reminder")
    assert plugin.flow is not None
    return _call_parser(plugin.name, plugin.flow)


ALL = [*commands(build_parser()), ("callbacks call reminder", call_parser())]


def test_the_walk_reaches_every_command() -> None:
    names = {name for name, _ in ALL}
    assert {"callbacks serve", "callbacks events list", "callbacks events prune",
            "callbacks replay", "callbacks emulate", "callbacks flows",
            "callbacks call reminder", "callbacks plugins", "callbacks demo",
            "callbacks ring"} <= names


@pytest.mark.parametrize(("name", "parser"), ALL, ids=[name for name, _ in ALL])
def test_every_option_has_help(name: str, parser: argparse.ArgumentParser) -> None:
    for action in [*options(parser), *[a for a in parser._actions if not a.option_strings
                                       and not isinstance(a, argparse._SubParsersAction)]]:
        assert action.help and action.help.strip(), f"{name} {action.dest}: no help"


def test_help_names_each_variable_and_the_declared_default() -> None:
    helps = {a.option_strings[0]: a.help or "" for a in options(
        dict(ALL)["callbacks serve"])}
    assert helps["--port"].endswith("(default: 8080; env: CALLBACKS_PORT)")
    assert "env: CALLBACKS_SECRET" in helps["--secret"]
    assert "default: sqlite:///callbacks.db" in helps["--store"]
    assert "one of secret, jwt, jwt+secret, none" in helps["--auth"]
    replay = {a.option_strings[0]: a.help or "" for a in options(dict(ALL)["callbacks replay"])}
    assert "env: CALLBACKS_REPLAY_SECRET" in replay["--secret"]
    emulate = {a.option_strings[0]: a.help or "" for a in options(dict(ALL)["callbacks emulate"])}
    assert "(default: 8089; env: CALLBACKS_EMULATOR_PORT)" in emulate["--port"]


def test_every_serve_option_is_a_config_field_and_back() -> None:
    flags = {a.option_strings[0] for a in options(dict(ALL)["callbacks serve"])}
    assert flags == {option.flag for option in ServeConfig.options()}


@pytest.mark.parametrize("command", [
    ["serve"], ["replay"], ["events", "list"], ["flows"], ["emulate"], ["call", "reminder"],
    ["ring"],
])
def test_help_never_shows_a_value_from_the_environment(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for variable in ("SECRET", "STORE", "CONNECTION_STRING", "CALLBACK_URL", "API_KEY",
                     "JWT_AUDIENCE", "REPLAY_SECRET", "EMULATOR_ACCESS_KEY", "HANDLERS",
                     "CONFIG", "PORT", "EMULATOR_URL", "EMULATOR_CA_FILE",
                     "EMULATOR_INCOMING_URL"):
        monkeypatch.setenv(f"CALLBACKS_{variable}", SENTINEL)
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "env: CALLBACKS_" in out
    assert SENTINEL not in out


def test_a_choice_list_is_the_same_wherever_the_option_appears() -> None:
    seen = {}
    for name, parser in ALL:
        for action in options(parser):
            if action.option_strings[0] == API_STYLE.flag:
                seen[name] = action.help
    assert set(seen) >= {"callbacks serve", "callbacks replay", "callbacks call reminder"}
    assert len(set(seen.values())) == 1, seen


def test_a_bad_value_names_where_it_came_from() -> None:
    option = Option("--port", "a port", convert=int)
    assert option.value(argparse.Namespace(port=None), {"CALLBACKS_PORT": "8"}) == 8
    assert option.value(argparse.Namespace(port="9"), {"CALLBACKS_PORT": "8"}) == 9
    assert option.value(argparse.Namespace(port=None), {"CALLBACKS_PORT": ""}) is None
    with pytest.raises(Exception, match=r"^CALLBACKS_PORT: "):
        option.value(argparse.Namespace(port=None), {"CALLBACKS_PORT": "x"})
    with pytest.raises(Exception, match=r"^--port: "):
        option.value(argparse.Namespace(port="x"), {})


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"callbacks {version('acs-callbacks')}\n"
