"""The ``callbacks`` command: ``serve``, ``emulate``, ``events`` ...

Each subcommand lives with what it drives and registers itself through ``add_parser``; this
module only assembles them and turns configuration errors into one line and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

ENV_PREFIX = "CALLBACKS_"
_T = TypeVar("_T")


class ConfigError(Exception):
    """Bad configuration: reported as one line, exit status 2."""


def env(name: str, default: _T, convert: Callable[[str], _T] | None = None) -> _T:
    """``CALLBACKS_<NAME>`` converted like the matching option, else ``default``."""
    value = os.environ.get(ENV_PREFIX + name)
    if value is None or value == "":
        return default
    if convert is None:
        return value  # type: ignore[return-value]
    try:
        return convert(value)
    except ValueError as exc:
        raise ConfigError(f"{ENV_PREFIX}{name}: {exc}") from None


def _subcommands() -> list[Callable[[Any], None]]:
    from callbacks import demo, events_cli, flows_cli, plugins_cli, replay_cli, serve
    from callbacks.emulator import cli as emulator_cli

    return [
        serve.add_parser, events_cli.add_parser, replay_cli.add_parser, emulator_cli.add_parser,
        flows_cli.add_parsers, plugins_cli.add_parser, demo.add_parser,
    ]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, every subcommand included."""
    parser = argparse.ArgumentParser(
        prog="callbacks",
        description="Receive, log and route Call Automation callback events.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add_parser in _subcommands():
        add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``callbacks`` console script."""
    from callbacks.store.records import StoreError

    command: str | None = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        command = getattr(args, "command", None)
        func = getattr(args, "func", None)
        if func is None:
            parser.print_help(sys.stderr)
            return 2
        result: int = func(args)
        return result
    except (ConfigError, StoreError) as exc:
        # A StoreError: the log cannot be opened or read (its messages carry no secret).
        named = " ".join(filter(None, ["callbacks", getattr(exc, "command", None) or command]))
        print(f"{named}: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    except BrokenPipeError:
        # The reader went away (`callbacks events list | head`): stop quietly, and keep Python
        # from failing again when it flushes standard output at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
