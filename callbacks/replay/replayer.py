"""Replay recorded events: from the log or a file, to the handlers (dry run or live) or to a URL.

The pieces, one module each::

    replay_sources   where events come from: the log (filters in SQL) or a file; the export
    replay_files     a file read as a stream of JSON values with line numbers
    replay_targets   where they go: HandlerTarget (dry run, live) or RemoteTarget (--to URL)
    replay_client    the dry-run client that sends nothing, the live client's recorder
    replay           this module: the run itself (order, pacing, results recorded in batches)
    replay_output    what is printed: per event, the summary, the progress line
    replay_setup     options checked into a plan, then the source, target and log opened
    replay_cli       ``callbacks replay``: its options and exit statuses

Events are replayed one at a time in source order: the log's order is arrival order, so each
call's events keep their order. A run has an id; its results go to the log's replay table in
batches (never into the events' own outcomes), written while the next batch is replayed.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callbacks.replay.sources import InvalidEntry, ReplayItem, SourceEntry
from callbacks.replay.targets import Target, TargetError
from callbacks.store.base import EventStore
from callbacks.store.records import StoreError
from callbacks.store.replays import ReplayMode, ReplayResult

RECORD_BATCH = 2000
"""Results written to the log per transaction."""
_SPEED = re.compile(r"^(\d+(?:\.\d+)?)x?$")


def new_run_id() -> str:
    """A fresh replay run id (also the salt of a live replay's repeatability ids)."""
    return "replay-" + uuid.uuid4().hex[:12]


def parse_speed(value: str) -> float | None:
    """``max`` (None: as fast as the target takes them) or a factor: ``1x``, ``2x``, ``0.5x``."""
    text = value.strip().lower()
    if text == "max":
        return None
    match = _SPEED.match(text)
    factor = float(match.group(1)) if match else 0.0
    if not 0 < factor <= 1_000_000:
        raise ValueError(f"--speed must be max or a factor such as 1x or 2x, not {value!r}")
    return factor


@dataclass
class ReplaySummary:
    """What a replay run did, in numbers."""

    run_id: str
    mode: ReplayMode
    target: str | None = None
    events: int = 0
    handler_runs: int = 0
    failures: int = 0
    """Failed handler runs (dry run, live) or rejected deliveries (remote)."""
    failed_events: int = 0
    rest_calls: int = 0
    invalid: int = 0
    """Source entries that could not be read (skipped)."""
    recorded: int = 0
    """Results kept in the log's replay table."""
    elapsed: float = 0.0
    stopped: str | None = None
    """Why the run ended before its source did (target rejected, interrupted), if it did."""
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def ok(self) -> bool:
        """No handler failed, no delivery was rejected, and the run was not cut short."""
        return not (self.failures or self.failed_events or self.stopped)

    def to_json(self) -> dict[str, Any]:
        """The ``{"summary": ...}`` line of ``callbacks replay --json``."""
        return {
            "run_id": self.run_id,
            "mode": self.mode.value,
            "target": self.target,
            "events": self.events,
            "handler_runs": self.handler_runs,
            "failures": self.failures,
            "failed_events": self.failed_events,
            "rest_calls": self.rest_calls,
            "invalid": self.invalid,
            "recorded": self.recorded,
            "elapsed": round(self.elapsed, 3),
            "events_per_second": round(self.rate, 1),
            "stopped": self.stopped,
            "ok": self.ok,
        }


Report = Callable[[ReplayItem, ReplayResult], None]
ReportInvalid = Callable[[InvalidEntry], None]


class _Pacer:
    """Waits so that events go out at the original gaps between them, divided by ``speed``."""

    def __init__(self, speed: float | None, sleep: Callable[[float], Awaitable[None]]) -> None:
        self._speed = speed
        self._sleep = sleep
        self._start: tuple[float, datetime] | None = None

    async def wait(self, moment: datetime | None) -> None:
        if self._speed is None or moment is None:
            return
        if self._start is None:
            self._start = (time.monotonic(), moment)
            return
        started, first = self._start
        due = started + (moment - first).total_seconds() / self._speed
        delay = due - time.monotonic()
        if delay > 0:
            await self._sleep(delay)


class Replayer:
    """Runs one replay: entries from a source, in order, through a target."""

    def __init__(
        self,
        target: Target,
        *,
        run_id: str | None = None,
        record_to: EventStore | None = None,
        speed: float | None = None,
        on_result: Report | None = None,
        on_invalid: ReportInvalid | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        record_batch: int = RECORD_BATCH,
    ) -> None:
        self.target = target
        self.run_id = run_id or new_run_id()
        self._store = record_to
        self._pacer = _Pacer(speed, sleep)
        self._on_result = on_result
        self._on_invalid = on_invalid
        self._batch_size = record_batch
        self._batch: list[ReplayResult] = []
        self._writing: asyncio.Task[int] | None = None

    async def run(self, entries: AsyncIterable[SourceEntry]) -> ReplaySummary:
        """Replay every entry; stops early only when the target gives up or on cancellation.

        Raises :class:`~callbacks.store.StoreError` if results cannot be recorded.
        """
        summary = ReplaySummary(self.run_id, self.target.mode, self.target.target)
        started = time.perf_counter()
        try:
            async for entry in entries:
                if isinstance(entry, InvalidEntry):
                    summary.invalid += 1
                    if self._on_invalid is not None:
                        self._on_invalid(entry)
                    continue
                await self._pacer.wait(entry.moment)
                try:
                    result = await self.target.replay(self.run_id, entry)
                except TargetError as exc:
                    summary.stopped = str(exc)
                    summary.failures += 1
                    summary.failed_events += 1
                    break
                self._count(summary, result)
                if self._on_result is not None:
                    self._on_result(entry, result)
                if self._store is not None:
                    self._batch.append(result)
                    if len(self._batch) >= self._batch_size:
                        summary.recorded += await self._flush()
        except asyncio.CancelledError:
            summary.stopped = "interrupted"
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        finally:
            summary.elapsed = time.perf_counter() - started
        summary.recorded += await self._flush(last=True)
        return summary

    @staticmethod
    def _count(summary: ReplaySummary, result: ReplayResult) -> None:
        summary.events += 1
        summary.rest_calls += len(result.requests)
        failed = sum(1 for outcome in result.outcomes if not outcome.ok)
        if result.mode is not ReplayMode.REMOTE:
            summary.handler_runs += len(result.outcomes)
        summary.failures += failed
        summary.failed_events += 1 if failed else 0

    async def _flush(self, *, last: bool = False) -> int:
        """Start writing the batch; return how many the previous write recorded."""
        recorded = 0
        if self._writing is not None:
            writing, self._writing = self._writing, None
            recorded = await writing
        if self._batch and self._store is not None:
            batch, self._batch = self._batch, []
            self._writing = asyncio.create_task(self._record(self._store, batch))
            if last:
                writing, self._writing = self._writing, None
                recorded += await writing
        return recorded

    @staticmethod
    async def _record(store: EventStore, batch: list[ReplayResult]) -> int:
        try:
            return await store.record_replays(batch)
        except StoreError as exc:
            raise StoreError(f"cannot record the replay run in the log: {exc}") from None
