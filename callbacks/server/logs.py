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
import json
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from callbacks.terminal import printable

__all__ = [
    "LOG_FORMATS",
    "TEXT_FORMAT",
    "JsonFormatter",
    "LogWriter",
    "TextFormatter",
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


_NATIVE = frozenset({str, int, float, bool, type(None)})
_ENCODE = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def __init__(self, static: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._static = dict(static or {})
        self._second = -1
        self._stamp = ""

    def _time(self, created: float) -> str:
        # The date part is formatted once per second: this runs for every event.
        second = int(created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((created - second) * 1000):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line (no trailing newline)."""
        document: dict[str, Any] = {
            "time": self._time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **self._static,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key[:1] != "_":
                document[key] = value if type(value) in _NATIVE else str(value)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return _ENCODE(document)


class TextFormatter(logging.Formatter):
    """:data:`TEXT_FORMAT` lines for a terminal, every control character escaped.

    A sender's text in a message (an operationContext, a call id) can neither forge a line nor
    reach the terminal as an escape sequence. A traceback keeps its frames, and each exception
    in it is one escaped line (its message may hold a sender's newlines); with
    ``tracebacks=False`` the exception is named at the end of the record's one line instead.
    """

    def __init__(self, *, tracebacks: bool = True) -> None:
        super().__init__(TEXT_FORMAT)
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        """The record as text: one line, then its escaped traceback if it has one (and may)."""
        record.message = printable(record.getMessage())
        record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and not self.tracebacks:
            return f"{line}: {printable(f'{type(exc).__name__}: {exc}')}"
        trace = _trace(exc) if exc is not None else (record.exc_text or "").splitlines()
        if record.stack_info:
            trace += self.formatStack(record.stack_info).splitlines()
        return "\n".join([line, *(printable(part) for part in trace)])


def _trace(exc: BaseException) -> list[str]:
    """The traceback of ``exc`` and of the exceptions it came from, one line per exception."""
    chain: list[tuple[BaseException, str]] = []  # each with how it led to the one before
    current: BaseException | None = exc
    link = ""
    while current is not None and all(current is not seen for seen, _ in chain):
        chain.append((current, link))
        if current.__cause__ is not None:
            link, current = _CAUSED, current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            link, current = _DURING, current.__context__
        else:
            current = None
    lines: list[str] = []
    for error, led_to_next in reversed(chain):
        lines.append("Traceback (most recent call last):")
        for frame in traceback.format_tb(error.__traceback__):
            lines.extend(frame.rstrip("\n").splitlines())
        lines.append(printable(f"{type(error).__qualname__}: {error}".removesuffix(": ")))
        if led_to_next:
            lines.extend(("", led_to_next, ""))
    return lines


_CAUSED = "The above exception was the direct cause of the following exception:"
_DURING = "During handling of the above exception, another exception occurred:"


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
    """Formats on the caller's thread, writes on its own; drops (and counts) when far behind.

    Lines are collected in a list (one append per record, under the handler's lock) and the
    writer thread takes them all every ``interval`` seconds and writes them at once, which
    costs the event loop far less than a write, or a queue hand-off, per line.
    """

    def __init__(
        self,
        stream: TextIO,
        formatter: logging.Formatter,
        buffer: int = 10_000,
        interval: float = 0.05,
    ) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.stream = stream
        self.buffer = buffer
        self.interval = interval
        self.dropped = 0
        """Records dropped since the last report."""
        self._pending: list[str] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._write, name="callbacks-log", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the formatted record for the writer; never blocks on the output."""
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        pending = self._pending
        if len(pending) >= self.buffer:
            self.dropped += 1
            return
        if self.dropped:
            notice = logging.LogRecord(
                "callbacks.logs", logging.WARNING, __file__, 0,
                "%d log record(s) dropped: the log output was blocked", (self.dropped,), None,
            )
            pending.append(self.format(notice))
            self.dropped = 0
        pending.append(line)

    def _take(self) -> list[str]:
        self.acquire()  # the lock emit runs under
        try:
            lines, self._pending = self._pending, []
        finally:
            self.release()
        return lines

    def _write(self) -> None:
        while True:
            closing = self._closing.wait(self.interval)
            lines = self._take()
            if lines:
                try:
                    self.stream.write("\n".join(lines) + "\n")
                    self.stream.flush()
                except (OSError, ValueError):  # stderr closed: nothing left to tell
                    pass
            if closing:
                return

    def close(self, timeout: float = 5.0) -> None:
        """Write what is pending (waiting at most ``timeout`` seconds), then stop the thread."""
        self._closing.set()
        if self._thread.is_alive():
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
        formatter = TextFormatter()
    handler = LogWriter(stream, formatter)
    # Neither format prints them, and looking them up costs every record a few microseconds.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
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
