"""What ``callbacks replay`` prints: per event, a summary, and a progress line on a terminal.

On stdout: readable text (default) or ``--json`` (one JSON object per replayed event, then one
``{"summary": ...}`` line); ``--quiet`` leaves out the events, keeping the summary. Unreadable
source entries and the progress line go to stderr; the progress line only on a terminal.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TextIO

from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from callbacks.replay.replayer import ReplaySummary
from callbacks.replay.sources import InvalidEntry, ReplayItem
from callbacks.store.replays import ReplayMode, ReplayResult
from callbacks.terminal import console, printable

_BAR = 24
_ERASE_LINE = "\x1b[2K"
_REFRESH = 0.1
_SHOW_AFTER = 0.5
"""Short replays finish before a progress line would help: it appears after this long."""


class Progress:
    """A progress line on stderr (a terminal), redrawn at most ten times a second.

    It is one line rewritten in place (a carriage return, not cursor movements), so the
    per-event results printed on stdout meanwhile cannot be drawn over; ``rich`` draws the bar.
    """

    def __init__(
        self,
        err: TextIO,
        fraction: Callable[[], float | None] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._err = err
        self._console = console(err)
        self._fraction = fraction
        self._clock = clock
        self._started = clock()
        self._drawn = 0.0
        self._shown = False
        self.count = 0
        self.failed = 0

    def tick(self, failed: bool) -> None:
        """Count one event; redraw if it is time."""
        self.count += 1
        self.failed += failed
        now = self._clock()
        if now - self._drawn < _REFRESH or now - self._started < _SHOW_AFTER:
            return
        self._drawn = now
        self._shown = True
        rate = self.count / (now - self._started)
        failures = f"  {self.failed} failed" if self.failed else ""
        line = Table.grid(padding=(0, 2))
        cells: list[ProgressBar | Text] = []
        fraction = self._fraction() if self._fraction is not None else None
        if fraction is not None:
            cells.append(ProgressBar(total=1.0, completed=fraction, width=_BAR))
            cells.append(Text(f"{fraction:4.0%}"))
        cells.append(Text(f"{self.count:,} events  {rate:,.0f}/s{failures}"))
        line.add_row(*cells)
        with self._console.capture() as drawn:
            self._console.print(line, end="")
        self._err.write("\r" + _ERASE_LINE + drawn.get().rstrip("\n"))
        self._err.flush()

    def clear(self) -> None:
        """Erase the line (before the summary)."""
        if self._shown:
            self._err.write("\r" + _ERASE_LINE)
            self._err.flush()


class ReplayOutput:
    """Prints results as they come and the summary at the end."""

    def __init__(
        self,
        out: TextIO,
        err: TextIO,
        *,
        json_lines: bool = False,
        quiet: bool = False,
        progress: Progress | None = None,
    ) -> None:
        self._out = out
        self._err = err
        self._json = json_lines
        self._quiet = quiet
        self._progress = progress

    def result(self, item: ReplayItem, result: ReplayResult) -> None:
        """Report one replayed event."""
        if self._progress is not None:
            self._progress.tick(not result.ok)
        if self._quiet:
            return
        if self._json:
            self._out.write(json.dumps(event_json(item, result), ensure_ascii=False) + "\n")
        else:
            self._out.write(event_text(item, result))
        self._out.flush()  # line by line into a pipe too (jq, tee), even when a handler hangs

    def invalid(self, entry: InvalidEntry) -> None:
        """Report an entry of the source that could not be read."""
        self._err.write(printable(f"skipped {entry}") + "\n")

    def summary(self, summary: ReplaySummary) -> None:
        """Report the run as a whole."""
        if self._progress is not None:
            self._progress.clear()
        if self._json:
            self._out.write(json.dumps({"summary": summary.to_json()}) + "\n")
        else:
            self._out.write(summary_text(summary))
        self._out.flush()


def event_json(item: ReplayItem, result: ReplayResult) -> dict[str, Any]:
    """One ``--json`` line: the event, then the result's fields."""
    event = item.event
    return {
        "event": {
            "id": event.identity,
            "origin": item.origin,
            "seq": item.seq,
            "type": event.type,
            "call_id": event.call_id,
            "operation_context": event.operation_context,
        },
        **result.to_json(),
    }


def event_text(item: ReplayItem, result: ReplayResult) -> str:
    """The readable block of one replayed event."""
    event = item.event
    call = f"  call {event.call_id}" if event.call_id else ""
    lines = [f"{item.origin}  {event.type}{call}"]
    if not result.outcomes:
        lines.append("  (no handler matches)")
    by_handler: dict[str | None, list[str]] = {}
    for request in result.requests:
        body = "" if request.body is None else "  " + request.body.decode("utf-8", "replace")
        status = "no answer" if request.status is None else str(request.status)
        by_handler.setdefault(request.handler, []).append(
            f"      {request.method} {request.path} -> {status}{body}"
        )
    for outcome in result.outcomes:
        took = f"{outcome.duration * 1000:.1f} ms"
        if outcome.ok:
            lines.append(f"  ok      {outcome.handler}  {took}")
        else:
            lines.append(f"  FAILED  {outcome.handler}  {took}  {outcome.error}")
        lines.extend(by_handler.pop(outcome.handler, []))
    for rest in by_handler.values():
        lines.extend(rest)
    return "\n".join(printable(line) for line in lines) + "\n"


def summary_text(summary: ReplaySummary) -> str:
    """The readable summary."""
    mode = summary.mode
    where = f" to {summary.target}" if mode is ReplayMode.REMOTE and summary.target else ""
    lines = [f"replay {summary.run_id} ({mode.value}{where})"]
    counts = f"  events: {summary.events}"
    if mode is ReplayMode.REMOTE:
        counts += f"   delivered: {summary.events}"
    else:
        sent = "recorded, none sent" if mode is ReplayMode.DRY_RUN else "sent"
        counts += (
            f"   handler runs: {summary.handler_runs}   failures: {summary.failures}"
            f"   REST calls: {summary.rest_calls} ({sent})"
        )
    lines.append(counts)
    if summary.invalid:
        lines.append(f"  skipped, unreadable: {summary.invalid}")
    lines.append(f"  took {summary.elapsed:.2f} s ({summary.rate:,.0f} events/s)")
    if summary.recorded:
        lines.append(
            f"  recorded in the log for {summary.recorded} event(s): "
            "`callbacks events show ID` shows them beside the original outcomes"
        )
    lines.extend(f"  note: {note}" for note in summary.notes)
    if summary.stopped:
        lines.append(f"  STOPPED: {summary.stopped}")
    return "\n".join(printable(line) for line in lines) + "\n"


def replays_text(replays: list[ReplayResult]) -> str:
    """The ``replays:`` section of ``callbacks events show``: each run, apart from outcomes."""
    lines = ["replays (never change the status or outcomes above):"]
    for replay in replays:
        where = f" {replay.target}" if replay.target else ""
        lines.append(f"  {replay.replayed_at.isoformat()}  {replay.run_id}  {replay.mode.value}"
                     f"{where}")
        for outcome in replay.outcomes:
            verdict = "ok" if outcome.ok else f"FAILED: {outcome.error}"
            lines.append(f"    {outcome.handler}  {outcome.duration * 1000:.1f} ms  {verdict}")
        for request in replay.requests:
            body = "" if request.body is None else "  " + request.body.decode("utf-8", "replace")
            status = "no answer" if request.status is None else str(request.status)
            lines.append(f"      {request.method} {request.path} -> {status}{body}")
    return "\n".join(printable(line) for line in lines) + "\n"
