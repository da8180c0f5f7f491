"""GET /metrics: what the endpoint, the dispatcher and the REST client count, per app.

Every test reads the real Prometheus exposition the app serves (parsed with prometheus-client's
own parser), so a renamed series or a label that stops being set fails here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.testclient import TestClient

from callbacks.client.automation import CallAutomationClient
from callbacks.client.errors import NoResponse
from callbacks.client.retry import RetryPolicy
from callbacks.context import Context
from callbacks.dispatch.dispatcher import DispatchConfig, Dispatcher
from callbacks.events import Event
from callbacks.routing import Route as RouteMatch
from callbacks.routing import Router
from callbacks.server.app import create_app
from callbacks.server.auth import SecretAuthenticator
from callbacks.server.intake import IntakeUnavailable
from callbacks.server.limits import Limits
from callbacks.server.metrics import Metrics, rest_operation
from callbacks.store import EventStatus, Receipt, StoreError, StoreStats, open_store
from callbacks.testing import InProcessIntake
from tests.support.dispatch import context, settled
from tests.support.log_bodies import ga_body, ga_events
from tests.support.samples import sample_bytes

SECRET = "metrics-test-secret"
URL = f"/api/callbacks?secret={SECRET}"
JSON = {"content-type": "application/json"}


def value(exposition: str, name: str, **labels: str) -> float:
    """The sample ``name`` with exactly ``labels`` in ``exposition``; 0 when absent."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def label_values(exposition: str, name: str, label: str) -> set[str]:
    """Every value ``label`` takes on the samples of ``name``."""
    return {
        sample.labels[label]
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name and label in sample.labels
    }


def no_context(
    event: Event, route: RouteMatch, attempt: int, path: str | None, received: Any = None
) -> Any:
    return None


class DownIntake:
    """An intake whose event log is down."""

    async def start(self) -> None:
        """Nothing to open."""

    async def submit(self, events: Sequence[Event], path_context: str | None) -> Receipt:
        """Refuse."""
        raise IntakeUnavailable("store down")

    async def ready(self) -> bool:
        """Never ready."""
        return False

    async def stop(self) -> None:
        """Nothing to close."""


def build(intake: Any = None, metrics: Metrics | None = None) -> Starlette:
    intake = intake or InProcessIntake(Router(), no_context)
    limits = Limits(body_bytes=4096)
    return create_app(intake, SecretAuthenticator(SECRET), limits=limits, metrics=metrics)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(build()) as test_client:
        yield test_client


def scrape(client: TestClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def test_received_events_are_counted_by_type_and_dialect_and_duplicates_apart(
    client: TestClient,
) -> None:
    assert client.post(URL, content=ga_body("call-1", 1, 2), headers=JSON).status_code == 200
    body = sample_bytes("preview2021", "PlayAudioResult")
    assert client.post(URL, content=body, headers=JSON).json() == {"accepted": 1, "duplicates": 0}
    assert client.post(URL, content=body, headers=JSON).json() == {"accepted": 0, "duplicates": 1}
    text = scrape(client)
    received = "callbacks_events_received_total"
    assert value(text, received, type="PlayCompleted", dialect="ga") == 2
    assert value(text, received, type="PlayAudioResult", dialect="preview2021") == 2
    assert value(text, "callbacks_events_duplicate_total") == 1


def test_rejections_are_counted_by_status_and_code(client: TestClient) -> None:
    good = ga_body("call-1", 1)
    answers = [
        client.post("/api/callbacks?secret=wrong", content=good, headers=JSON),
        client.post("/api/callbacks", content=good, headers=JSON),
        client.post(URL, content=b"{not json", headers=JSON),
        client.post(URL, content=good, headers={"content-type": "text/plain"}),
        client.post(URL, content=b"[" + b" " * 5000 + b"]", headers=JSON),
        client.get("/nowhere"),
    ]
    assert [a.status_code for a in answers] == [401, 401, 400, 415, 413, 404]
    text = scrape(client)
    rejected = "callbacks_requests_rejected_total"
    counted = {
        (s.labels["status"], s.labels["reason"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == rejected
    }
    expected = {(str(a.status_code), a.json()["code"]) for a in answers}
    assert set(counted) == expected
    assert sum(counted.values()) == len(answers)
    assert value(text, "callbacks_events_received_total", type="PlayCompleted", dialect="ga") == 0


def test_a_log_outage_is_counted_as_503_unavailable() -> None:
    with TestClient(build(DownIntake())) as client:
        assert client.post(URL, content=ga_body("c", 1), headers=JSON).status_code == 503
        text = scrape(client)
    assert value(text, "callbacks_requests_rejected_total", status="503", reason="unavailable") == 1
    assert value(text, "callbacks_events_received_total", type="PlayCompleted", dialect="ga") == 0


def test_each_app_has_its_own_registry() -> None:
    with TestClient(build()) as first, TestClient(build()) as second:
        first.post(URL, content=ga_body("call-1", 1), headers=JSON)
        counted = "callbacks_events_received_total"
        assert value(scrape(first), counted, type="PlayCompleted", dialect="ga") == 1
        assert value(scrape(second), counted, type="PlayCompleted", dialect="ga") == 0


def test_unknown_types_get_a_bounded_set_of_labels(client: TestClient) -> None:
    elements = [
        {"id": f"u{n}", "type": f"Contoso.Type{n}", "specversion": "1.0", "source": "x",
         "data": {}}
        for n in range(40)
    ]
    for element in elements:
        assert client.post(URL, content=json.dumps(element), headers=JSON).status_code == 200
    types = label_values(scrape(client), "callbacks_events_received_total", "type")
    assert len(types) == 33 and "other" in types


def test_a_type_with_a_lone_surrogate_does_not_break_the_scrape(client: TestClient) -> None:
    element = '{"id":"sur1","type":"A.\\ud800","source":"s","specversion":"1.0","data":{}}'
    assert client.post(URL, content=element, headers=JSON).status_code == 200
    types = label_values(scrape(client), "callbacks_events_received_total", "type")
    assert types == {"\\ud800"}  # the escape as text, like the log's columns
    assert client.get("/metrics").status_code == 200  # and every scrape after it


def test_openmetrics_is_served_when_asked_for(client: TestClient) -> None:
    response = client.get("/metrics", headers={"accept": "application/openmetrics-text"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


# --- the dispatcher ------------------------------------------------------------------------------


async def test_dispatcher_counts_runs_outcomes_retries_dead_lag_and_commits(
    tmp_path: Path,
) -> None:
    metrics = Metrics()
    router = Router()

    @router.on("PlayCompleted")
    async def fine(event: Event, ctx: Context) -> None:
        """Always succeeds."""

    @router.on("PlayCompleted", call_id="call-bad")
    async def broken(event: Event, ctx: Context) -> None:
        """Always fails."""
        raise RuntimeError("no")

    config = DispatchConfig(backoff=0.01, poll_interval=0.02, max_attempts=3, stop_timeout=2)
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    dispatcher = Dispatcher(store, router, context, config, metrics=metrics)
    await dispatcher.start()
    try:
        await dispatcher.submit(ga_events("call-ok", 1, 2), None)
        await dispatcher.submit(ga_events("call-bad", 1), None)
        await settled(store, "call-ok/2", EventStatus.DONE)
        await settled(store, "call-bad/1", EventStatus.DEAD)
    finally:
        await dispatcher.stop()  # counted right after the log write the test saw: let it finish
    text = (await metrics.exposition())[0].decode()
    fine_name, broken_name = (route.name for route in router.match(ga_events("call-bad", 1)[0]))
    runs = "callbacks_handler_runs_total"
    assert value(text, runs, handler=fine_name, outcome="ok") == 3
    assert value(text, runs, handler=broken_name, outcome="failed") == 3
    assert value(text, runs, handler=broken_name, outcome="ok") == 0
    assert value(text, "callbacks_handler_duration_seconds_count", handler=fine_name) == 3
    assert value(text, "callbacks_event_retries_total") == 2
    assert value(text, "callbacks_events_dead_total") == 1
    assert value(text, "callbacks_log_commit_seconds_count") == 2
    # The lag is observed on the first run of each event only, not on its retries.
    assert value(text, "callbacks_dispatch_lag_seconds_count") == 3
    assert value(text, "callbacks_dispatch_lag_seconds_bucket", le="+Inf") == 3
    assert value(text, "callbacks_dispatch_lag_seconds_sum") < 5


async def test_log_gauges_come_from_the_log_cached_and_survive_an_outage(
    tmp_path: Path,
) -> None:
    reads: list[int] = []
    down = False

    async with open_store(f"sqlite:///{tmp_path / 'log.db'}") as store:
        await store.append(ga_events("call-1", 1, 2, 3), None)

        async def stats() -> StoreStats:
            reads.append(1)
            if down:
                raise StoreError("the event log is unavailable")
            return await store.stats()

        metrics = Metrics(stats_ttl=60)
        metrics.watch_log(stats)
        text = (await metrics.exposition())[0].decode()
        assert value(text, "callbacks_events_pending") == 3
        assert value(text, "callbacks_log_events", status="pending") == 3
        assert value(text, "callbacks_log_events", status="done") == 0
        assert value(text, "callbacks_calls_with_work") == 1
        assert value(text, "callbacks_log_up") == 1
        await store.append(ga_events("call-2", 1), None)
        text = (await metrics.exposition())[0].decode()
        assert value(text, "callbacks_events_pending") == 3, "cached within stats_ttl"
        assert len(reads) == 1

        metrics.stats_ttl = 0
        down = True
        text = (await metrics.exposition())[0].decode()
        assert value(text, "callbacks_log_up") == 0
        assert value(text, "callbacks_events_pending") == 3, "last known value kept"
        down = False
        text = (await metrics.exposition())[0].decode()
        assert value(text, "callbacks_events_pending") == 4
        assert value(text, "callbacks_log_up") == 1


# --- the REST client ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("POST", "/calls", "create_call"),
        ("POST", "/calling/calls", "create_call"),
        ("POST", "/calls/abc/PlayAudio", "play_media"),
        ("POST", "/calling/calls/abc/playAudio", "play_media"),
        ("POST", "/calls/abc/Hangup", "hang_up"),
        ("POST", "/calls/abc/CancelMediaProcessing", "cancel_all_media_operations"),
        ("POST", "/calls/abc/participants", "add_participant"),
        ("DELETE", "/calls/abc/participants/p1", "remove_participant"),
        ("DELETE", "/calls/abc", "other"),
        ("GET", "/calls/abc/PlayAudio", "other"),
        ("POST", "/calls/abc/Something", "other"),
    ],
)
def test_rest_operations_have_a_bounded_label_set(method: str, path: str, operation: str) -> None:
    assert rest_operation(method, path) == operation


def test_a_request_that_names_its_operation_is_counted_under_that_name() -> None:
    assert rest_operation("POST", "/calling/callConnections/x:play", "play_media") == "play_media"
    assert rest_operation("POST", "/calls/abc/Hangup", "not an identifier!") == "hang_up"
    assert rest_operation("POST", "/calls/abc/Hangup", "x" * 41) == "hang_up"


async def no_sleep(seconds: float) -> None:
    return None


async def test_rest_attempts_are_counted_by_operation_and_status_with_retries() -> None:
    answers = iter([503, 202, 202])
    fail_next = {"on": False}

    async def service(request: httpx2.Request) -> httpx2.Response:
        if fail_next["on"]:
            raise httpx2.ConnectError("refused", request=request)
        status = next(answers)
        body = {"operationId": "op", "status": "running", "operationContext": None}
        return httpx2.Response(status, json=body if status == 202 else {"error": {}})

    metrics = Metrics()
    key = "a2V5"  # base64 of "key"
    async with CallAutomationClient(
        "https://acs.example", key, api_version="2021-overview",
        transport=metrics.transport(httpx2.MockTransport(service)),
        retry=RetryPolicy(attempts=2, sleep=no_sleep),
    ) as client:
        await client.get_call_connection("call-1").play_audio("https://example.com/a.wav")
        await client.get_call_connection("call-1").play_audio("https://example.com/b.wav")
        fail_next["on"] = True
        with pytest.raises(NoResponse):
            await client.get_call_connection("call-1").hangup()
    text = (await metrics.exposition())[0].decode()
    rest = "callbacks_rest_requests_total"
    assert value(text, rest, operation="play_media", status="503") == 1
    assert value(text, rest, operation="play_media", status="202") == 2
    assert value(text, rest, operation="hang_up", status="error") == 2
    assert value(text, "callbacks_rest_retries_total", operation="play_media") == 1
    assert value(text, "callbacks_rest_retries_total", operation="hang_up") == 1
    assert value(text, "callbacks_rest_request_seconds_count", operation="play_media") == 3



async def test_another_process_s_snapshot_is_merged_into_each_scrape() -> None:
    """--dispatch process: the child's counts are added to the server's, series by series,
    into valid exposition text (one family per name), in both formats."""
    server, child = Metrics(), Metrics()
    server.handler_ran("h", True, 0.01)  # e.g. a flow started through the API
    child.handler_ran("h", True, 0.02)
    child.handler_ran("h", False, 3.0)
    child.handler_ran("only.in.child", True, 0.5)
    child.event_finished(EventStatus.DEAD)
    server.merge_remote(json.loads(json.dumps(child.snapshot())))  # as it crosses the pipe
    body, _ = await server.exposition()
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    runs = {
        (s.labels["handler"], s.labels["outcome"]): s.value
        for s in families["callbacks_handler_runs"].samples if s.name.endswith("_total")
    }
    assert runs == {("h", "ok"): 2.0, ("h", "failed"): 1.0, ("only.in.child", "ok"): 1.0}
    durations = {
        (s.name, s.labels.get("handler"), s.labels.get("le")): s.value
        for s in families["callbacks_handler_duration_seconds"].samples
    }
    assert durations[("callbacks_handler_duration_seconds_count", "h", None)] == 3.0
    assert durations[("callbacks_handler_duration_seconds_bucket", "h", "0.025")] == 2.0
    assert durations[("callbacks_handler_duration_seconds_sum", "h", None)] == pytest.approx(3.03)
    assert families["callbacks_events_dead"].samples[0].value == 1.0
    assert body.decode().count("# TYPE callbacks_handler_runs_total counter") == 1
    openmetrics, content_type = await server.exposition("application/openmetrics-text")
    assert content_type.startswith("application/openmetrics-text")
    assert openmetrics.decode().rstrip().endswith("# EOF")
    assert openmetrics.decode().count("# EOF") == 1


async def test_a_restarted_process_s_counts_add_to_its_predecessor_s() -> None:
    server, first, second = Metrics(), Metrics(), Metrics()
    for _ in range(3):
        first.handler_ran("h", True, 0.01)
    server.merge_remote(first.snapshot())
    server.retire_remote()  # the first child died; the second counts from zero
    second.handler_ran("h", True, 0.01)
    server.merge_remote(second.snapshot())
    body, _ = await server.exposition()
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    (total,) = [s.value for s in families["callbacks_handler_runs"].samples
                if s.name.endswith("_total")]
    assert total == 4.0  # never below the 3 already scraped
