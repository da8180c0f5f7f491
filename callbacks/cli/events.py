"""``callbacks events list|show|retry|prune|stats``: look into and maintain the event log."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC
from typing import TextIO

from callbacks.calls.follow import follow_events
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
from callbacks.store.records import EventFilter, EventRecord, EventStatus
from callbacks.store.requests import RequestRecord
from callbacks.terminal import Column, TableWriter, printable

_LIST = (
    Column("SEQ", width=7, justify="right"), Column("RECEIVED (UTC)", width=23),
    Column("STATUS", width=7), Column("TYPE", plain=28), Column("CALL", plain=38),
    Column("CONTEXT", plain=16), Column("ID"),
)


def _received(record: EventRecord) -> str:
    return record.received_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


async def _list(store: EventStore, args: argparse.Namespace, out: TextIO) -> int:
    where = event_filter(args)
    limit = _LIMIT.value(args, {})
    if args.follow:
        return await _follow(store, args, where, limit, out)
    count = 0
    table = None if args.json else TableWriter(out, _LIST)
    async for record in store.list_events(where, limit=limit, newest_first=args.newest_first):
        count += 1
        _row(table, record, args, out)
    if table is not None:
        table.close()
        out.write(f"({count} event{'s' if count != 1 else ''})\n")
    return 0


def _row(table: TableWriter | None, record: EventRecord, args: argparse.Namespace,
         out: TextIO) -> None:
    if table is None:
        out.write(json.dumps(record.to_json(raw=args.raw)) + "\n")
    else:
        table.add(record.seq, _received(record), record.status.value, record.type,
                  record.call_id or "-", record.operation_context or "-", record.id)


async def _follow(store: EventStore, args: argparse.Namespace, where: EventFilter,
                  limit: int | None, out: TextIO) -> int:
    """The listing (its newest ``limit`` with ``--limit``), then each new event as it comes."""
    if args.newest_first:
        raise ConfigError("--follow prints the newest events last: leave out --newest-first")
    bounds = await store.seq_bounds()
    after = bounds[1] if bounds is not None else 0
    upto = replace(where, before_seq=after + 1)  # what comes later is followed
    if limit is not None:
        first = [r async for r in store.list_events(upto, limit=limit, newest_first=True)][::-1]
    else:
        first = [r async for r in store.list_events(upto)]
    batches = follow_events(store, where, after)
    header = not args.json
    batch: list[EventRecord] = first
    while True:
        table = None if args.json else TableWriter(out, _LIST, header=header)
        for record in batch:
            _row(table, record, args, out)
        if table is not None:
            table.close()
        header = False
        out.flush()
        batch = await anext(batches)


_INT64 = 2**63
MIN_PREFIX = 8
"""The shortest id prefix ``events show`` takes for an id (shorter ones match too much)."""


async def find_event(store: EventStore, given: str) -> EventRecord | str:
    """The event ``given`` names: all digits, the ``SEQ`` that ``events list`` shows; else its
    id, or a unique prefix of it of at least :data:`MIN_PREFIX` characters. Or why there is
    none."""
    if given.isascii() and given.isdigit():
        seq = int(given)
        if seq >= _INT64:
            return f"no event with seq {given} in the log"
        async for record in store.list_events(EventFilter(after_seq=seq - 1), limit=1):
            if record.seq == seq:
                return record
        return f"no event with seq {seq} in the log (a number is the SEQ of `events list`)"
    exact = await store.get_event(given)
    if exact is not None:
        return exact
    if len(given) < MIN_PREFIX:
        return f"no event {given!r} in the log (an id prefix needs {MIN_PREFIX} characters)"
    found = [r async for r in store.list_events(EventFilter(id_prefix=given), limit=2)]
    if not found:
        return f"no event {given!r} in the log"
    if len(found) > 1:
        return f"{given!r} is the start of several event ids: give more of it"
    return found[0]


async def _show(store: EventStore, args: argparse.Namespace, out: TextIO) -> int:
    record = await find_event(store, args.event_id)
    if isinstance(record, str):
        print(f"callbacks events show: {record}", file=sys.stderr)
        return 1
    replays = await store.replay_outcomes(record.id)
    requests = await store.requests_of(record.id)
    if args.json:
        shown = {**record.to_json(raw=True), "requests": [r.to_json() for r in requests],
                 "replays": [r.to_json() for r in replays]}
        out.write(json.dumps(shown) + "\n")
        return 0
    document = record.to_json(raw=True)
    fields = TableWriter(out, (Column("", plain=17), Column("")), header=False)
    for key in ("id", "seq", "type", "dialect", "call_id", "operation_context", "sequence",
                "event_time", "received_at", "path_context", "status"):
        fields.add(key + ":", document[key] if document[key] is not None else "-")
    fields.add("attempts:", _attempts(record))
    fields.close()
    out.write("outcomes:\n")
    if not record.outcomes:
        out.write("  (none yet)\n")
    for outcome in record.outcomes:
        verdict = "ok" if outcome.ok else f"FAILED: {outcome.error}"
        out.write(printable(
            f"  {outcome.finished_at.isoformat()}  attempt {outcome.attempt}  "
            f"{outcome.handler}  {outcome.duration * 1000:.1f} ms  {verdict}"
            + (f"  (replica {outcome.replica})" if outcome.replica else "")
        ) + "\n")
    out.write("requests:\n")
    if not requests:
        out.write("  (none)\n")
    for request in requests:
        out.write(printable(request_line(request)) + "\n")
    if replays:
        out.write(replays_text(replays))
    out.write("raw:\n" + json.dumps(document["raw"], indent=2) + "\n")
    return 0


def request_line(request: RequestRecord) -> str:
    """One REST request of a handler run, as ``events show`` prints it (not yet escaped)."""
    answer = "no answer" if request.status is None else str(request.status)
    if request.error_code:
        answer += f" {request.error_code}"
    extra = "".join(
        f"  {label} {value}" for label, value in
        (("repeatability-id", request.repeatability_id), ("replica", request.replica)) if value
    )
    return (
        f"  {request.sent_at.isoformat()}  attempt {request.attempt}  {request.handler} "
        f"#{request.index}  {request.operation}: {request.method} {request.path} -> {answer}  "
        f"{request.duration * 1000:.1f} ms{extra}"
    )


def _attempts(record: EventRecord) -> str:
    """Runs as the outcome list numbers them; ``record.attempts`` restarts at each retry."""
    runs = max((outcome.attempt for outcome in record.outcomes), default=record.attempts)
    if runs <= record.attempts:
        return str(record.attempts)
    return f"{runs} ({record.attempts} since the last `callbacks events retry`)"


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
    if args.dry_run:
        count = 0
        for status in (EventStatus.DONE, EventStatus.DEAD):  # what prune deletes
            async for _ in store.list_events(EventFilter(status=status, until=before)):
                count += 1
        out.write(f"{count} finished event{'s' if count != 1 else ''} received before "
                  f"{before.isoformat()} would be deleted (dry run: nothing deleted)\n")
        return 0
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
    by_status = TableWriter(out, (Column("", plain=8), Column("", width=10, justify="right")),
                            header=False, indent=2)
    for name, count in sorted(stats.by_status.items()):
        by_status.add(name, count)
    by_status.close()
    out.write("by type:\n")
    by_type = TableWriter(out, (Column("", plain=38), Column("", width=10, justify="right")),
                          header=False, indent=2)
    for name, count in sorted(stats.by_type.items(), key=lambda item: (-item[1], item[0])):
        by_type.add(name, count)
    by_type.close()
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
        Option("--follow", "then keep printing new events as they are logged, until Ctrl-C "
               "(with --limit: the newest that many first)", flag_only=True),
        Option("--json", "one JSON object per line", flag_only=True),
        Option("--raw", "with --json: include the raw event", flag_only=True))
    show = sub("show", _show, "show one event: raw JSON, every handler outcome and the REST "
               "requests its handlers made",
               Option("--json", "one JSON object", flag_only=True))
    show.add_argument("event_id", metavar="ID", help="the event's SEQ as `events list` shows it "
                      f"(all digits), its id, or a unique start of its id ({MIN_PREFIX}+ "
                      "characters)")
    sub("export", _export, "write events, raw and with their metadata, as JSON Lines "
        "(for callbacks replay --file)", *FILTERS,
        Option("--output", "write to this file (default: stdout)", env=None, short="-o"))
    retry = sub("retry", _retry, "send dead events back to pending",
                Option("--dead", "every dead event", flag_only=True))
    retry.add_argument("event_ids", metavar="ID", nargs="*", help="ids of dead events")
    prune = sub("prune", _prune, "delete finished events received before a date",
                Option("--dry-run", "count what would be deleted; delete nothing",
                       flag_only=True))
    prune.add_argument("--before", required=True, help=_BEFORE.help)
    sub("stats", _stats, "counts by status and type",
        Option("--json", "one JSON object", flag_only=True))
    upgrade = sub("upgrade", _upgrade, "bring an existing log's schema up to this version "
                  "(other commands read a log only as it is; `callbacks serve` upgrades too)")
    upgrade.set_defaults(func=_runner(_upgrade, migrate=True))
