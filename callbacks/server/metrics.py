"""Prometheus metrics of one service instance, served at ``GET /metrics``.

Each :class:`Metrics` owns its own registry (never prometheus' global one), so tests and embedders
can build several apps in one process. The hot paths only increment counters whose labelled
children are cached here, and observe histograms: about a microsecond per request or event.
The gauges of the event log (events by status, calls with work) come from
:meth:`~callbacks.store.base.EventStore.stats` at scrape time, cached for ``stats_ttl`` seconds,
because counting a large log is a scan.

Series (all prefixed ``callbacks_``)::

    events_received_total{type,dialect}      events in requests that were acknowledged
    events_duplicate_total                   of those, already logged (not stored again)
    requests_rejected_total{status,reason}   error answers, by status and error code
    log_commit_seconds                       submit to commit (group commit included)
    dispatch_lag_seconds                     received to handler start (first run of an event)
    handler_runs_total{handler,outcome}      ok | failed
    handler_duration_seconds{handler}
    event_retries_total                      events scheduled to run again after a failure
    events_dead_total                        events given up on
    rest_requests_total{operation,status}    every attempt; status "error" when no answer came
    rest_request_seconds{operation}          to the response headers
    rest_retries_total{operation}            attempts after the first
    log_events{status}, events_pending, calls_with_work, log_up    (gauges, from the log)
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Self

import httpx2
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.samples import Sample

from callbacks.events.base import Event
from callbacks.events.types import UnknownEvent
from callbacks.store.records import EventStatus, Receipt, StoreError, StoreStats, utf8_text

__all__ = ["Metrics", "ObservedTransport", "rest_operation"]

log = logging.getLogger("callbacks.metrics")

_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_SLOW = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_MAX_UNKNOWN_TYPES = 32
"""Distinct labels kept for event types this program does not know; the rest are "other"."""
_OPERATIONS = {
    "calls": "create_call",
    "hangup": "hang_up",
    "playaudio": "play_media",
    "cancelmediaprocessing": "cancel_all_media_operations",
    "participants": "add_participant",
}
"""The 2021 paths' operations, for a request that does not name its own (see below)."""

StatsSource = Callable[[], Awaitable[StoreStats]]


def rest_operation(method: str, path: str, named: object = None) -> str:
    """The client operation of a Call Automation request (bounded label set): the name the
    client gave it (``named``, one of its method names), else read from a 2021 path."""
    if isinstance(named, str) and named.isidentifier() and len(named) <= 40:
        return named
    segments = path.rstrip("/").split("/")
    if method == "DELETE":
        return "remove_participant" if "participants" in segments[:-1] else "other"
    return _OPERATIONS.get(segments[-1].lower(), "other") if method == "POST" else "other"


class Metrics:
    """The service's counters, histograms and gauges, in a registry of their own."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        stats_ttl: float = 15.0,
        stats_timeout: float = 2.0,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.stats_ttl = stats_ttl
        """Seconds the log's counts are reused between scrapes."""
        self.stats_timeout = stats_timeout
        """Longest a scrape waits for the log's counts (then it serves the last ones)."""
        r = self.registry
        self._received = Counter(
            "callbacks_events_received", "Events in acknowledged requests, by type and dialect.",
            ["type", "dialect"], registry=r,
        )
        self._duplicates = Counter(
            "callbacks_events_duplicate", "Acknowledged events that were already logged.",
            registry=r,
        )
        self._rejected = Counter(
            "callbacks_requests_rejected", "Requests answered with an error, by status and code.",
            ["status", "reason"], registry=r,
        )
        self._commit = Histogram(
            "callbacks_log_commit_seconds", "From submitting events to their commit in the log.",
            buckets=_FAST, registry=r,
        )
        self._lag = Histogram(
            "callbacks_dispatch_lag_seconds", "From receiving an event to its first handler run.",
            buckets=_SLOW, registry=r,
        )
        self._runs = Counter(
            "callbacks_handler_runs", "Handler runs, by handler and outcome (ok, failed).",
            ["handler", "outcome"], registry=r,
        )
        self._duration = Histogram(
            "callbacks_handler_duration_seconds", "How long handler runs took.",
            ["handler"], buckets=_SLOW, registry=r,
        )
        self._retries = Counter(
            "callbacks_event_retries", "Events scheduled to run again after a failed run.",
            registry=r,
        )
        self._dead = Counter(
            "callbacks_events_dead", "Events given up on after their last failed run.",
            registry=r,
        )
        self._rest = Counter(
            "callbacks_rest_requests", "Call Automation REST attempts, by operation and status.",
            ["operation", "status"], registry=r,
        )
        self._rest_seconds = Histogram(
            "callbacks_rest_request_seconds", "REST attempts, until the response headers.",
            ["operation"], buckets=_FAST, registry=r,
        )
        self._rest_retries = Counter(
            "callbacks_rest_retries", "REST attempts after the first, by operation.",
            ["operation"], registry=r,
        )
        self._by_status = Gauge(
            "callbacks_log_events", "Events in the log, by status (from the log, cached).",
            ["status"], registry=r,
        )
        self._pending = Gauge(
            "callbacks_events_pending", "Events not finished yet: pending or failed (retrying).",
            registry=r,
        )
        self._calls = Gauge(
            "callbacks_calls_with_work", "Calls with unfinished events.", registry=r
        )
        self._log_up = Gauge(
            "callbacks_log_up", "1 if the last read of the log's counts succeeded.", registry=r
        )
        self._children: dict[tuple[object, ...], Counter] = {}
        self._durations: dict[str, Histogram] = {}
        self._unknown_types: set[str] = set()
        self._stats: StatsSource | None = None
        self._stats_at = -float("inf")
        self._stats_lock = asyncio.Lock()
        self._remote: list[Metric] | None = None
        self._retired: list[Metric] = []

    # -- the endpoint --

    def received(self, events: Sequence[Event], receipt: Receipt) -> None:
        """Count the events of an acknowledged request."""
        children = self._children
        for event in events:
            key = ("received", event.type, event.dialect)
            child = children.get(key)
            if child is None:
                label = self._type_label(event)
                child = self._received.labels(label, str(event.dialect))
                if label != "other":  # bounded: known types and the first unknown ones
                    children[key] = child
            child.inc()
        if receipt.duplicates:
            self._duplicates.inc(receipt.duplicates)

    def _type_label(self, event: Event) -> str:
        if not isinstance(event, UnknownEvent):
            return event.type
        # Unknown types come from the payload: bound the label set an attacker could grow, and
        # make it UTF-8 (a lone surrogate, escaped in the JSON, would fail every later scrape).
        if event.type in self._unknown_types or len(self._unknown_types) < _MAX_UNKNOWN_TYPES:
            self._unknown_types.add(event.type)
            return utf8_text(event.type)
        return "other"

    def rejected(self, status: int, reason: str) -> None:
        """Count an error answer (``reason`` is the stable error code)."""
        self._child(self._rejected, "rejected", str(status), reason).inc()

    def _child(self, metric: Counter, *labels: str) -> Counter:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = metric.labels(*labels[1:])
        return child

    # -- the dispatcher --

    def committed(self, seconds: float) -> None:
        """Observe how long a submit waited for its commit."""
        self._commit.observe(seconds)

    def dispatch_started(self, received_at: float) -> None:
        """Observe the lag of an event's first run (``received_at`` in epoch seconds)."""
        self._lag.observe(max(0.0, time.time() - received_at))

    def handler_ran(self, handler: str, ok: bool, seconds: float) -> None:
        """Count one handler run and observe its duration."""
        self._child(self._runs, "run", handler, "ok" if ok else "failed").inc()
        histogram = self._durations.get(handler)
        if histogram is None:
            histogram = self._durations[handler] = self._duration.labels(handler)
        histogram.observe(seconds)

    def event_finished(self, status: EventStatus) -> None:
        """Count a retry scheduled (``failed``) or an event given up on (``dead``)."""
        if status is EventStatus.FAILED:
            self._retries.inc()
        elif status is EventStatus.DEAD:
            self._dead.inc()

    # -- the REST client --

    def rest_attempt(self, operation: str, status: str, seconds: float, retry: bool) -> None:
        """Count one REST attempt (``status`` is the HTTP status, or "error")."""
        self._child(self._rest, "rest", operation, status).inc()
        histogram = self._durations.get("\x00" + operation)
        if histogram is None:
            histogram = self._durations["\x00" + operation] = self._rest_seconds.labels(operation)
        histogram.observe(seconds)
        if retry:
            self._child(self._rest_retries, "rest_retry", operation).inc()

    def transport(self, inner: httpx2.AsyncBaseTransport) -> ObservedTransport:
        """``inner`` wrapped so that every attempt through it is counted here."""
        return ObservedTransport(inner, self)

    # -- scraping --

    def watch_log(self, stats: StatsSource) -> None:
        """Read the log's gauges from ``stats`` at scrape time (at most every ``stats_ttl``)."""
        self._stats = stats

    async def refresh(self) -> None:
        """Update the log's gauges if they are older than ``stats_ttl``; never raises."""
        if self._stats is None or time.monotonic() - self._stats_at < self.stats_ttl:
            return
        async with self._stats_lock:
            if time.monotonic() - self._stats_at < self.stats_ttl:
                return  # a concurrent scrape just did it
            try:
                async with asyncio.timeout(self.stats_timeout):
                    stats = await self._stats()
            except (StoreError, TimeoutError) as exc:
                log.debug("cannot read the log's counts for /metrics: %s", exc)
                self._log_up.set(0)
                return
            finally:
                self._stats_at = time.monotonic()
        for status in EventStatus:
            self._by_status.labels(status.value).set(stats.by_status.get(status.value, 0))
        unfinished = (EventStatus.PENDING.value, EventStatus.FAILED.value)
        self._pending.set(sum(stats.by_status.get(s, 0) for s in unfinished))
        self._calls.set(stats.calls_with_work)
        self._log_up.set(1)

    async def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """(body, content type) of a scrape, in the format ``accept`` asks for."""
        await self.refresh()
        encode, content_type = choose_encoder(accept or "")
        remote = [*self._retired, *(self._remote or ())]
        if not remote:
            return encode(self.registry), content_type
        return encode(_Merged(self.registry, remote)), content_type

    # -- another process's metrics (the dispatcher process) --

    def snapshot(self) -> list[Any]:
        """Every sample of this registry, as JSON, for :meth:`merge_remote` in another process."""
        return [
            [m.name, m.documentation, m.type, m.unit,
             [[s.name, s.labels, s.value] for s in m.samples]]
            for m in self.registry.collect()
        ]

    def merge_remote(self, snapshot: list[Any]) -> None:
        """Add ``snapshot`` (the latest of another process) to every scrape from now on."""
        families = []
        for name, documentation, kind, unit, samples in snapshot:
            family = Metric(str(name), str(documentation), str(kind), str(unit))
            for sample_name, labels, value in samples:
                family.add_sample(str(sample_name), dict(labels), float(value))
            families.append(family)
        self._remote = families

    def retire_remote(self) -> None:
        """The other process ended: keep its last counts, so that a successor's add to them
        and no counter goes backwards."""
        if self._remote:
            self._retired = list(_Merged(None, [*self._retired, *self._remote]).collect())
        self._remote = None


class _Merged:
    """A registry's families with another process's added: counters, histogram buckets and
    gauges summed per series (the two processes count different things), ``_created`` the
    earlier of the two."""

    def __init__(self, registry: CollectorRegistry | None, remote: list[Metric]) -> None:
        self._registry = registry
        self._remote = remote

    def collect(self) -> Iterator[Metric]:
        """The merged families."""
        merged: dict[str, Metric] = {}
        local = self._registry.collect() if self._registry is not None else ()
        for family in [*local, *self._remote]:
            into = merged.get(family.name)
            if into is None:
                copy = Metric(family.name, family.documentation, family.type, family.unit)
                copy.samples = list(family.samples)
                merged[family.name] = copy
            else:
                into.samples = _merge_samples(into.samples, family.samples)
        yield from merged.values()


def _merge_samples(ours: list[Sample], theirs: list[Sample]) -> list[Sample]:
    merged = list(ours)
    index = {(s.name, tuple(sorted(s.labels.items()))): i for i, s in enumerate(merged)}
    for sample in theirs:
        key = (sample.name, tuple(sorted(sample.labels.items())))
        at = index.get(key)
        if at is None:
            index[key] = len(merged)
            merged.append(sample)
        elif sample.name.endswith("_created"):
            merged[at] = merged[at]._replace(value=min(merged[at].value, sample.value))
        else:
            merged[at] = merged[at]._replace(value=merged[at].value + sample.value)
    return merged


class ObservedTransport(httpx2.AsyncBaseTransport):
    """A transport that counts each attempt (operation, status, time) in :class:`Metrics`.

    The REST client re-sends the same request object on a retry, which is how a retry is told
    apart from a first attempt.
    """

    def __init__(self, inner: httpx2.AsyncBaseTransport, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics
        self._sent: weakref.WeakSet[httpx2.Request] = weakref.WeakSet()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send through the wrapped transport and count the attempt."""
        operation = rest_operation(
            request.method, request.url.path, request.extensions.get("operation")
        )
        retry = request in self._sent
        if not retry:
            self._sent.add(request)
        started = time.perf_counter()
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            self._metrics.rest_attempt(operation, "error", time.perf_counter() - started, retry)
            raise
        elapsed = time.perf_counter() - started
        self._metrics.rest_attempt(operation, str(response.status_code), elapsed, retry)
        return response

    async def __aenter__(self) -> Self:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self._inner.__aexit__(exc_type, exc_value, traceback)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()
