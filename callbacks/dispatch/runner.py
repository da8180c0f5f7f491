"""One event's turn: run the handlers it is still owed, record the outcome, say when to retry.

:class:`EventRunner` is the part of the dispatcher that touches handlers. Given an unfinished
event from the log, it runs every matching handler that has not already succeeded on it (a run
that already succeeded is never repeated, also after ``callbacks events retry``), records one
outcome per run and the event's new status with ``finish``, and returns the retry delay when a
handler failed:

- all succeed -> ``done``;
- some fail -> ``failed``, to run again after :meth:`DispatchConfig.retry_delay`;
- still failing after ``max_attempts`` runs -> ``dead``;
- failed for good (:mod:`callbacks.dispatch.failures`) and nothing else to retry -> ``dead`` at
  once; a handler that failed for good is not run again in this round of attempts.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime

from callbacks.context import ContextFactory
from callbacks.dispatch.config import DispatchConfig
from callbacks.dispatch.failures import is_permanent
from callbacks.events.base import Event
from callbacks.events.parse import parse_event_element
from callbacks.routing import Route, Router, named_routes, run_route
from callbacks.server.deadline import deadline
from callbacks.server.metrics import Metrics
from callbacks.store.base import EventStatus, EventStore, Outcome, PendingEvent
from callbacks.store.records import PERMANENT

log = logging.getLogger("callbacks.dispatch")

DISPATCH_HANDLER = "callbacks.dispatch"
"""The handler name of an event the dispatcher itself could not parse or match (then dead)."""


class EventRunner:
    """Runs the handlers an event is owed and records the result in the log."""

    def __init__(
        self,
        store: EventStore,
        router: Router,
        make_context: ContextFactory,
        config: DispatchConfig,
        owner: str,
        metrics: Metrics,
    ) -> None:
        self._store = store
        self._router = router
        self._make_context = make_context
        self._config = config
        self._owner = owner
        self._metrics = metrics
        # Events this process parsed on the way in, so a run need not parse them again.
        self._parsed: OrderedDict[str, Event] = OrderedDict()

    def remember(self, events: Sequence[Event]) -> None:
        """Keep the parsed form of freshly logged events for their run (bounded)."""
        parsed = self._parsed
        for event in events:
            parsed[self._store.stored_text(event.identity)] = event  # runs come with the log's id
        while len(parsed) > self._config.parsed_cache:
            parsed.popitem(last=False)

    async def run(self, item: PendingEvent) -> float | None:
        """Run the handlers still owed on ``item``, record it; the retry delay if it failed.

        Raises what ``finish`` raises (``ClaimLost``, ``StoreError``): the caller stops work
        on the call, and the event runs again under the next claim.
        """
        try:
            cached = self._parsed.pop(item.id, None)
            event = cached if cached is not None and cached.raw == item.raw else (
                parse_event_element(item.raw)
            )
            routes = self._router.match(event)
        except Exception as exc:  # the log holds it, but this program cannot read it any more
            log.error("event %s cannot be dispatched: %s", item.id, exc)
            outcome = Outcome(
                DISPATCH_HANDLER, item.attempts + 1, _error(exc), 0.0, _now(), self._owner
            )
            await self._store.finish(self._owner, item.seq, EventStatus.DEAD, [outcome])
            self._metrics.event_finished(EventStatus.DEAD)
            return None
        if item.attempts == 0:
            self._metrics.dispatch_started(item.received_at.timestamp())
        succeeded = {o.handler for o in item.outcomes if o.ok}
        given_up = _given_up(item)
        runs = Counter(o.handler for o in item.outcomes)
        outcomes: list[Outcome] = []
        skipped_for_good = False
        for name, route in named_routes(routes):
            logged = self._store.stored_text(name)  # earlier outcomes name it so
            if logged in succeeded:
                continue
            if logged in given_up:
                skipped_for_good = True
                continue
            attempt = runs[logged] + 1
            error, duration = await self._run_handler(route, event, attempt, item)
            self._metrics.handler_ran(name, error is None, duration)
            outcomes.append(Outcome(name, attempt, error, duration, _now(), self._owner))
        attempts = item.attempts + 1
        if any(not o.ok and not o.permanent for o in outcomes):
            failed_for_now = attempts < self._config.max_attempts
            status = EventStatus.FAILED if failed_for_now else EventStatus.DEAD
        elif skipped_for_good or any(o.permanent for o in outcomes):
            status = EventStatus.DEAD  # nothing left to retry
        else:
            status = EventStatus.DONE
        await self._store.finish(self._owner, item.seq, status, outcomes)
        self._metrics.event_finished(status)
        _log_outcome(item, event, status, attempts, outcomes)
        return self._config.retry_delay(attempts) if status is EventStatus.FAILED else None

    async def _run_handler(
        self, route: Route, event: Event, attempt: int, item: PendingEvent
    ) -> tuple[str | None, float]:
        """(error or None, duration) of one handler run; never raises but for cancellation."""
        started = time.perf_counter()
        try:
            ctx = self._make_context(event, route, attempt, item.path_context, item.received_at)
        except Exception as exc:
            log.exception("building the context for %s on %s failed", route.name, event.identity)
            return _error(exc), time.perf_counter() - started
        try:
            with deadline(self._config.handler_timeout):
                outcome = await run_route(route, event, ctx)
        except TimeoutError:
            log.error("handler %s timed out on event %s", route.name, event.identity)
            limit = self._config.handler_timeout
            return f"TimeoutError: still running after {limit} s", time.perf_counter() - started
        error = outcome.error
        if error is not None and outcome.exception is not None and is_permanent(
            outcome.exception
        ):
            error += PERMANENT
        return error, outcome.duration


def _given_up(item: PendingEvent) -> set[str]:
    """Handlers whose latest run on ``item`` failed for good in this round of attempts.

    A new round (``events retry`` sets the attempts back to 0) runs them again: the user has
    fixed what made them fail, or wants to see it fail again.
    """
    if item.attempts == 0:
        return set()
    latest = {o.handler: o for o in item.outcomes}  # outcomes come in the order runs finished
    return {handler for handler, outcome in latest.items() if outcome.permanent}


_LEVELS = {
    # A handled event is in the log already (`callbacks events`, the console); its line cost
    # ~30 us of the dispatcher per event (a sixth of its CPU at full load, bench/pairs.py), so
    # it is written at debug. Failures stay visible at the default level.
    EventStatus.DONE: logging.DEBUG,
    EventStatus.FAILED: logging.WARNING,
    EventStatus.DEAD: logging.ERROR,
}


def _log_outcome(
    item: PendingEvent,
    event: Event,
    status: EventStatus,
    attempts: int,
    outcomes: Sequence[Outcome],
) -> None:
    """One line per recorded run of an event (JSON fields in ``extra``): at debug when it is
    done, warning when it failed, error when it is dead."""
    level = _LEVELS[status]
    if not log.isEnabledFor(level):
        return
    failed = [o.handler for o in outcomes if not o.ok]
    took = sum(o.duration for o in outcomes) * 1000
    log.log(
        level,
        "event %s (%s, call %s) %s after run %d: %d handler(s) in %.1f ms%s",
        item.id, event.type, event.call_id, status.value, attempts, len(outcomes), took,
        f", failed: {', '.join(failed)}" if failed else "",
        extra={
            "event_id": item.id, "event_type": event.type, "call_id": event.call_id,
            "status": status.value, "attempt": attempts, "handlers": len(outcomes),
            "duration_ms": round(took, 3), "failed_handlers": ",".join(failed) or None,
        },
    )


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _now() -> datetime:
    return datetime.now(UTC)
