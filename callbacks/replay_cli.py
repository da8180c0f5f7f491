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
import logging
import sys
from pathlib import Path
from typing import TextIO

from callbacks.cli import ConfigError, env
from callbacks.events_cli import DEFAULT_STORE, add_filter_options
from callbacks.replay_setup import DRY_RUN_CALLBACK_URL, check, open_log, replay
from callbacks.replay_sources import FileSource, InvalidEntry
from callbacks.replay_targets import TargetError
from callbacks.store import StoreError


def _handlers(value: str) -> list[str]:
    return [spec.strip() for spec in value.split(",") if spec.strip()]


def _seconds(value: str) -> float:
    number = float(value)
    if not 0 < number < float("inf"):
        raise ValueError(f"must be a positive number of seconds, not {value}")
    return number


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``callbacks replay``."""
    parser = subparsers.add_parser(
        "replay",
        help="replay logged or exported events (dry run by default)",
        description="Replay events from the log (selected by filters) or from a file, through "
        "the handlers with a client that sends nothing (--dry-run, the default), through the "
        "real client (--live), or to another receiver (--to URL).",
    )
    parser.add_argument("--store", default=env("STORE", DEFAULT_STORE), help="the event log URL")
    add_filter_options(parser)
    parser.add_argument("--file", type=Path, help="replay this JSON, JSON Lines or export file")
    parser.add_argument(
        "--skip-invalid", action="store_true",
        help="replay a file's readable entries even if some are not (each is reported)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="handlers run, nothing is sent")
    mode.add_argument("--live", action="store_true", help="handlers run and really act")
    mode.add_argument("--to", metavar="URL", help="post the raw events to this receiver")
    parser.add_argument(
        "--handlers", type=_handlers, default=env("HANDLERS", list[str](), _handlers),
        help="comma-separated plugin names or module:attribute, as for serve",
    )
    parser.add_argument(
        "--config", default=env("CONFIG", None),
        help="TOML file of plugin settings, as for serve",
    )
    parser.add_argument(
        "--connection-string", default=env("CONNECTION_STRING", None),
        help="endpoint=...;accesskey=... (--live only)",
    )
    parser.add_argument(
        "--callback-url", default=env("CALLBACK_URL", None),
        help="the receiver's .../api/callbacks?secret=... for calls handlers place (a dry run "
        f"uses {DRY_RUN_CALLBACK_URL} unless given)",
    )
    parser.add_argument("--api-style", default=env("API_STYLE", "seed"), help="seed or 2021")
    parser.add_argument(
        "--secret", default=env("REPLAY_SECRET", None),
        help="the target's ?secret= (--to only; or CALLBACKS_REPLAY_SECRET)",
    )
    parser.add_argument(
        "--speed", default="max",
        help="max (default: as fast as the target takes them) or 1x, 2x, 0.5x of the original "
        "pace",
    )
    parser.add_argument(
        "--handler-timeout", type=_seconds, default=30.0, help="seconds per handler run"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per event, "
                        "then a summary object")
    parser.add_argument("--quiet", action="store_true", help="print the summary only")
    parser.add_argument(
        "--no-record", action="store_true", help="do not keep this run in the log"
    )
    parser.add_argument("--log-level", default=env("LOG_LEVEL", "warning"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``callbacks replay``; the exit status."""
    level = str(args.log_level).upper()
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(f"--log-level must be debug, info, warning or error, not {level!r}")
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    plan = check(args)
    store = open_log(args, plan)
    if plan.file is not None and not args.skip_invalid:
        bad = _invalid_entries(plan.file, sys.stderr)
        if bad:
            print(
                f"callbacks replay: {bad} unreadable entr{'ies' if bad > 1 else 'y'} in "
                f"{plan.file}; nothing replayed (--skip-invalid replays the rest)",
                file=sys.stderr,
            )
            return 1
    try:
        summary = asyncio.run(replay(args, plan, store, sys.stdout, sys.stderr))
    except (StoreError, TargetError) as exc:
        print(f"callbacks replay: {exc}", file=sys.stderr)
        return 1
    if summary.stopped and summary.stopped != "interrupted":
        print(f"callbacks replay: stopped: {summary.stopped}", file=sys.stderr)
    if summary.stopped == "interrupted":
        return 130
    return 0 if summary.ok and not (summary.invalid and plan.file is None) else 1


def _invalid_entries(path: Path, err: TextIO) -> int:
    """Report every unreadable entry of the file (a first pass); how many."""
    count = 0
    for entry in FileSource(path).entries():
        if isinstance(entry, InvalidEntry):
            count += 1
            err.write(f"{path} {entry}\n")
    return count


