"""Logging for ``callbacks serve``: JSON lines for machines, plain text for a terminal.

``--log-format auto`` (the default) writes JSON lines when stderr is not a terminal (a
container, systemd, a pipe) and text when it is. A JSON line holds ``time`` (UTC, ISO 8601),
``level``, ``logger``, ``message``, the fields every line carries (``replica``), every
``extra`` the caller attached (the dispatcher adds ``call_id``, ``event_id``, ``event_type``,
``status``...; a handler's ``ctx.log`` adds its event and handler), and ``exception`` when there
is a traceback. Nothing here adds secrets; callers keep them out of messages.

Records are formatted where they are logged but written by a thread of their own, so a slow or
blocked stderr (a full pipe, a stalled log collector) never stalls the event loop. If the
writer falls ``buffer`` records behind, further records are dropped and counted, and a warning
says how many once it catches up.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = [
    "LOG_FORMATS",
    "TEXT_FORMAT",
    "JsonFormatter",
    "LogWriter",
    "Throttle",
    "configure_logging",
    "json_wanted",
]

LOG_FORMATS = ("auto", "text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# What every LogRecord has; anything else on a record came from ``extra=``. uvicorn adds
# ``color_message`` (the message with terminal colours) to some records.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "taskName", "color_message"}
)
_QUIET = ("httpx2", "httpcore", "asyncio")
"""Libraries whose info lines repeat what our metrics and outcome lines say."""


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def __init__(self, static: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line (no trailing newline)."""
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **self._static,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                document[key] = _plain(value)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, ensure_ascii=False)


def json_wanted(log_format: str, stream: TextIO) -> bool:
    """Whether ``log_format`` means JSON on ``stream`` (``auto``: unless it is a terminal)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    if log_format == "auto":
        isatty = getattr(stream, "isatty", None)
        return not (isatty is not None and isatty())
    return log_format == "json"


class Throttle:
    """Lets a repeated line through at most once per ``seconds`` and counts the ones held back.

    For lines an outage repeats per request (every 503 while the database is away).
    """

    def __init__(self, seconds: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._last = -float("inf")
        self._held = 0

    def __call__(self) -> int | None:
        """None to stay quiet; else how many lines were held back since the last one."""
        now = self._clock()
        if now - self._last < self.seconds:
            self._held += 1
            return None
        held, self._held, self._last = self._held, 0, now
        return held


class LogWriter(logging.Handler):
    """Formats on the caller's thread, writes on its own; drops (and counts) when far behind."""

    def __init__(self, stream: TextIO, formatter: logging.Formatter, buffer: int = 10_000) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.stream = stream
        self.dropped = 0
        """Records dropped since the last report."""
        self._lines: queue.Queue[str | None] = queue.Queue(maxsize=buffer)
        self._thread = threading.Thread(target=self._write, name="callbacks-log", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the formatted record; never blocks."""
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        try:
            if self.dropped:
                notice = logging.LogRecord(
                    "callbacks.logs", logging.WARNING, __file__, 0,
                    "%d log record(s) dropped: the log output was blocked", (self.dropped,), None,
                )
                self._lines.put_nowait(self.format(notice))
                self.dropped = 0
            self._lines.put_nowait(line)
        except queue.Full:
            self.dropped += 1

    def _write(self) -> None:
        while (line := self._lines.get()) is not None:
            try:
                self.stream.write(line + "\n")
                if self._lines.empty():
                    self.stream.flush()
            except (OSError, ValueError):  # stderr closed: nothing left to tell
                pass

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (waiting at most ``timeout`` seconds), then stop the thread."""
        if self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._lines.put(None, timeout=timeout)
            self._thread.join(timeout)
        super().close()


def configure_logging(
    level: str = "info",
    log_format: str = "auto",
    *,
    replica: str | None = None,
    stream: TextIO | None = None,
) -> LogWriter:
    """Send every logger's records to ``stream`` (stderr) in ``log_format``; the handler.

    Replaces (and closes) the root logger's handlers, so calling it again reconfigures rather
    than duplicates. ``replica`` is added to every JSON line (text stays short for a
    terminal). The handler is closed at exit, which writes what is still queued. Raises
    ValueError for an unknown level or format.
    """
    name = level.upper()
    if name not in logging.getLevelNamesMapping():
        raise ValueError(f"log level must be debug, info, warning or error, not {level!r}")
    stream = stream if stream is not None else sys.stderr
    if json_wanted(log_format, stream):
        formatter: logging.Formatter = JsonFormatter({"replica": replica} if replica else None)
    else:
        formatter = logging.Formatter(TEXT_FORMAT)
    handler = LogWriter(stream, formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(name)
    number = logging.getLevelNamesMapping()[name]
    quiet = number if number == logging.DEBUG else max(number, logging.WARNING)
    for library in _QUIET:
        logging.getLogger(library).setLevel(quiet)
    atexit.register(handler.close)
    return handler
