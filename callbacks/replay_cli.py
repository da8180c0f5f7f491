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
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import httpx2

from callbacks.cli import ConfigError, env
from callbacks.client import DEFAULT_LIMITS, CallAutomationClient
from callbacks.context import context_factory
from callbacks.events_cli import DEFAULT_STORE, add_filter_options, existing_store, filter_from_args
from callbacks.flows_cli import checked_callback_url, load_enabled
from callbacks.history import store_history
from callbacks.hmac import parse_connection_string
from callbacks.plugins import LoadedPlugins
from callbacks.replay import Replayer, ReplaySummary, parse_speed
from callbacks.replay_client import CallRecorder, DryRunClient, RecordingTransport
from callbacks.replay_output import Progress, ReplayOutput
from callbacks.replay_sources import (
    FileSource,
    InvalidEntry,
    SourceEntry,
    log_items,
    matches,
)
from callbacks.replay_targets import (
    HandlerTarget,
    RemoteTarget,
    Target,
    TargetError,
    TargetUnreachable,
    check_target_url,
)
from callbacks.store import EventFilter, EventStore, ReplayMode, StoreError, open_store

log = logging.getLogger("callbacks.replay")

DRY_RUN_CALLBACK_URL = "https://dry-run.invalid/api/callbacks"
"""What handlers of a dry run put in the callback URI of the calls they would place."""


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


@dataclass
class _Plan:
    """The checked options: what to replay, where to, and where to record it."""

    mode: ReplayMode
    where: EventFilter
    file: Path | None
    plugins: LoadedPlugins | None
    speed: float | None
    callback_url: str | None = None


def _check(args: argparse.Namespace) -> _Plan:
    mode = (
        ReplayMode.REMOTE if args.to else ReplayMode.LIVE if args.live else ReplayMode.DRY_RUN
    )
    where = filter_from_args(args)
    try:
        speed = parse_speed(args.speed)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.file is not None and not args.file.is_file():
        raise ConfigError(f"--file: no such file: {args.file}")
    if args.api_style not in ("seed", "2021"):
        raise ConfigError(f"--api-style must be seed or 2021, not {args.api_style!r}")
    if mode is ReplayMode.REMOTE:
        check_target_url(args.to)
        if args.handlers:
            raise ConfigError("--handlers does not apply to --to: the receiver runs its own")
        return _Plan(mode, where, args.file, None, speed)
    if args.secret:
        raise ConfigError("--secret applies to --to only")
    if mode is ReplayMode.LIVE:
        if not args.connection_string:
            raise ConfigError(
                "--live needs --connection-string (or CALLBACKS_CONNECTION_STRING): the service "
                "the handlers act on"
            )
        try:
            parse_connection_string(args.connection_string)
        except ValueError as exc:
            raise ConfigError(f"--connection-string: {exc}") from None
    if not args.handlers:
        raise ConfigError("no handlers enabled: pass --handlers (as for serve) or set "
                          "CALLBACKS_HANDLERS")
    plugins = load_enabled(args.handlers, args.config, command="replay")
    url = checked_callback_url(args.callback_url, "replay") if args.callback_url else None
    if url is None and mode is ReplayMode.DRY_RUN:
        url = DRY_RUN_CALLBACK_URL
    if url is None and plugins.flows:
        raise ConfigError(f"handler plugins {', '.join(sorted(plugins.flows))} place calls: "
                          "pass --callback-url (or CALLBACKS_CALLBACK_URL)")
    return _Plan(mode, where, args.file, plugins, speed, url)


def run(args: argparse.Namespace) -> int:
    """Run ``callbacks replay``; the exit status."""
    level = str(args.log_level).upper()
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(f"--log-level must be debug, info, warning or error, not {level!r}")
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    plan = _check(args)
    store = _open_log(args, plan)
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
        summary = asyncio.run(_replay(args, plan, store, sys.stdout, sys.stderr))
    except (StoreError, TargetError) as exc:
        print(f"callbacks replay: {exc}", file=sys.stderr)
        return 1
    if summary.stopped and summary.stopped != "interrupted":
        print(f"callbacks replay: stopped: {summary.stopped}", file=sys.stderr)
    if summary.stopped == "interrupted":
        return 130
    return 0 if summary.ok and not (summary.invalid and plan.file is None) else 1


def _open_log(args: argparse.Namespace, plan: _Plan) -> EventStore | None:
    """The log to read (no file) or to record in (a file: only if it exists)."""
    if plan.file is None:
        return existing_store(args.store)
    if args.no_record:
        return None
    try:
        store = open_store(args.store)
    except ValueError as exc:
        raise ConfigError(f"--store: {exc}") from None
    path = getattr(store, "path", None)
    if isinstance(path, str) and path != ":memory:" and not Path(path).exists():
        return None  # replaying a file where there is no log: nothing to record in
    return store


def _invalid_entries(path: Path, err: TextIO) -> int:
    """Report every unreadable entry of the file (a first pass); how many."""
    count = 0
    for entry in FileSource(path).entries():
        if isinstance(entry, InvalidEntry):
            count += 1
            err.write(f"{path} {entry}\n")
    return count


async def _replay(
    args: argparse.Namespace, plan: _Plan, store: EventStore | None, out: TextIO, err: TextIO
) -> ReplaySummary:
    async with contextlib.AsyncExitStack() as stack:
        if store is not None:
            await stack.enter_async_context(store)
        run_id = None
        recorder = CallRecorder()
        target: Target
        if plan.mode is ReplayMode.REMOTE:
            remote = RemoteTarget(args.to, secret=args.secret)
            stack.push_async_callback(remote.aclose)
            target = remote
        else:
            target, run_id = await _handler_target(args, plan, store, recorder, stack)
        source: AsyncIterator[SourceEntry]
        fraction: Callable[[], float | None] | None = None
        if plan.file is not None:
            file_source = FileSource(plan.file)
            source, fraction = _filtered(file_source, plan.where), file_source.fraction
        else:
            assert store is not None
            source = log_items(store, plan.where)
        progress = Progress(err, fraction) if err.isatty() else None
        output = ReplayOutput(out, err, json_lines=args.json, quiet=args.quiet, progress=progress)
        replayer = Replayer(
            target, run_id=run_id, record_to=None if args.no_record else store,
            speed=plan.speed, on_result=output.result, on_invalid=output.invalid,
        )
        summary = await replayer.run(source)
        duplicates = getattr(target, "duplicates", 0)
        if duplicates:
            summary.notes.append(
                f"{duplicates} event(s) were already in the target's log: it acknowledged them "
                "as duplicates and will not run its handlers on them again"
            )
        if plan.file is not None and store is None and not args.no_record:
            summary.notes.append("not recorded: no event log at --store")
        if summary.events == 0 and not summary.stopped:
            summary.notes.append("no event matched")
        output.summary(summary)
        return summary
    raise AssertionError("unreachable")  # pragma: no cover - mypy: the stack may swallow


async def _handler_target(
    args: argparse.Namespace,
    plan: _Plan,
    store: EventStore | None,
    recorder: CallRecorder,
    stack: contextlib.AsyncExitStack,
) -> tuple[HandlerTarget, str | None]:
    assert plan.plugins is not None
    history = store_history(store) if store is not None else None
    settings = plan.plugins.settings
    if plan.mode is ReplayMode.DRY_RUN:
        client: CallAutomationClient = DryRunClient(recorder, api_style=args.api_style)
        # No salt: the recorded ids are the ones the dispatcher used for these events.
        make = context_factory(
            client, history=history, settings=settings, callback_url=plan.callback_url
        )
        target = HandlerTarget(
            plan.plugins.router, make, recorder, plan.mode, handler_timeout=args.handler_timeout
        )
        stack.push_async_callback(target.aclose)
        return target, None
    transport = RecordingTransport(recorder, httpx2.AsyncHTTPTransport(limits=DEFAULT_LIMITS))
    try:
        client = CallAutomationClient.from_connection_string(
            args.connection_string, api_style=args.api_style, transport=transport
        )
    except ValueError as exc:
        raise ConfigError(f"--connection-string: {exc}") from None
    transport.below(client.endpoint)
    await _reachable(client.endpoint)
    await stack.enter_async_context(client)
    from callbacks.replay import new_run_id

    run_id = new_run_id()
    # The run id salts the repeatability ids: the service must not take these requests for
    # repeats of the original ones and swallow them.
    make = context_factory(
        client, salt=run_id, history=history, settings=settings, callback_url=plan.callback_url
    )
    target = HandlerTarget(
        plan.plugins.router, make, recorder, plan.mode, target=client.endpoint,
        handler_timeout=args.handler_timeout,
    )
    stack.push_async_callback(target.aclose)
    return target, run_id


async def _reachable(endpoint: str) -> None:
    """TargetUnreachable unless something answers HTTP at ``endpoint`` (any status will do)."""
    try:
        async with httpx2.AsyncClient(timeout=10) as http:
            await http.get(endpoint)
    except httpx2.TransportError as exc:
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise TargetUnreachable(f"cannot reach the service at {endpoint}: {why}") from None


async def _filtered(source: FileSource, where: EventFilter) -> AsyncIterator[SourceEntry]:
    for entry in source.entries():
        if isinstance(entry, InvalidEntry) or matches(where, entry):
            yield entry
