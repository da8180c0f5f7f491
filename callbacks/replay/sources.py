"""Where replayed events come from: the event log, or a file; and ``callbacks events export``.

Every source yields, in order, :class:`ReplayItem` (an event with where it came from) or
:class:`InvalidEntry` (something that could not be read, with its line). Sources stream: the
log is read a page at a time and files a chunk at a time (:mod:`callbacks.replay.files`).

The export format is JSON Lines, one logged event per line, in log order::

    {"meta": {"id": ..., "seq": ..., "received_at": ..., "status": ..., ...}, "event": <raw>}

``meta`` is what ``callbacks events list --json`` prints; ``event`` is the event's JSON as it
was received (whitespace aside). A replay of an export restores the path context and the
receive times (for ``--speed``) from ``meta``.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from callbacks.events.base import Event
from callbacks.events.parse import EventParseError, parse_event_element, parse_events
from callbacks.replay.files import CHUNK, iter_values
from callbacks.store.base import EventStore
from callbacks.store.patterns import glob_matches, is_glob
from callbacks.store.records import EventFilter, EventRecord, EventStatus, utc

_FULL_TYPE_PREFIX = "Microsoft."
_EVENT_0 = re.compile(r"^event 0:? ?")  # parse_events numbers elements; a file has lines


@dataclass(frozen=True, slots=True)
class ReplayItem:
    """One event to replay, and where it came from."""

    event: Event
    origin: str
    """``seq 12`` (the log) or ``line 7`` (a file): how reports name it."""
    seq: int | None = None
    received_at: datetime | None = None
    path_context: str | None = None
    status: EventStatus | None = None
    """Its status in the log (or in the export it comes from)."""

    @property
    def moment(self) -> datetime | None:
        """When it happened, for pacing: received (log, export), else the event's own time."""
        return self.received_at or self.event.time


@dataclass(frozen=True, slots=True)
class InvalidEntry:
    """Something a source could not turn into an event."""

    origin: str
    message: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.message}"


SourceEntry = ReplayItem | InvalidEntry


async def log_items(store: EventStore, where: EventFilter) -> AsyncIterator[SourceEntry]:
    """The log's events matching ``where``, in log order (so in order within each call)."""
    async for record in store.list_events(where):
        origin = f"seq {record.seq} ({record.id})"
        try:
            event = parse_event_element(record.raw)
        except EventParseError as exc:  # logged by an older version, unreadable by this one
            yield InvalidEntry(origin, f"cannot be read any more: {exc}")
            continue
        yield ReplayItem(
            event, origin, record.seq, record.received_at, record.path_context, record.status
        )


def matches(where: EventFilter, item: ReplayItem) -> bool:
    """Whether a file's item passes the same filters as the log applies in SQL."""
    event = item.event
    if where.call_id is not None and event.call_id != where.call_id:
        return False
    if where.type is not None:
        name = event.full_type if where.type.startswith(_FULL_TYPE_PREFIX) else event.type
        if name != where.type:
            return False
    if where.status is not None and item.status != where.status:
        return False
    if where.since is not None or where.until is not None:
        moment = item.moment
        if moment is None:
            return False
        if where.since is not None and utc(moment) < utc(where.since):
            return False
        if where.until is not None and utc(moment) >= utc(where.until):
            return False
    context = where.operation_context
    if context is not None and not (
        glob_matches(event.operation_context, context) if is_glob(context)
        else event.operation_context == context
    ):
        return False
    if where.id_prefix is not None and not event.identity.startswith(where.id_prefix):
        return False
    return where.id is None or event.identity == where.id


class FileSource:
    """A replay file's entries, in file order, read a chunk at a time."""

    def __init__(self, path: Path, *, chunk: int = CHUNK) -> None:
        self.path = path
        self._chunk = chunk
        self._size = 0
        self._binary: BinaryIO | None = None

    def entries(self) -> Iterator[SourceEntry]:
        """Every entry, whatever the filters (the caller applies them with :func:`matches`)."""
        with self.path.open("rb") as binary:
            self._binary = binary
            self._size = os.fstat(binary.fileno()).st_size
            stream = io.TextIOWrapper(binary, encoding="utf-8", newline="")
            try:
                for value in iter_values(stream, chunk=self._chunk):
                    origin = f"line {value.line}"
                    if value.error is not None:
                        yield InvalidEntry(origin, value.error)
                        continue
                    assert value.document is not None and value.text is not None
                    yield _entry(value.document, value.text, origin)
            except UnicodeDecodeError:
                yield InvalidEntry(
                    f"byte {binary.tell()}", "the file is not UTF-8 text from about here on"
                )
            finally:
                self._binary = None
                stream.detach()

    def fraction(self) -> float | None:
        """How much of the file has been read (0 to 1), while :meth:`entries` runs."""
        binary = self._binary
        if binary is None or binary.closed or not self._size:
            return None
        return min(1.0, binary.tell() / self._size)


def _entry(document: Any, text: str, origin: str) -> SourceEntry:
    meta: dict[str, Any] = {}
    if isinstance(document, dict) and "event" in document and "meta" in document:
        if not isinstance(document["meta"], dict):
            return InvalidEntry(origin, "an export line's meta must be an object")
        meta, document = document["meta"], document["event"]
        text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    if not isinstance(document, dict):
        kind = "an array" if isinstance(document, list) else type(document).__name__
        return InvalidEntry(origin, f"an event must be a JSON object, not {kind}")
    try:
        event = parse_events(text.encode("utf-8"))[0]
    except EventParseError as exc:
        return InvalidEntry(origin, _EVENT_0.sub("", exc.message))
    try:
        return ReplayItem(
            event,
            origin,
            received_at=_moment(meta.get("received_at")),
            path_context=_optional_text(meta.get("path_context"), "path_context"),
            status=EventStatus(meta["status"]) if meta.get("status") is not None else None,
        )
    except ValueError as exc:
        return InvalidEntry(origin, f"meta: {exc}")


def _moment(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("received_at must be an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"received_at {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"received_at {value!r} has no time zone")
    return moment


def _optional_text(value: object, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"{name} must be a string")


def export_line(record: EventRecord) -> str:
    """One line of ``callbacks events export``: the record's metadata and its raw event."""
    try:
        raw = record.raw.decode("utf-8")
        # Raw CR/LF bytes can only be whitespace in valid JSON: blank them to keep one line.
        raw = raw.replace("\r", " ").replace("\n", " ")
    except UnicodeDecodeError:  # received in UTF-16/32: re-encode, same JSON
        raw = json.dumps(json.loads(record.raw), separators=(",", ":"), ensure_ascii=False)
    meta = json.dumps(record.to_json(), separators=(",", ":"), ensure_ascii=False)
    return f'{{"meta":{meta},"event":{raw}}}\n'


async def export_events(store: EventStore, where: EventFilter, out: TextIO) -> int:
    """Write the matching events to ``out`` as export lines, in log order; how many."""
    count = 0
    async for record in store.list_events(where):
        out.write(export_line(record))
        count += 1
    return count
