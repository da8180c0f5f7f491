"""Retries: what is retried, how long the client waits, and that retries repeat the same ids."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx2
import pytest

from callbacks.client.automation import CallAutomationClient
from callbacks.client.errors import BadRequest, ClientError, NoResponse, ServerError, Throttled
from callbacks.client.hmac import verify
from callbacks.client.retry import RetryPolicy, retry_after

KEY = base64.b64decode("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
FIXED = datetime(2024, 1, 1, tzinfo=UTC)
CALL = "call-1"
Step = httpx2.Response | Exception


class FakeTime:
    """A monotonic clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


class Script:
    """A MockTransport handler that plays ``steps`` in order and keeps the requests."""

    def __init__(self, *steps: Step) -> None:
        self.steps: Iterator[Step] = iter(steps)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(snapshot(request))
        step = next(self.steps)
        if isinstance(step, Exception):
            raise step
        return step


def make(
    script: Script, time: FakeTime, *, attempts: int = 4, deadline: float = 30.0
) -> CallAutomationClient:
    retry = RetryPolicy(
        attempts=attempts, base_delay=0.5, max_delay=8.0, deadline=deadline,
        sleep=time.sleep, monotonic=time.monotonic, rand=lambda: 0.5,
    )
    return CallAutomationClient(
        "https://contoso.example", KEY, api_version="2021-overview",
        transport=httpx2.MockTransport(script), retry=retry, clock=lambda: FIXED,
    )


def snapshot(request: httpx2.Request) -> httpx2.Request:
    """A copy as sent: the client re-sends one request object, re-signed on each attempt."""
    return httpx2.Request(
        request.method, request.url, headers=request.headers.copy(), content=request.content
    )


def repeatability(request: httpx2.Request) -> tuple[str, str]:
    return request.headers["repeatability-request-id"], request.headers["repeatability-first-sent"]


def ok() -> httpx2.Response:
    return httpx2.Response(202, json={"id": "op", "status": "running"})


async def test_429_waits_for_retry_after_seconds() -> None:
    time = FakeTime()
    script = Script(httpx2.Response(429, headers={"Retry-After": "7"}), ok())
    async with make(script, time) as client:
        result = await client.get_call_connection(CALL).play_audio("https://example.com/a.wav")
    assert result.status == "running"
    assert time.sleeps == [7.0]
    assert repeatability(script.requests[0]) == repeatability(script.requests[1])


async def test_429_waits_until_retry_after_date() -> None:
    time = FakeTime()
    later = "Mon, 01 Jan 2024 00:00:03 GMT"
    script = Script(httpx2.Response(429, headers={"Retry-After": later}), httpx2.Response(202))
    async with make(script, time) as client:
        await client.get_call_connection(CALL).hangup()
    assert time.sleeps == [3.0]


async def test_503_then_success_repeats_the_same_repeatability_headers() -> None:
    time = FakeTime()
    script = Script(httpx2.Response(503, text="busy"), ok())
    async with make(script, time) as client:
        call = client.get_call_connection(CALL)
        await call.play_audio("https://example.com/a.wav", operation_context="g")
    first, second = script.requests
    assert repeatability(first) == repeatability(second)
    assert first.content == second.content
    assert first.headers["authorization"] == second.headers["authorization"]
    assert time.sleeps == [0.375]  # half of 0.5 plus half of the other half (rand = 0.5)


async def test_server_errors_exhaust_the_attempts_with_exponential_backoff() -> None:
    time = FakeTime()
    fail = httpx2.Response(500, json={"code": "InternalError", "message": "Boom."})
    script = Script(fail, fail, fail, fail)
    async with make(script, time) as client:
        with pytest.raises(ServerError) as info:
            await client.get_call_connection(CALL).hangup()
    assert len(script.requests) == 4
    assert time.sleeps == [0.375, 0.75, 1.5]
    assert len({repeatability(r) for r in script.requests}) == 1
    error = info.value
    assert (error.status, error.code, error.message) == (500, "InternalError", "Boom.")


async def test_throttling_that_outlasts_the_retries_keeps_the_hint() -> None:
    time = FakeTime()
    busy = httpx2.Response(429, headers={"retry-after-ms": "1500"})
    script = Script(busy, busy)
    async with make(script, time, attempts=2) as client:
        with pytest.raises(Throttled) as info:
            await client.get_call_connection(CALL).hangup()
    assert time.sleeps == [1.5]
    assert info.value.retry_after == 1.5


async def test_a_wait_past_the_deadline_is_not_attempted() -> None:
    time = FakeTime()
    script = Script(httpx2.Response(429, headers={"Retry-After": "60"}))
    async with make(script, time, deadline=30.0) as client:
        with pytest.raises(Throttled):
            await client.get_call_connection(CALL).hangup()
    assert time.sleeps == []
    assert len(script.requests) == 1


async def test_deadline_counts_time_spent_in_earlier_attempts() -> None:
    time = FakeTime()
    fail = httpx2.Response(502)
    script = Script(fail, fail, fail, fail)
    # 0.375 + 0.75 fit in 1.2 s; the third wait (1.5 s) would end past it.
    async with make(script, time, deadline=1.2) as client:
        with pytest.raises(ServerError):
            await client.get_call_connection(CALL).hangup()
    assert time.sleeps == [0.375, 0.75]


async def test_400_is_not_retried() -> None:
    time = FakeTime()
    script = Script(httpx2.Response(400, json={"code": "BadArgument", "message": "No."}))
    async with make(script, time) as client:
        with pytest.raises(BadRequest):
            await client.get_call_connection(CALL).hangup()
    assert len(script.requests) == 1
    assert time.sleeps == []


async def test_408_is_retried() -> None:
    time = FakeTime()
    script = Script(httpx2.Response(408), httpx2.Response(202))
    async with make(script, time) as client:
        await client.get_call_connection(CALL).hangup()
    assert len(script.requests) == 2


async def test_409_is_a_client_error_without_retry() -> None:
    time = FakeTime()
    script = Script(httpx2.Response(409, json={"code": "Conflict", "message": "Busy."}))
    async with make(script, time) as client:
        with pytest.raises(ClientError) as info:
            await client.get_call_connection(CALL).hangup()
    assert type(info.value) is ClientError
    assert len(script.requests) == 1


async def test_connection_errors_and_timeouts_are_retried() -> None:
    time = FakeTime()
    script = Script(httpx2.ConnectError("refused"), httpx2.ReadTimeout("slow"), ok())
    async with make(script, time) as client:
        result = await client.get_call_connection(CALL).play_audio("https://example.com/a.wav")
    assert result.id == "op"
    assert len({repeatability(r) for r in script.requests}) == 1
    assert len(time.sleeps) == 2


async def test_persistent_connection_error_is_no_response() -> None:
    time = FakeTime()
    script = Script(*[httpx2.ConnectError("All connection attempts failed")] * 4)
    async with make(script, time) as client:
        with pytest.raises(NoResponse) as info:
            await client.get_call_connection(CALL).hangup()
    error = info.value
    assert error.status is None
    assert isinstance(error.__cause__, httpx2.ConnectError)
    assert error.request_id == script.requests[0].headers["repeatability-request-id"]
    assert "All connection attempts failed" in str(error)
    assert "/calls/call-1/Hangup" in str(error)
    assert len(script.requests) == 4


async def test_a_local_protocol_error_is_not_retried() -> None:
    time = FakeTime()
    script = Script(httpx2.LocalProtocolError("bad header"))
    async with make(script, time) as client:
        with pytest.raises(NoResponse):
            await client.get_call_connection(CALL).hangup()
    assert len(script.requests) == 1


async def test_delete_is_retried_without_repeatability_headers() -> None:
    time = FakeTime()
    script = Script(httpx2.Response(503), httpx2.Response(202))
    async with make(script, time) as client:
        await client.get_call_connection(CALL).remove_participant("p1")
    assert [r.method for r in script.requests] == ["DELETE", "DELETE"]
    assert all("repeatability-request-id" not in r.headers for r in script.requests)


def test_backoff_is_exponential_capped_and_jittered() -> None:
    low = RetryPolicy(base_delay=1.0, max_delay=5.0, rand=lambda: 0.0)
    high = RetryPolicy(base_delay=1.0, max_delay=5.0, rand=lambda: 0.999999)
    assert [low.backoff(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 2.5, 2.5]
    assert [round(high.backoff(n), 3) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert low.backoff(1, retry_after=9.0) == 9.0
    assert high.backoff(3, retry_after=0.1) == pytest.approx(4.0)


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(deadline=-1)


@pytest.mark.parametrize("field", ["base_delay", "max_delay", "deadline"])
def test_policy_bounds_are_exact(field: str) -> None:
    """Zero is a valid delay or deadline and one attempt a valid count; just below is not."""
    RetryPolicy(**{field: 0.0})  # type: ignore[arg-type]
    with pytest.raises(ValueError) as caught:
        RetryPolicy(**{field: -0.001})  # type: ignore[arg-type]
    assert str(caught.value) == "RetryPolicy delays and deadline must not be negative"
    assert RetryPolicy(attempts=1).attempts == 1
    with pytest.raises(ValueError) as caught:
        RetryPolicy(attempts=0)
    assert str(caught.value) == "RetryPolicy.attempts must be at least 1"


async def test_a_wait_that_ends_exactly_at_the_deadline_is_still_attempted() -> None:
    time = FakeTime()
    script = Script(httpx2.Response(502), ok())
    async with make(script, time, deadline=0.375) as client:  # the first wait is 0.375 s
        await client.get_call_connection(CALL).play_audio("https://example.com/a.wav")
    assert time.sleeps == [0.375]


async def test_each_retry_is_one_warning_naming_the_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    time = FakeTime()
    script = Script(httpx2.ConnectError("refused"), httpx2.Response(503), ok())
    with caplog.at_level(logging.WARNING, logger="callbacks.client"):
        async with make(script, time) as client:
            await client.get_call_connection(CALL).play_audio("https://example.com/a.wav")
    request_id = script.requests[0].headers["repeatability-request-id"]
    assert [r.getMessage() for r in caplog.records] == [
        f"POST /calls/call-1/PlayAudio: ConnectError on attempt 1 of 4; retrying in 0.38s "
        f"(request id {request_id})",
        f"POST /calls/call-1/PlayAudio: HTTP 503 on attempt 2 of 4; retrying in 0.75s "
        f"(request id {request_id})",
    ]


@pytest.mark.parametrize(
    ("error", "message"),
    [(httpx2.ConnectError("refused"), "ConnectError: refused"),
     (httpx2.ReadTimeout(""), "ReadTimeout")],
)
async def test_no_response_names_the_request_and_the_failure(
    error: Exception, message: str
) -> None:
    time = FakeTime()
    script = Script(*[error] * 4)
    async with make(script, time) as client:
        with pytest.raises(NoResponse) as info:
            await client.get_call_connection(CALL).hangup()
    assert (info.value.method, info.value.path) == ("POST", "/calls/call-1/Hangup")
    assert info.value.message == message


async def test_a_local_protocol_error_keeps_its_cause() -> None:
    time = FakeTime()
    script = Script(httpx2.LocalProtocolError("bad header"))
    async with make(script, time) as client:
        with pytest.raises(NoResponse) as info:
            await client.get_call_connection(CALL).hangup()
    assert "LocalProtocolError: bad header" in str(info.value)
    assert isinstance(info.value.__cause__, httpx2.LocalProtocolError)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "12"}, 12.0),
        ({"Retry-After": " 2.5 "}, 2.5),
        ({"Retry-After": "-4"}, 0.0),
        ({"Retry-After": "Mon, 01 Jan 2024 00:01:00 GMT"}, 60.0),
        ({"Retry-After": "Sun, 31 Dec 2023 23:00:00 GMT"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "inf"}, None),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({"x-ms-retry-after-ms": "1500", "Retry-After": "9"}, 1.5),
        ({"x-ms-retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "100", "x-ms-retry-after-ms": "1500"}, 0.1),
        ({"retry-after-ms": "", "x-ms-retry-after-ms": "700"}, 0.7),
        ({"retry-after-ms": "-5"}, 0.0),
        ({"x-ms-retry-after-ms": "bad", "Retry-After": "9"}, 9.0),
        ({}, None),
    ],
)
def test_retry_after_parsing(headers: dict[str, str], expected: float | None) -> None:
    response = httpx2.Response(429, headers=headers)
    assert retry_after(response, FIXED) == expected


async def test_each_attempt_is_signed_afresh_while_first_sent_stays() -> None:
    ticks = iter(FIXED + timedelta(seconds=n) for n in range(100))
    time = FakeTime()
    script = Script(httpx2.Response(503), httpx2.Response(202))
    client = CallAutomationClient(
        "http://127.0.0.1:8123", KEY, api_version="2021-overview",
        transport=httpx2.MockTransport(script),
        retry=RetryPolicy(sleep=time.sleep, monotonic=time.monotonic), clock=lambda: next(ticks),
    )
    async with client:
        await client.get_call_connection(CALL).hangup()
    first, second = script.requests
    assert repeatability(first) == repeatability(second)
    assert first.headers["repeatability-first-sent"] == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert first.headers["x-ms-date"] != second.headers["x-ms-date"]
    for request in (first, second):
        assert verify(KEY, "POST", "/calls/call-1/Hangup", "127.0.0.1:8123",
                      request.headers, request.content)
