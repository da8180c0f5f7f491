"""Build a replay from the options of ``callbacks replay``: check them into a :class:`Plan`,
open the log, pick the source and the target, run it (:func:`replay`).

Options are checked before anything is opened (usage errors, exit status 2); plugins are loaded
and configured as ``callbacks serve`` does.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import httpx2

from callbacks.client.automation import CallAutomationClient
from callbacks.client.hmac import parse_connection_string
from callbacks.client.pipeline import DEFAULT_LIMITS
from callbacks.context import context_factory
from callbacks.errors import ConfigError
from callbacks.flows.state import checked_callback_url
from callbacks.options import UPGRADE, existing_store, filter_of
from callbacks.plugins.loader import LoadedPlugins, load_enabled
from callbacks.replay.clients import CallRecorder, DryRunClient, RecordingTransport
from callbacks.replay.history import FileHistory
from callbacks.replay.output import Progress, ReplayOutput
from callbacks.replay.replayer import Replayer, ReplaySummary, new_run_id, parse_speed
from callbacks.replay.sources import FileSource, InvalidEntry, SourceEntry, log_items, matches
from callbacks.replay.targets import (
    HandlerTarget,
    RemoteTarget,
    Target,
    TargetUnreachable,
    check_target_url,
)
from callbacks.store import open_store
from callbacks.store.base import EventStore
from callbacks.store.history import CallHistory, store_history
from callbacks.store.records import EventFilter
from callbacks.store.replays import ReplayMode

DRY_RUN_CALLBACK_URL = "https://dry-run.invalid/api/callbacks"
"""What handlers of a dry run put in the callback URI of the calls they would place."""


@dataclass
class Plan:
    """The checked options: what to replay, where to, and where to record it."""

    mode: ReplayMode
    where: EventFilter
    file: Path | None
    plugins: LoadedPlugins | None
    speed: float | None
    callback_url: str | None = None


def check(args: argparse.Namespace) -> Plan:
    """The checked options; ConfigError (exit status 2) for any usage error."""
    mode = (
        ReplayMode.REMOTE if args.to else ReplayMode.LIVE if args.live else ReplayMode.DRY_RUN
    )
    where = filter_of(vars(args))
    try:
        speed = parse_speed(args.speed)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.file is not None:
        check_file(args.file)
    if mode is ReplayMode.REMOTE:
        check_target_url(args.to)
        if args.handlers:
            raise ConfigError("--handlers does not apply to --to: the receiver runs its own")
        return Plan(mode, where, args.file, None, speed)
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
    plugins = load_enabled(args.handlers, args.config_file, command="replay")
    url = checked_callback_url(args.callback_url, "replay") if args.callback_url else None
    if url is None and mode is ReplayMode.DRY_RUN:
        url = DRY_RUN_CALLBACK_URL
    if url is None and plugins.flows:
        names = ", ".join(sorted(plugins.flows))
        raise ConfigError(f"handler plugins {names} place or answer calls: pass --callback-url "
                          "(or CALLBACKS_CALLBACK_URL)")
    return Plan(mode, where, args.file, plugins, speed, url)


def check_file(path: Path) -> None:
    """ConfigError unless ``path`` is a regular file that can be read.

    A device (``/dev/zero``) never ends, and a pipe cannot be read twice (the unreadable
    entries are looked for first): both are refused, as is a directory.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"--file: no such file: {path}") from None
    except OSError as exc:
        raise ConfigError(f"--file: cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise ConfigError(f"--file: a directory, not a file: {path}")
    if not stat.S_ISREG(mode):
        raise ConfigError(f"--file: {path} is not a regular file (a device or a pipe): save what "
                          "it gives to a file and replay that")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"--file: cannot read {path}: permission denied")


def open_log(args: argparse.Namespace, plan: Plan) -> EventStore | None:
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
    store.existing_only(upgrade=UPGRADE)  # recording in a log must not create or migrate it
    return store


async def replay(
    args: argparse.Namespace, plan: Plan, store: EventStore | None, out: TextIO, err: TextIO
) -> ReplaySummary:
    """Open what the plan needs, replay, print as it goes; the summary (printed too)."""
    async with contextlib.AsyncExitStack() as stack:
        if store is not None:
            await stack.enter_async_context(store)
        run_id = None
        recorder = CallRecorder()
        # A file's events are their calls' history; the log's events have the log's.
        file_history = FileHistory() if plan.file is not None else None
        history = file_history or (store_history(store) if store is not None else None)
        target: Target
        if plan.mode is ReplayMode.REMOTE:
            remote = RemoteTarget(args.to, secret=args.secret)
            stack.push_async_callback(remote.aclose)
            target = remote
        else:
            target, run_id = await _handler_target(args, plan, history, recorder, stack)
        source: AsyncIterator[SourceEntry]
        fraction: Callable[[], float | None] | None = None
        if plan.file is not None:
            file_source = FileSource(plan.file)
            source = _filtered(file_source, plan.where, file_history)
            fraction = file_source.fraction
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
    plan: Plan,
    history: CallHistory | None,
    recorder: CallRecorder,
    stack: contextlib.AsyncExitStack,
) -> tuple[HandlerTarget, str | None]:
    assert plan.plugins is not None
    settings = plan.plugins.settings
    if plan.mode is ReplayMode.DRY_RUN:
        client: CallAutomationClient = DryRunClient(recorder, api_version=args.api_version)
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
            args.connection_string, api_version=args.api_version, transport=transport
        )
    except ValueError as exc:
        raise ConfigError(f"--connection-string: {exc}") from None
    transport.below(client.endpoint)
    await _reachable(client.endpoint)
    await stack.enter_async_context(client)
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


async def _filtered(
    source: FileSource, where: EventFilter, history: FileHistory | None
) -> AsyncIterator[SourceEntry]:
    for entry in source.entries():
        if isinstance(entry, InvalidEntry):
            yield entry
            continue
        if matches(where, entry):
            yield entry  # replayed before the next entry is asked for
        if history is not None:
            history.remember(entry.event)  # filtered out or not: it is part of its call
