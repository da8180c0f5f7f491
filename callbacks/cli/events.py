"""``callbacks events list|show|retry|prune|stats``: look into and maintain the event log."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import TextIO

from callbacks.errors import ConfigError
from callbacks.options import (
    FILTERS,
    STORE,
    Option,
    add_options,
    event_filter,
    existing_store,
    moment,
    positive_int,
)
from callbacks.replay.output import replays_text
from callbacks.replay.sources import export_events
from callbacks.store.base import EventStore
from callbacks.store.records import EventRecord, EventStatus


def _table_row(record: EventRecord) -> str:
    received = record.received_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return (
        f"{record.seq:>7}  {received}  {record.status.value:<7}  {record.type:<28}  "
        f"{record.call_id or '-':<38}  {record.operation_context or '-':<16}  {record.id}"
    )


_TABLE_HEADER = (
    f"{'SEQ':>7}  {'RECEIVED (UTC)':<23}  {'STATUS':<7}  {'TYPE':<28}  {'CALL':<38}  "
    f"{'CONTEXT':<16}  ID"
)


async def _list(store: EventStore, args: argparse.Namespace, out: TextIO) -> int:
    where = event_filter(args)
    count = 0
    if not args.json:
        out.write(_TABLE_HEADER + "\n")
    limit = _LIMIT.value(args, {})
    async for record in store.list_events(where, limit=limit, newest_first=args.newest_first):
        count += 1
        if args.json:
            out.write(json.dumps(record.to_json(raw=args.raw)) + "\n")
        else:
            out.write(_table_row(record) + "\n")
    if not args.json:
        out.write(f"({count} event{'s' if count != 1 else ''})\n")
    return 0


async def _show(store: EventStore, args: argparse.Namespace, out: TextIO) -> int:
    record = await store.get_event(args.event_id)
    if record is None:
        print(f"callbacks events show: no event {args.event_id!r} in the log", file=sys.stderr)
        return 1
    replays = await store.replay_outcomes(record.id)
    if args.json:
        shown = {**record.to_json(raw=True), "replays": [r.to_json() for r in replays]}
        out.write(json.dumps(shown) + "\n")
        return 0
    document = record.to_json(raw=True)
    for key in ("id", "seq", "type", "dialect", "call_id", "operation_context", "sequence",
                "event_time", "received_at", "path_context", "status", "attempts"):
        out.write(f"{key + ':':<19}{document[key] if document[key] is not None else '-'}\n")
    out.write("outcomes:\n")
    if not record.outcomes:
        out.write("  (none yet)\n")
    for outcome in record.outcomes:
        verdict = "ok" if outcome.ok else f"FAILED: {outcome.error}"
        out.write(
            f"  {outcome.finished_at.isoformat()}  attempt {outcome.attempt}  "
            f"{outcome.handler}  {outcome.duration * 1000:.1f} ms  {verdict}\n"
        )
    if replays:
        out.write(replays_text(replays))
    out.write("raw:\n" + json.dumps(document["raw"], indent=2) + "\n")
    return 0


async def _export(store: EventStore, args: argparse.Namespace, out: TextIO) -> int:
    where = event_filter(args)
    if args.output in (None, "-"):
        count = await export_events(store, where, out)
    else:
        try:
            file = open(args.output, "w", encoding="utf-8", newline="\n")  # noqa: ASYNC230, SIM115
        except OSError as exc:
            raise ConfigError(f"--output: cannot write {args.output}: {exc.strerror}") from None
        with file:
            count = await export_events(store, where, file)
    print(f"{count} event{'s' if count != 1 else ''} exported", file=sys.stderr)
    return 0


async def _retry(store: EventStore, args: argparse.Namespace, out: TextIO) -> int:
    if bool(args.event_ids) == bool(args.dead):
        raise ConfigError("give event ids or --dead (not both)")
    refused = 0
    if args.dead:
        count = await store.retry(None)
    else:
        # Say what became of each id given: a typo or a done event must not pass for a retry.
        dead: list[str] = []
        for event_id in dict.fromkeys(args.event_ids):
            record = await store.get_event(event_id)
            if record is None or record.status is not EventStatus.DEAD:
                why = "not in the log" if record is None else f"{record.status.value}, not dead"
                print(f"callbacks events retry: {event_id!r}: {why}", file=sys.stderr)
                refused += 1
            else:
                dead.append(event_id)
        count = await store.retry(dead) if dead else 0
    out.write(f"{count} dead event{'s' if count != 1 else ''} sent back to pending\n")
    return 1 if refused else 0


async def _prune(store: EventStore, args: argparse.Namespace, out: TextIO) -> int:
    before = _BEFORE.parse(args.before, _BEFORE.flag)
    count = await store.prune(before)
    out.write(f"{count} finished event{'s' if count != 1 else ''} received before "
              f"{before.isoformat()} deleted\n")
    return 0


async def _stats(store: EventStore, args: argparse.Namespace, out: TextIO) -> int:
    stats = await store.stats()
    if args.json:
        out.write(json.dumps({"total": stats.total, "by_status": stats.by_status,
                              "by_type": stats.by_type,
                              "calls_with_work": stats.calls_with_work}) + "\n")
        return 0
    out.write(f"events: {stats.total}   calls with unfinished work: {stats.calls_with_work}\n")
    out.write("by status:\n")
    for name, count in sorted(stats.by_status.items()):
        out.write(f"  {name:<10}{count:>10}\n")
    out.write("by type:\n")
    for name, count in sorted(stats.by_type.items(), key=lambda item: (-item[1], item[0])):
        out.write(f"  {name:<40}{count:>10}\n")
    return 0


async def _upgrade(store: EventStore, args: argparse.Namespace, out: TextIO) -> int:
    applied = store.migrations_applied
    out.write(f"{applied} schema migration{'s' if applied != 1 else ''} applied: the event log "
              "is up to date\n")
    return 0


Command = Callable[[EventStore, argparse.Namespace, TextIO], Awaitable[int]]
_LIMIT = Option("--limit", "at most this many", convert=positive_int, env=None)
_BEFORE = Option("--before", "ISO date/time or an age (30d)", convert=moment, env=None)


def _runner(command: Command, *, migrate: bool = False) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        store = existing_store(STORE.value(args, os.environ), migrate=migrate)

        async def main() -> int:
            async with store:
                return await command(store, args, sys.stdout)

        return asyncio.run(main())

    return run


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``callbacks events``."""
    events = subparsers.add_parser("events", help="list, show, retry and prune logged events")

    def usage(args: argparse.Namespace) -> int:
        events.print_help(sys.stderr)
        return 2

    events.set_defaults(func=usage)
    commands = events.add_subparsers(dest="events_command", metavar="ACTION")

    def sub(name: str, command: Command, help_text: str,
            *options: Option) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_text, description=help_text)
        add_options(parser, (STORE, *options))
        parser.set_defaults(func=_runner(command))
        return parser

    sub("list", _list, "list logged events, oldest first", *FILTERS, _LIMIT,
        Option("--newest-first", "newest first", flag_only=True),
        Option("--json", "one JSON object per line", flag_only=True),
        Option("--raw", "with --json: include the raw event", flag_only=True))
    show = sub("show", _show, "show one event: raw JSON and every handler outcome",
               Option("--json", "one JSON object", flag_only=True))
    show.add_argument("event_id", metavar="ID", help="the event's id")
    sub("export", _export, "write events, raw and with their metadata, as JSON Lines "
        "(for callbacks replay --file)", *FILTERS,
        Option("--output", "write to this file (default: stdout)", env=None, short="-o"))
    retry = sub("retry", _retry, "send dead events back to pending",
                Option("--dead", "every dead event", flag_only=True))
    retry.add_argument("event_ids", metavar="ID", nargs="*", help="ids of dead events")
    prune = sub("prune", _prune, "delete finished events received before a date")
    prune.add_argument("--before", required=True, help=_BEFORE.help)
    sub("stats", _stats, "counts by status and type",
        Option("--json", "one JSON object", flag_only=True))
    upgrade = sub("upgrade", _upgrade, "bring an existing log's schema up to this version "
                  "(other commands read a log only as it is; `callbacks serve` upgrades too)")
    upgrade.set_defaults(func=_runner(_upgrade, migrate=True))
