"""The ``callbacks`` command: ``serve``, ``emulate``, ``events`` ...

One module per command, each registering itself through ``add_parser``; this module only
assembles them and turns configuration errors into one line each and exit status 2. Nothing imports
this package: it is the top layer.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any


def _subcommands() -> list[Callable[[Any], None]]:
    from callbacks.cli import calls, demo, emulate, events, flows, plugins, replay, ring, serve

    return [
        serve.add_parser, events.add_parser, calls.add_parser, replay.add_parser,
        emulate.add_parser, ring.add_parser, flows.add_parsers, plugins.add_parser,
        demo.add_parser,
    ]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("acs-callbacks")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, every subcommand included."""
    parser = argparse.ArgumentParser(
        prog="callbacks",
        description="Receive, log and route Call Automation callback events.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}",
                        help="print the installed version and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add_parser in _subcommands():
        add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``callbacks`` console script."""
    from callbacks.errors import ConfigError
    from callbacks.store.records import LogMissing, LogOutdated, StoreError
    from callbacks.terminal import printable

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
        for problem in exc.problems if isinstance(exc, ConfigError) else [str(exc)]:
            print(printable(f"{named}: error: {problem}"), file=sys.stderr)
        # A log that is missing or too old is a wrong --store, as a wrong path is.
        return 2 if isinstance(exc, ConfigError | LogMissing | LogOutdated) else 1
    except BrokenPipeError:
        # The reader went away (`callbacks events list | head`): stop quietly, and keep Python
        # from failing again when it flushes standard output at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141
    except KeyboardInterrupt:
        return 130
