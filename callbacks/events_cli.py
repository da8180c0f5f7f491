"""``callbacks events list|show|retry|prune|stats``: look into and maintain the event log."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from callbacks.cli import ConfigError, env
from callbacks.replay_output import replays_text
from callbacks.replay_sources import export_events
from callbacks.store import EventFilter, EventRecord, EventStatus, EventStore, open_store

DEFAULT_STORE = "sqlite:///callbacks.db"
_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(value: str, *, now: datetime | None = None) -> datetime:
    """An ISO 8601 date or time (UTC unless it says so), or an age: ``30m``, ``2h``, ``7d``."""
    text = value.strip()
    ago = _AGO.match(text)
    if ago:
        amount, unit = float(ago.group(1)), ago.group(2)
        try:
            return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: amount})
        except OverflowError:
            raise ValueError(f"{value!r} is too long ago: a date before year 1") from None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value!r} is not a date: use ISO 8601 (2026-11-24, 2026-11-24T10:00:00Z) "
            "or an age such as 30m, 2h, 7d"
        ) from None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is out of range: before year 1 or after 9999 in UTC") from None


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError(f"must be a positive integer, not {value}")
    return number


def parse_status(value: str) -> EventStatus:
    """An event status by name."""
    try:
        return EventStatus(value.lower())
    except ValueError:
        choices = ", ".join(status.value for status in EventStatus)
        raise ValueError(f"unknown status {value!r}: use one of {choices}") from None


def existing_store(url: str) -> EventStore:
    """The store at ``url``, refusing to create an empty SQLite log by reading a typo."""
    try:
        store = open_store(url)
    except ValueError as exc:
        raise ConfigError(f"--store: {exc}") from None
    path = getattr(store, "path", None)
    if isinstance(path, str) and path != ":memory:" and not Path(path).exists():
        raise ConfigError(
            f"no event log at {path}: pass --store (or CALLBACKS_STORE) naming the log "
            "that `callbacks serve` writes"
        )
    return store


def add_filter_options(parser: argparse.ArgumentParser) -> None:
    """The event filters shared by ``events list``, ``events export`` and ``replay``."""
    parser.add_argument("--call", help="only this call id")
    parser.add_argument("--type", help="only this event type (short or full name)")
    parser.add_argument("--status", help="pending, done, failed or dead")
    parser.add_argument("--since", help="received at or after: ISO date/time or an age (2h)")
    parser.add_argument("--until", help="received before: ISO date/time or an age (2h)")
    parser.add_argument("--operation-context", help="only this operationContext")
    parser.add_argument("--id", help="only this event id")


def filter_from_args(args: argparse.Namespace) -> EventFilter:
    """An EventFilter from the shared filter options; ConfigError for a bad value."""
    try:
        return EventFilter(
            call_id=args.call,
            type=args.type,
            status=parse_status(args.status) if args.status else None,
            since=parse_moment(args.since) if args.since else None,
            until=parse_moment(args.until) if args.until else None,
            operation_context=args.operation_context,
            id=args.id,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


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
    where = filter_from_args(args)
    count = 0
    if not args.json:
        out.write(_TABLE_HEADER + "\n")
    async for record in store.list_events(where, limit=args.limit, newest_first=args.newest_first):
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
    where = filter_from_args(args)
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
    try:
        before = parse_moment(args.before)
    except ValueError as exc:
        raise ConfigError(f"--before: {exc}") from None
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


Command = Callable[[EventStore, argparse.Namespace, TextIO], Awaitable[int]]


def _runner(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        store = existing_store(args.store)

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
    store_default = env("STORE", DEFAULT_STORE)

    def sub(name: str, command: Command, help_text: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("--store", default=store_default, help="the event log URL")
        parser.set_defaults(func=_runner(command))
        return parser

    listing = sub("list", _list, "list logged events, oldest first")
    add_filter_options(listing)
    listing.add_argument("--limit", type=_positive, default=None, help="at most this many")
    listing.add_argument("--newest-first", action="store_true", help="newest first")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument("--raw", action="store_true", help="with --json: include the raw event")

    show = sub("show", _show, "show one event: raw JSON and every handler outcome")
    show.add_argument("event_id", metavar="ID")
    show.add_argument("--json", action="store_true", help="one JSON object")

    export = sub("export", _export, "write events, raw and with their metadata, as JSON Lines "
                 "(for callbacks replay --file)")
    add_filter_options(export)
    export.add_argument("--output", "-o", help="write to this file (default: stdout)")

    retry = sub("retry", _retry, "send dead events back to pending")
    retry.add_argument("event_ids", metavar="ID", nargs="*")
    retry.add_argument("--dead", action="store_true", help="every dead event")

    prune = sub("prune", _prune, "delete finished events received before a date")
    prune.add_argument("--before", required=True, help="ISO date/time or an age (30d)")

    stats = sub("stats", _stats, "counts by status and type")
    stats.add_argument("--json", action="store_true", help="one JSON object")
