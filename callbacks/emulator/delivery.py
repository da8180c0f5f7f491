"""Posting callbacks: one ordered queue per call, retries with backoff, faults.

Semantics:

- events of one call are posted one at a time, in the order the call produced them; a callback
  that fails after every attempt is given up and the next one goes (Event Grid does the same);
- calls do not wait for each other; a held-back callback (reorder fault) holds back the rest of
  its own call's queue only, so calls reorder among themselves but never within a call;
- an attempt fails on a non-2xx answer, a connection error or a timeout; 400 and 413 are
  final at once (Event Grid dead-letters them), anything else is retried after
  ``backoff * factor**n`` seconds, capped, up to ``max_attempts`` attempts;
- a duplicated callback is posted again, byte for byte, right after the original;
- every attempt of a signed callback carries the headers ``authorize()`` returns at that
  moment: a fresh bearer token each time, so a retry long after the first attempt is not
  refused as expired; Event Grid deliveries are not signed (their URL carries a secret).

One shared ``httpx2.AsyncClient`` (opened by the app's lifespan) carries every post.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2

from callbacks.emulator.config import DeliveryConfig
from callbacks.emulator.faults import Faults
from callbacks.emulator.journal import Attempt, CallbackRecord, Journal
from callbacks.emulator.tasks import TaskSet

log = logging.getLogger("callbacks.emulator.delivery")

FINAL_STATUSES = frozenset({400, 413})
HEADERS = {"Content-Type": "application/json"}


@dataclass(slots=True)
class _CallQueue:
    pending: deque[CallbackRecord] = field(default_factory=deque)
    running: bool = False


class Delivery:
    """Queues callbacks per call and posts them in order."""

    def __init__(
        self,
        config: DeliveryConfig,
        faults: Faults,
        journal: Journal,
        authorize: Callable[[], dict[str, str]] | None = None,
    ) -> None:
        self.config = config
        self._authorize = authorize
        self._faults = faults
        self._journal = journal
        self._client: httpx2.AsyncClient | None = None
        self._queues: dict[str, _CallQueue] = {}
        self._workers = TaskSet("delivery")
        self._idle = asyncio.Event()
        self._idle.set()

    def bind(self, client: httpx2.AsyncClient) -> None:
        """Use ``client`` for every post (the app's shared client)."""
        self._client = client

    @property
    def client(self) -> httpx2.AsyncClient:
        """The shared client (for Event Grid's validation handshake)."""
        if self._client is None:
            raise RuntimeError("delivery used outside the emulator's lifespan")
        return self._client

    def send(
        self,
        call_id: str,
        url: str,
        event: dict[str, Any],
        *,
        batch: bool = False,
        headers: dict[str, str] | None = None,
        signed: bool = True,
    ) -> CallbackRecord:
        """Queue ``event`` for ``url`` behind the earlier events of ``call_id``.

        ``batch`` posts it as a JSON array of one event (GA and Event Grid), else as the bare
        object (2021); ``signed=False`` leaves out the bearer token (Event Grid deliveries).
        """
        body = json.dumps([event] if batch else event, separators=(",", ":")).encode("utf-8")
        record = self._journal.callback(call_id, url, event, body, headers=headers, signed=signed)
        queue = self._queues.setdefault(call_id, _CallQueue())
        queue.pending.append(record)
        if not queue.running:
            queue.running = True
            self._idle.clear()
            self._workers.spawn(self._drain(call_id, queue), call_id)
        return record

    @property
    def busy(self) -> bool:
        """Whether any callback is queued or being delivered."""
        return not self._idle.is_set()

    async def wait_idle(self) -> None:
        """Return once every queued callback has been delivered or given up (bound it yourself)."""
        await self._idle.wait()

    async def _drain(self, call_id: str, queue: _CallQueue) -> None:
        try:
            while queue.pending:
                record = queue.pending[0]
                held = self._faults.hold()
                if held:
                    record.held_for = held
                    await asyncio.sleep(held)
                await self._deliver(record)
                if self._faults.duplicate():
                    copy = self._journal.callback(
                        call_id, record.url, record.event, record.body, duplicate_of=record.seq,
                        headers=record.headers, signed=record.signed,
                    )
                    await self._deliver(copy)
                queue.pending.popleft()
        finally:
            queue.running = False
            if not queue.pending:
                self._queues.pop(call_id, None)
            for record in queue.pending:
                if record.status == "queued":
                    record.status = "dropped"
            if not any(q.running for q in self._queues.values()):
                self._idle.set()

    async def _deliver(self, record: CallbackRecord) -> None:
        record.status = "delivering"
        try:
            await self._attempts(record)
        except asyncio.CancelledError:
            record.status = "dropped"
            raise

    async def _attempts(self, record: CallbackRecord) -> None:
        for attempt in range(1, self.config.max_attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self.config.delay_before(attempt))
            status = await self._attempt(record)
            if status is not None and 200 <= status < 300:
                record.status = "delivered"
                record.delivered_at = self._journal.now()[0]
                return
            if status in FINAL_STATUSES:
                record.status = "rejected"
                log.warning("callback %s rejected by the receiver with %s", record.seq, status)
                return
        record.status = "failed"
        log.warning(
            "callback %s (%s) not delivered after %d attempts",
            record.seq,
            record.event_type,
            self.config.max_attempts,
        )

    async def _attempt(self, record: CallbackRecord) -> int | None:
        if self._client is None:
            raise RuntimeError("delivery used outside the emulator's lifespan")
        at, t = self._journal.now()
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        headers = {**HEADERS, **record.headers}
        if record.signed and self._authorize:
            headers.update(self._authorize())
        try:
            response = await self._client.post(
                record.url, content=record.body, headers=headers, timeout=self.config.timeout
            )
            status = response.status_code
        except httpx2.TimeoutException:
            error = "timeout"
        except httpx2.HTTPError as exc:
            # the exception text may quote the URL, whose query holds the receiver's secret
            error = type(exc).__name__
        record.attempts.append(Attempt(at, t, status, error, time.monotonic() - started))
        return status

    def cancel(self) -> None:
        """Stop every queue at once; what was not delivered is marked dropped."""
        self._workers.cancel()

    async def close(self) -> None:
        """Stop every queue and wait for the workers to finish."""
        await self._workers.close()
        self._queues.clear()
        self._idle.set()
