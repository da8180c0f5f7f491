"""``callbacks calls list|show``: the calls in the event log, and one call's timeline.

``list`` prints recent calls, the one with the newest event first: id, first and last event
time, state, last event, failed handler runs and the flow's outcome. ``show CALL_ID`` prints the
call's timeline (every callback, each handler run and each REST request, with time offsets), and
with ``--follow`` keeps printing as the call goes on. Both only read the log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from callbacks.calls.follow import follow_call
from callbacks.calls.listing import PAGE, list_calls
from callbacks.calls.summary import CallSummary, call_summary
from callbacks.calls.timeline import Entry, call_timeline
from callbacks.flows.flow import Flow
from callbacks.options import (
    FILTERS,
    STORE,
    Option,
    add_options,
    event_filter,
    existing_store,
    positive_int,
)
from callbacks.plugins.loader import PluginError, installed, load_plugin
from callbacks.store.base import EventStore
from callbacks.terminal import Column, TableWriter, printable

_LIST = (
    Column("CALL", plain=36), Column("FIRST (UTC)", width=19), Column("LAST (UTC)", width=19),
    Column("STATE", plain=9), Column("LAST EVENT", plain=22),
    Column("FAILURES", width=8, justify="right"), Column("FLOW OUTCOME"),
)
_TIMELINE = (
    Column("", width=10, justify="right"), Column("", plain=8), Column("", plain=26),
    Column("", plain=0), Column(""),
)
"""Offset, kind (callback, handler, REST), what (type, handler, request), detail, status."""
_KIND = {"callback": "callback", "handler": "handler", "request": "REST"}

JSON = Option("--json", "one JSON object per line", flag_only=True)
LIMIT = Option("--limit", "at most this many calls", convert=positive_int, default=PAGE,
               env=None)
BEFORE = Option("--before", "older calls: the position a previous listing said to go on from",
                convert=positive_int, env=None)
FOLLOW = Option("--follow", "keep printing as the call goes on, until Ctrl-C", flag_only=True)


def flows_at_hand() -> dict[str, Flow[Any]]:
    """The flows of the installed plugins, whose outcomes the calls list shows."""
    flows: dict[str, Flow[Any]] = {}
    for name in sorted(installed()):
        try:
            plugin = load_plugin(name)
        except PluginError:  # `callbacks plugins` says why; the list does without its outcome
            continue
        if plugin.flow is not None:
            flows[plugin.name] = plugin.flow
    return flows


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _outcome(call: CallSummary) -> str:
    if call.flow is None:
        return "-"
    return f"{call.flow}: {call.outcome or 'unknown'}"


async def _list(store: EventStore, args: argparse.Namespace, out: TextIO) -> int:
    where = event_filter(args)
    page = await list_calls(store, where, limit=LIMIT.value(args, {}),
                            before=BEFORE.value(args, {}), flows=flows_at_hand())
    if args.json:
        for call in page.calls:
            out.write(json.dumps(call.to_json()) + "\n")
        return 0
    table = TableWriter(out, _LIST)
    for call in page.calls:
        failures = f"{call.failures}{'+' if call.more else ''}" + (
            f" ({call.dead} dead)" if call.dead else "")
        table.add(call.call_id, _time(call.first_at), _time(call.last_at), call.state,
                  call.last_event, failures, _outcome(call))
    table.close()
    count = len(page.calls)
    out.write(f"({count} call{'s' if count != 1 else ''}")
    if page.older is not None:
        out.write(f"; older: callbacks calls list --before {page.older}")
    out.write(")\n")
    return 0


def _entry_row(table: TableWriter, offset: float, entry: Entry) -> None:
    took = f" ({entry.duration * 1000:.1f} ms)" if entry.duration is not None else ""
    table.add(f"+{offset:8.3f}s", _KIND[entry.kind], entry.what, entry.detail + took,
              entry.status if entry.kind == "callback" else "")


async def _show(store: EventStore, args: argparse.Namespace, out: TextIO) -> int:
    summary = await call_summary(store, args.call_id, flows_at_hand())
    timeline = await call_timeline(store, args.call_id)
    if summary is None or timeline is None:
        print(printable(f"callbacks calls show: no call {args.call_id!r} in the log"),
              file=sys.stderr)
        return 1
    if args.json:
        out.write(json.dumps({"call": summary.to_json(), "partial": timeline.partial}) + "\n")
    else:
        out.write(printable(
            f"call {summary.call_id}: {summary.state}, {summary.events}"
            f"{'+' if summary.more else ''} events from {_time(summary.first_at)} to "
            f"{_time(summary.last_at)} UTC, {summary.failures} failed handler runs"
            + (f", flow {_outcome(summary)}" if summary.flow else "")
        ) + "\n")
        if timeline.partial:
            out.write(f"(the newest {len(set(e.event_id for e in timeline.entries))} events)\n")
    _print(out, [(timeline.offset(e), e) for e in timeline.entries], args.json)
    if not args.follow:
        return 0
    shown = {entry.key for entry in timeline.entries}
    async for batch in follow_call(store, args.call_id, shown):
        _print(out, batch, args.json)
    return 0


def _print(out: TextIO, entries: list[tuple[float, Entry]], as_json: bool) -> None:
    if as_json:
        for offset, entry in entries:
            out.write(json.dumps(entry.to_json(offset)) + "\n")
    else:
        table = TableWriter(out, _TIMELINE, header=False, indent=2)
        for offset, entry in entries:
            _entry_row(table, offset, entry)
        table.close()
    out.flush()


Command = Callable[[EventStore, argparse.Namespace, TextIO], Awaitable[int]]


def _runner(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        store = existing_store(STORE.value(args, os.environ))

        async def main() -> int:
            async with store:
                return await command(store, args, sys.stdout)

        return asyncio.run(main())

    return run


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``callbacks calls``."""
    calls = subparsers.add_parser("calls", help="list the calls in the event log, show a call's "
                                  "timeline")

    def usage(args: argparse.Namespace) -> int:
        calls.print_help(sys.stderr)
        return 2

    calls.set_defaults(func=usage)
    commands = calls.add_subparsers(dest="calls_command", metavar="ACTION")
    listing = commands.add_parser(
        "list", help="recent calls, the newest first",
        description="Recent calls, the one with the newest event first: id, first and last "
        "event time, state, last event, failed handler runs, flow outcome. A filter keeps the "
        "calls with an event that matches it.",
    )
    add_options(listing, (STORE, *(o for o in FILTERS if o.flag != "--id"), LIMIT, BEFORE, JSON))
    listing.set_defaults(func=_runner(_list))
    show = commands.add_parser(
        "show", help="a call's timeline: callbacks, handler runs, REST requests",
        description="A call's timeline: every callback, each handler run and each REST request "
        "it sent, with time offsets.",
    )
    add_options(show, (STORE, FOLLOW, JSON))
    show.add_argument("call_id", metavar="CALL_ID", help="the call's id (callConnectionId)")
    show.set_defaults(func=_runner(_show))
