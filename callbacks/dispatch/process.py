"""``callbacks serve --dispatch process``: receive here, run handlers in a child process.

One Python process runs on one core. At full load receiving (HTTP, parsing, the group commit)
takes about 60 % of it and dispatching (reading the log, running handlers, recording outcomes)
40 % (97 and 61 us of CPU per request, bench/ingest.py), and each slows the other. Here the
server process only receives and logs (a :class:`~callbacks.dispatch.dispatcher.Dispatcher` with
concurrency 0), and a child process (:mod:`callbacks.cli.child`) dispatches from the same
log, on the machine's other core.

The two talk through the child's standard streams, one JSON document per line:

- to the child: first its configuration (through a pipe, so no secret is on a command line),
  then, after each commit, the call ids of the new events, so that it starts on them at once
  (without these it would still find them, at its next poll);
- from the child: a snapshot of its metrics as soon as its dispatcher runs, then every second,
  merged into this process's ``GET /metrics``. While they keep coming, the child also
  checkpoints the SQLite log's WAL and this process does not (:data:`CHECKPOINT_HANDOVER`).

This process is ready (``/readyz``) once the log is and the first child has sent its first
snapshot: a load balancer sends no traffic to a server whose handlers are still loading.

The child dies with this process (``PR_SET_PDEATHSIG``), so a restarted server never runs beside
the old child, and stops when its input ends (it ignores SIGINT and SIGTERM, so that Ctrl-C or a
service manager signalling the whole group stops it only through this process). If the child
exits on its own it is started again, with a backoff; events are safe in the log meanwhile and
readiness does not change then, since receiving still works.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from callbacks.dispatch.dispatcher import Dispatcher
from callbacks.events.base import Event
from callbacks.server.metrics import Metrics
from callbacks.store.base import EventStore
from callbacks.store.records import Receipt

log = logging.getLogger("callbacks.dispatch")

PARENT_PID_VARIABLE = "CALLBACKS_DISPATCH_PARENT"
"""Set for the child: the pid it must die with."""
REPORT_INTERVAL = 1.0
"""Seconds between the child's metric snapshots."""
CHECKPOINT_HANDOVER = 3 * REPORT_INTERVAL
"""Seconds without a report from the child after which this process checkpoints the log
again (the child's loop is blocked, or it is gone): the WAL grows for at most that long."""
_NOTIFY_BUFFER_LIMIT = 1 << 20
"""Bytes of unread notifications past which more are dropped (the child polls the log)."""
_NOTIFY_LINE_LIMIT = 1 << 20
"""Longest notification sent; the child reads lines of up to 16 MiB."""
_REPORT_LIMIT = 16 << 20
"""Longest line read from the child (a metrics snapshot)."""
CHILD_MODULE = "callbacks.cli.child"
"""What the child runs (``python -m``); it reads ``config``, the serve configuration as JSON."""
_STOP_MARGIN = 5.0
"""Seconds the child gets beyond its handlers' stop timeout before it is killed."""


class DispatchProcess:
    """The intake of ``--dispatch process``: log here, dispatch in a supervised child."""

    def __init__(
        self,
        log_only: Dispatcher,
        config: Mapping[str, Any],
        metrics: Metrics,
        *,
        restart_delay: float = 1.0,
    ) -> None:
        if log_only.config.concurrency != 0:
            raise ValueError("the receiving process must not dispatch: concurrency 0")
        self._log = log_only
        log_only.dispatched_elsewhere = True  # by the child: "runs no handlers" would mislead
        self._config = config
        self._metrics = metrics
        self._restart_delay = restart_delay
        self._child: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        # Calls with new events. The first request a commit resumes tells the child at once,
        # before its own answer is written (~90 us sooner, bench/reaction.py); the others that
        # shared the commit resume in the same loop iteration and go in one more line after it.
        self._new_work: set[str | None] = set()
        self._told_this_iteration = False
        self._last_report: float | None = None  # time.monotonic() of the child's last report
        self._child_ran = False  # a child has reported: its dispatcher ran

    @property
    def store(self) -> EventStore:
        """The event log this process writes to."""
        return self._log.store

    async def start(self) -> None:
        """Open the log, then start the child (and keep it running)."""
        # The child checkpoints the log while it reports: it has CPU to spare, this process not.
        self.store.maintain_elsewhere(self._child_reporting)
        await self._log.start()
        self._supervisor = asyncio.create_task(self._supervise(), name="callbacks-dispatcher")

    async def submit(self, events: Sequence[Event], path_context: str | None) -> Receipt:
        """Log ``events``; return after the commit, then tell the child about them."""
        receipt = await self._log.submit(events, path_context)
        if receipt.accepted:
            self._new_work.update(event.call_id for event in events)
            if not self._told_this_iteration:
                self._told_this_iteration = True
                self._notify()
                asyncio.get_running_loop().call_soon(self._end_of_iteration)
        return receipt

    def _end_of_iteration(self) -> None:
        self._told_this_iteration = False
        if self._new_work:
            self._notify()

    def _child_reporting(self) -> bool:
        """Whether the child sent a report lately: its loop runs, and with it the checkpoints
        of its log. A child that is still starting, or whose loop a handler blocks, does not."""
        last = self._last_report
        return last is not None and time.monotonic() - last < CHECKPOINT_HANDOVER

    async def ready(self) -> bool:
        """Whether events can be accepted and get handled without a start-up's delay: the log
        is ready and the child's dispatcher ran (a later restart of the child does not count:
        events wait in the log for it)."""
        return self._child_ran and await self._log.ready()

    async def stop(self) -> None:
        """Refuse new events and close the log; stop the child, which finishes or releases
        its handler runs like a dispatcher does (killed if it overruns its stop timeout)."""
        self._stopping = True
        await self._log.stop()
        child = self._child
        if child is not None and child.returncode is None:
            # End of input is the child's signal to stop; it ignores SIGINT and SIGTERM, which
            # a terminal or a service manager sends to the whole group, so that it stops only
            # after this process has stopped receiving.
            if child.stdin is not None:
                child.stdin.close()
            limit = self._log.config.stop_timeout + _STOP_MARGIN
            try:
                await asyncio.wait_for(child.wait(), limit)
            except TimeoutError:
                log.error("the dispatcher process did not stop in time; killing it")
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(child.wait(), _STOP_MARGIN)
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)

    def _notify(self) -> None:
        call_ids, self._new_work = list(self._new_work), set()
        child = self._child
        if child is None or child.stdin is None or child.stdin.is_closing():
            return
        if child.stdin.transport.get_write_buffer_size() > _NOTIFY_BUFFER_LIMIT:
            return  # the child is behind; it polls the log anyway
        line = json.dumps(call_ids).encode() + b"\n"
        if len(line) > _NOTIFY_LINE_LIMIT:
            return  # huge call ids: the child finds their events at its next poll
        child.stdin.write(line)

    async def _supervise(self) -> None:
        delay = self._restart_delay
        while not self._stopping:
            started = time.monotonic()
            try:
                code = await self._run_child()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never stop supervising: handlers depend on it
                log.exception("the dispatcher process could not be run: %s", exc)
            else:
                if self._stopping:
                    return
                log.error(
                    "the dispatcher process exited with code %s; starting it again in %g s "
                    "(events are kept in the log meanwhile)", code, delay,
                )
            await asyncio.sleep(delay)
            ran_long = time.monotonic() - started > 60
            delay = self._restart_delay if ran_long else min(delay * 2, 30.0)

    async def _run_child(self) -> int:
        """Start a child, take its reports until it exits; its exit code."""
        child = await self._spawn()
        self._child = child
        reports = asyncio.create_task(self._read_reports(child))
        try:
            return await child.wait()
        finally:
            reports.cancel()
            await asyncio.gather(reports, return_exceptions=True)
            self._last_report = None
            if not self._stopping:
                self._child = None
                self._metrics.retire_remote()  # a restarted child counts from zero again

    async def _spawn(self) -> asyncio.subprocess.Process:
        child = await asyncio.create_subprocess_exec(
            # -P: not the working directory first on sys.path, where a file named like a
            # module (secrets.py) would shadow it; plugins still load from it (plugins.py).
            sys.executable, "-P", "-m", CHILD_MODULE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, PARENT_PID_VARIABLE: str(os.getpid())},
            limit=_REPORT_LIMIT,
        )
        assert child.stdin is not None
        child.stdin.write(json.dumps(self._config).encode() + b"\n")
        log.info("dispatcher process %d started", child.pid)
        return child

    async def _read_reports(self, child: asyncio.subprocess.Process) -> None:
        """Take the child's metric snapshots until its output ends."""
        assert child.stdout is not None
        while True:
            try:
                line = await child.stdout.readline()
            except ValueError:  # a line over the stream's limit: not one of ours
                continue
            if not line:
                return
            try:
                self._metrics.merge_remote(json.loads(line))
                self._last_report = time.monotonic()
                if not self._child_ran:
                    self._child_ran = True
                    log.info("dispatcher process %d running", child.pid)
            except (ValueError, TypeError) as exc:
                log.warning("ignored a malformed report from the dispatcher process: %s", exc)
