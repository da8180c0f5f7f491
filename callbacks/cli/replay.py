"""``callbacks replay``: replay logged or exported events, safely by default.

    callbacks replay [filters] [--file PATH] [--dry-run | --live | --to URL] [--handlers ...]

Exit status: 0 when every event was replayed and no handler failed; 1 when a handler failed,
the target rejected an event or could not be reached, the file has unreadable entries (and
``--skip-invalid`` was not given), or the log failed; 2 for a usage error (bad option or filter
value, missing log or file).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from callbacks.options import (
    API_STYLE,
    API_VERSION,
    CALLBACK_URL,
    CONFIG,
    CONNECTION_STRING,
    FILTERS,
    HANDLERS,
    STORE,
    Option,
    add_options,
    api_version,
    log_level,
    positive_seconds,
    values,
)
from callbacks.replay.plan import DRY_RUN_CALLBACK_URL, check, open_log, replay
from callbacks.replay.sources import FileSource, InvalidEntry
from callbacks.replay.targets import TargetError
from callbacks.server.logs import TextFormatter
from callbacks.store.records import LogMissing, LogOutdated, StoreError
from callbacks.terminal import printable

MODES = (
    Option("--dry-run", "handlers run, nothing is sent (the default)", flag_only=True),
    Option("--live", "handlers run and really act", flag_only=True),
    Option("--to", "post the raw events to this receiver", env=None, metavar="URL"),
)
OPTIONS = (
    STORE,
    *FILTERS,
    Option("--file", "replay this JSON, JSON Lines or export file", convert=Path, env=None),
    Option("--skip-invalid", "replay a file's readable entries even if some are not (each is "
           "reported)", flag_only=True),
    HANDLERS,
    CONFIG,
    CONNECTION_STRING,
    CALLBACK_URL,
    API_VERSION,
    API_STYLE,
    Option("--secret", "the target's ?secret= (--to only)", env="CALLBACKS_REPLAY_SECRET"),
    Option("--speed", "max: as fast as the target takes them; or 1x, 2x, 0.5x of the original "
           "pace", default="max", env=None),
    Option("--handler-timeout", "seconds per handler run", convert=positive_seconds,
           default=30.0, env=None),
    Option("--json", "one JSON object per event, then a summary object", flag_only=True),
    Option("--quiet", "print the summary only", flag_only=True),
    Option("--no-record", "do not keep this run in the log", flag_only=True),
    Option("--log-level", "debug, info, warning or error", convert=log_level, default="WARNING",
           default_text="warning"),
)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``callbacks replay``."""
    parser = subparsers.add_parser(
        "replay",
        help="replay logged or exported events (dry run by default)",
        description="Replay events from the log (selected by filters) or from a file, through "
        "the handlers with a client that sends nothing (--dry-run, the default), through the "
        "real client (--live), or to another receiver (--to URL). A dry run gives handlers the "
        f"callback URL {DRY_RUN_CALLBACK_URL} unless --callback-url is given.",
    )
    add_options(parser.add_mutually_exclusive_group(), MODES)
    add_options(parser, OPTIONS)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``callbacks replay``; the exit status."""
    given = values(args, (*MODES, *OPTIONS), os.environ)
    given["api_version"] = api_version(given)
    args = argparse.Namespace(**given)
    with _logging(args.log_level):
        return _run(args)


@contextlib.contextmanager
def _logging(level: str) -> Iterator[None]:
    """Log to stderr at ``level`` while the replay runs: one line a record, escaped.

    A failing handler is reported with the results; on stderr it is one line naming the error
    (its traceback too with ``--log-level debug``).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter(tracebacks=level == "DEBUG"))
    root = logging.getLogger()
    before = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(before)


def _run(args: argparse.Namespace) -> int:
    plan = check(args)
    store = open_log(args, plan)
    if plan.file is not None and not args.skip_invalid:
        bad = _report_invalid_entries(plan.file)
        if bad:
            print(f"callbacks replay: {bad}; nothing replayed (--skip-invalid replays the rest)",
                  file=sys.stderr)
            return 1
    try:
        summary = asyncio.run(replay(args, plan, store, sys.stdout, sys.stderr))
    except (StoreError, TargetError) as exc:
        print(printable(f"callbacks replay: {exc}"), file=sys.stderr)
        return 2 if isinstance(exc, LogMissing | LogOutdated) else 1  # a wrong --store
    if summary.stopped and summary.stopped != "interrupted":
        print(printable(f"callbacks replay: stopped: {summary.stopped}"), file=sys.stderr)
    if summary.stopped == "interrupted":
        return 130
    return 0 if summary.ok and not (summary.invalid and plan.file is None) else 1


def _report_invalid_entries(path: Path) -> str | None:
    """Report the file's unreadable entries (a first pass); what to say of them, if any.

    One is told in the final line alone; more get a line each, and the final line counts them.
    """
    first: InvalidEntry | None = None
    count = 0
    for entry in FileSource(path).entries():
        if not isinstance(entry, InvalidEntry):
            continue
        count += 1
        if count == 1:
            first = entry
            continue
        if count == 2:
            print(printable(f"{path} {first}"), file=sys.stderr)
        print(printable(f"{path} {entry}"), file=sys.stderr)
    if count == 0:
        return None
    return printable(f"{path} {first}" if count == 1 else f"{count} unreadable entries in {path}")


