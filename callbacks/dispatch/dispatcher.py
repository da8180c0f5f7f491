"""The durable intake: log events, then run their handlers in the background, per call in order.

:class:`Dispatcher` is the :class:`~callbacks.server.intake.Intake` the endpoint uses with an event
log: ``submit`` returns after the commit, then wakes the dispatch loop. The loop claims calls with
work (a lease per call, so PostgreSQL replicas can share a log) and runs one worker per claimed
call, at most ``concurrency`` of them running handlers at once. A worker takes the call's
unfinished events in log order and hands each to :class:`~callbacks.dispatch.runner.EventRunner`,
which runs the handlers it is still owed and records the outcome:

- all succeed -> ``done``; the worker moves on to the call's next event;
- some fail -> ``failed``: the call is released with a backoff (its later events wait, other
  calls do not), and on the next claim only the failed handlers run again;
- still failing after ``max_attempts`` runs -> ``dead``, and the call's later events proceed.

A drained worker keeps its call for ``linger`` seconds, waiting for the call's next event:
under load that saves a claim, a release and a fruitless read per event. A lingering worker runs
nothing, so it holds no slot of ``concurrency``; at most :data:`HELD_PER_SLOT` times as many calls
are held, and when that many are, the lingering workers give theirs back.

Delivery is at least once: a run cut short by a crash or a shutdown timeout is run again.
Handlers make that safe with the REST client's deterministic repeatability ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from callbacks.context import ContextFactory
from callbacks.dispatch.config import DispatchConfig, default_owner
from callbacks.dispatch.leases import LeaseKeeper
from callbacks.dispatch.runner import DISPATCH_HANDLER, EventRunner
from callbacks.events.base import Event
from callbacks.routing import Router
from callbacks.server.intake import IntakeUnavailable
from callbacks.server.metrics import Metrics
from callbacks.store.base import ClaimLost, EventStore, StoreError
from callbacks.store.records import Receipt

__all__ = ["DISPATCH_HANDLER", "DispatchConfig", "Dispatcher", "default_owner"]

log = logging.getLogger("callbacks.dispatch")

HELD_PER_SLOT = 4
"""Calls held at most per slot of ``concurrency``, lingering workers included. With 100 calls
of one event every 0.33 s each and 64 slots, lingering workers that held slots gave their calls
back at every event: a claim and a release per event (bench/reaction.py)."""


class Dispatcher:
    """Event-log intake: durable ``submit``, background per-call dispatch with retries."""

    def __init__(
        self,
        store: EventStore,
        router: Router,
        make_context: ContextFactory,
        config: DispatchConfig | None = None,
        *,
        owner: str | None = None,
        metrics: Metrics | None = None,
        wait_for_log: bool = False,
    ) -> None:
        self.store = store
        self.config = config or DispatchConfig()
        self.owner = owner or default_owner()
        self.metrics = metrics if metrics is not None else Metrics()
        self.dispatched_elsewhere = False
        """Set when another process runs this log's handlers (``--dispatch process``): with
        concurrency 0 this one then has nothing to say about running none."""
        # True: a log that cannot be opened at start is retried in the background (503 and
        # not ready meanwhile) instead of failing start-up, e.g. a database still booting.
        self._wait_for_log = wait_for_log
        self._opening: asyncio.Task[None] | None = None
        self._runner = EventRunner(store, router, make_context, self.config, self.owner,
                                   self.metrics)
        self._wake = asyncio.Event()
        self._workers: dict[str | None, asyncio.Task[None]] = {}
        # A drained worker keeps its claim for ``linger`` seconds, woken by this call's new
        # events: under load that saves a claim, a release and a fruitless read per event.
        self._call_wakes: dict[str | None, _Doorbell] = {}
        self._lingering: set[str | None] = set()  # their workers wait for more, running nothing
        self._slots = asyncio.Semaphore(max(self.config.concurrency, 1))  # held while running
        self._evicting = False  # as many calls held as allowed: lingering workers give theirs
        self._starved = False  # the last look for work had no free slot, or filled them all
        self._running: set[asyncio.Task[None]] = set()  # workers still releasing included
        self._timers: list[asyncio.TimerHandle] = []
        self._loop_task: asyncio.Task[None] | None = None
        self._leases = LeaseKeeper(store, self.owner, self.config.lease, self._workers)
        self._accepting = False
        self._stopping = False
        self._stopped = False

    # -- the Intake protocol --

    async def start(self) -> None:
        """Open the log, take back this owner's stale claims, start dispatching.

        With ``wait_for_log``, a log that cannot be opened yet is retried in the background
        with backoff; until it opens, ``submit`` raises IntakeUnavailable and ``ready`` is False.
        """
        if self._loop_task is not None or self._opening is not None or self._stopped:
            raise RuntimeError("a Dispatcher starts once")
        try:
            await self._open()
        except StoreError as exc:
            if not self._wait_for_log:
                raise
            log.warning("cannot open the event log yet, retrying in the background: %s", exc)
            self._opening = asyncio.create_task(self._open_later(), name="callbacks-open-log")

    async def _open_later(self) -> None:
        delay = 0.5
        while not self._stopping:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            try:
                await self._open()
            except StoreError as exc:
                log.warning("still cannot open the event log (next try in %g s): %s", delay, exc)
            except Exception:  # a bug: keep trying rather than stay down for good
                log.exception("opening the event log failed")
            else:
                log.info("event log open; accepting events")
                return

    async def _open(self) -> None:
        await self.store.open()
        # Only a dispatching process takes back this owner's claims: under --dispatch process
        # the claims under our name are the child's, held for runs in progress.
        if self.config.concurrency and (recovered := await self.store.recover(self.owner)):
            log.info("took back %d call(s) left claimed by an earlier run", recovered)
        self._accepting = True
        if self.config.concurrency == 0:
            if not self.dispatched_elsewhere:
                log.info("this process logs events and runs no handlers (concurrency 0)")
            return
        self._loop_task = asyncio.create_task(self._dispatch_loop(), name="callbacks-dispatch")
        self._leases.start()

    async def submit(self, events: Sequence[Event], path_context: str | None) -> Receipt:
        """Log ``events``; return after the commit (duplicates counted, not stored)."""
        if not self._accepting:
            raise IntakeUnavailable("not accepting events (starting or shutting down)")
        started = time.perf_counter()
        try:
            receipt = await self.store.append(events, path_context)
        except StoreError as exc:
            raise IntakeUnavailable(str(exc)) from None
        self.metrics.committed(time.perf_counter() - started)
        if receipt.accepted and self.config.concurrency:
            self._runner.remember(events)
            self.notify([event.call_id for event in events])
        return receipt

    def notify(self, call_ids: Sequence[str | None]) -> None:
        """New events of these calls are in the log: wake their workers, or the claim loop."""
        wake_loop = False
        for call_id in call_ids:
            # Workers go by the call id as the log stores it: their claims come from there.
            call_wake = self._call_wakes.get(call_id and self.store.stored_text(call_id))
            if call_wake is None:
                wake_loop = True
            else:
                call_wake.ring()
        if wake_loop:
            self._wake.set()

    async def ready(self) -> bool:
        """Accepting, and the log can take writes."""
        return self._accepting and await self.store.ready()

    async def stop(self) -> None:
        """Refuse new events, let running handlers finish (up to ``stop_timeout``), release
        every call that is not finished, close the log. Unfinished events stay pending."""
        if self._stopped:
            return
        self._stopped = True
        self._accepting = False
        self._stopping = True
        self._wake.set()
        self._evict()
        for timer in self._timers:
            timer.cancel()
        if self._opening is not None:
            self._opening.cancel()
            await asyncio.gather(self._opening, return_exceptions=True)
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
        workers = list(self._running)
        if workers:
            _, late = await asyncio.wait(workers, timeout=self.config.stop_timeout)
            for task in late:
                log.warning("cancelling a handler run still going at shutdown; it will rerun")
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        await self._leases.stop()
        if self._loop_task is not None:
            try:
                await self.store.release_all(self.owner)
            except StoreError as exc:
                log.warning("could not release claims at shutdown (they expire): %s", exc)
        await self.store.close()

    # -- background work --

    def wake(self) -> None:
        """Look for work now (events logged by another process, a retry from the CLI)."""
        self._wake.set()

    async def _dispatch_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            held = len(self._workers)
            room = self.config.concurrency * HELD_PER_SLOT - held
            free = min(self.config.concurrency - (held - len(self._lingering)), room)
            self._starved = free <= 0
            if room <= 0:
                self._evict()
            elif free > 0:
                self._evicting = False
                asked = time.monotonic()  # the database starts the lease after this
                try:
                    claims = await self.store.claim_calls(self.owner, free, self.config.lease)
                except StoreError as exc:
                    log.warning("cannot claim calls now: %s", exc)
                    claims = []
                except Exception:  # a bug here must not end dispatching for good
                    log.exception("claiming calls failed")
                    claims = []
                self._starved = len(claims) == free
                for claim in claims:
                    if claim.previous is not None:
                        _log_takeover(claim.call_id, claim.previous, self.owner)
                    # A call we still work on comes back when its lease lapsed unrenewed;
                    # the claim renewed it, and a second worker would break its order.
                    if not self._stopping and claim.call_id not in self._workers:
                        self._spawn(claim.call_id)
                    if claim.call_id in self._workers:
                        self._leases.claimed(claim.call_id, asked)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.poll_interval):
                    await self._wake.wait()

    def _spawn(self, call_id: str | None) -> None:
        task = asyncio.create_task(self._work(call_id), name=f"callbacks-call-{call_id}")
        self._workers[call_id] = task
        self._running.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._running.discard(finished)
            if self._workers.get(call_id) is finished:
                del self._workers[call_id]
            self._wake.set()  # a slot is free
            if not finished.cancelled() and finished.exception() is not None:
                error = finished.exception()
                log.error("worker of call %s failed", call_id, exc_info=error)

        task.add_done_callback(done)

    async def _work(self, call_id: str | None) -> None:
        """Drain the call, then give it back (with a backoff if an event failed)."""
        me = asyncio.current_task()
        not_before: float | None = None
        try:
            not_before = await self._drain(call_id)
        except ClaimLost as exc:
            log.warning("stopped work on call %s: %s", call_id, exc)
            return  # someone else holds it now: nothing to give back
        except Exception as exc:  # store down, or a bug: give the call back, it runs again
            trace = not isinstance(exc, StoreError)
            log.error("work on call %s stopped: %s", call_id, exc, exc_info=trace)
        finally:
            # Forget this worker before the release: once released the call may be claimed
            # again, and the new claim must get a new worker.
            if self._workers.get(call_id) is me:
                del self._workers[call_id]
                self._leases.forget(call_id)
        try:
            more = await self.store.release(self.owner, call_id, not_before=not_before)
        except StoreError as exc:  # the lease expires and the call is taken again
            log.error("cannot release call %s: %s", call_id, exc)
            return
        if more and not_before is None:
            self._wake.set()

    async def _drain(self, call_id: str | None) -> float | None:
        """Run the call's events in log order until none is left, one needs a backoff (its
        not-before time is returned), or the dispatcher stops."""
        call_wake = self._call_wakes[call_id] = _Doorbell()
        await self._slots.acquire()
        running = True
        try:
            while not self._stopping:
                call_wake.rung = False
                batch = await self.store.next_events(call_id, self.config.batch)
                for item in batch:
                    if self._stopping:
                        return None
                    delay = await self._runner.run(item)
                    if delay is not None:
                        self._wake_later(delay)
                        return time.time() + delay
                if len(batch) < self.config.batch:
                    self._slots.release()
                    running = False
                    if not await self._linger(call_id, call_wake):
                        return None  # nothing more when read; release() checks again atomically
                    await self._slots.acquire()
                    running = True
            return None
        finally:
            if running:
                self._slots.release()
            if self._call_wakes.get(call_id) is call_wake:
                del self._call_wakes[call_id]

    async def _linger(self, call_id: str | None, call_wake: _Doorbell) -> bool:
        """Wait a little for more of this call's events, holding no slot; False to give the
        call back."""
        if call_wake.rung:
            return True
        if self._evicting or self.config.linger <= 0:
            return False
        self._lingering.add(call_id)
        if self._starved:
            self._wake.set()  # work may wait for the slot this worker just gave up
        try:
            await call_wake.wait(self.config.linger)
        finally:
            self._lingering.discard(call_id)
        return call_wake.rung and not self._stopping

    def _evict(self) -> None:
        """Lingering workers give their calls back (as many calls are held as allowed, or we
        stop)."""
        self._evicting = True
        for call_wake in self._call_wakes.values():
            call_wake.answer()

    def _wake_later(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self._timers = [t for t in self._timers if t.when() > loop.time()]
        self._timers.append(loop.call_later(delay, self._wake.set))


def _log_takeover(call_id: str | None, previous: str, owner: str) -> None:
    """One line (JSON fields in ``extra``) when this replica takes a call over from another."""
    log.warning(
        "took over call %s from replica %s, whose lease on it had expired", call_id, previous,
        extra={"call_id": call_id, "previous_replica": previous, "new_replica": owner,
               "takeover": True},
    )


class _Doorbell:
    """How a lingering worker learns of its call's new events: cheaper than an asyncio.Event,
    which would need a task per wait to be raced against eviction and a timeout."""

    __slots__ = ("_waiter", "rung")

    def __init__(self) -> None:
        self.rung = False
        """New events of the call were logged since the worker last read."""
        self._waiter: asyncio.Future[None] | None = None

    def ring(self) -> None:
        """New events: note it, and wake the worker if it waits."""
        self.rung = True
        self.answer()

    def answer(self) -> None:
        """Wake the worker if it waits (it then checks why)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, seconds: float) -> None:
        """Until rung or answered, for at most ``seconds``."""
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(seconds, _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
