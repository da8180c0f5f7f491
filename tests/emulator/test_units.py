"""Units of the emulator without servers: tones, event builders, configs, faults, delivery."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime

import httpx2
import pytest

from callbacks.emulator import DeliveryConfig, EmulatorConfig, FaultConfig, serve_emulator
from callbacks.emulator.errors import InjectedFault
from callbacks.emulator.events2021 import EventFactory, event_time, identifier_2021
from callbacks.emulator.faults import Faults
from callbacks.emulator.journal import redact_url
from callbacks.emulator.tasks import TaskSet
from callbacks.emulator.tones import parse_tones
from callbacks.identifiers import CommunicationUserIdentifier, PhoneNumberIdentifier
from tests.support.emulator_harness import fast_config


def test_tones_from_characters_and_names() -> None:
    assert parse_tones("0123456789*#abcd") == [
        *(f"Tone{d}" for d in range(10)),
        "Star",
        "Pound",
        "A",
        "B",
        "C",
        "D",
    ]
    assert parse_tones(["TONE7", "star", "Asterisk", "pound", "hash", "flash", "1"]) == [
        "Tone7",
        "Star",
        "Star",
        "Pound",
        "Pound",
        "Flash",
        "Tone1",
    ]
    with pytest.raises(ValueError, match="unknown DTMF tone 'x'"):
        parse_tones("1x")
    with pytest.raises(ValueError, match="no DTMF tones"):
        parse_tones("")


def test_event_time_has_seven_fractional_digits() -> None:
    when = datetime(2021, 5, 5, 20, 31, 0, 481881, tzinfo=UTC)
    assert event_time(when) == "2021-05-05T20:31:00.4818810Z"


def test_identifiers_in_the_2021_shape() -> None:
    assert identifier_2021(PhoneNumberIdentifier("+14251001000")) == {
        "RawId": "4:+14251001000",
        "CommunicationUser": None,
        "PhoneNumber": {"Value": "+14251001000"},
        "MicrosoftTeamsUser": None,
    }
    user = identifier_2021(CommunicationUserIdentifier("8:acs:x_y"))
    assert user["CommunicationUser"] == {"Id": "8:acs:x_y"} and user["PhoneNumber"] is None


def test_event_factory_builds_the_documented_cancelled_result() -> None:
    when = datetime(2021, 5, 5, 20, 31, 0, tzinfo=UTC)
    factory = EventFactory("null", clock=lambda: when)
    assert factory.play_audio_result("leg", "ctx", cancelled=True) == {
        "id": None,
        "topic": None,
        "subject": "callLeg/leg/playAudio",
        "data": {
            "ResultInfo": {
                "Code": 400,
                "Subcode": 8508,
                "Message": "Action failed, the operation was cancelled.",
            },
            "OperationContext": "ctx",
            "Status": "Completed",
            "CallLegId": "leg",
        },
        "eventType": "Microsoft.Communication.PlayAudioResult",
        "eventTime": "2021-05-05T20:31:00.0000000Z",
        "metadataVersion": None,
        "dataVersion": None,
    }


def test_retry_delays_grow_and_are_capped() -> None:
    config = DeliveryConfig(backoff=1.0, backoff_factor=2.0, max_backoff=5.0)
    assert [config.delay_before(n) for n in range(2, 7)] == [1.0, 2.0, 4.0, 5.0, 5.0]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: FaultConfig(rate_429=0.7, rate_500=0.5), "must not exceed 1"),
        (lambda: FaultConfig(duplicate_rate=1.5), "duplicate_rate must be between 0 and 1"),
        (lambda: FaultConfig(latency=-1), "latency must not be negative"),
        (lambda: DeliveryConfig(max_attempts=0), "max_attempts must be at least 1"),
        (lambda: DeliveryConfig(timeout=0), "timeout must be positive"),
        (lambda: EmulatorConfig(access_key=b""), "access_key"),
        (lambda: EmulatorConfig(access_key=b"k", answer_delay=-1), "answer_delay"),
        (lambda: EmulatorConfig(access_key=b"k", event_ids="x"), "event_ids"),  # type: ignore[arg-type]
    ],
)
def test_configs_reject_bad_values(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(ValueError, match=message):
        build()


def test_the_access_key_never_shows_in_repr() -> None:
    assert "sekrit" not in repr(EmulatorConfig(access_key=b"sekrit"))


def test_callback_urls_are_shown_with_query_values_masked() -> None:
    assert redact_url("http://h/cb?secret=abc&x=1") == "http://h/cb?secret=***&x=***"
    assert redact_url("http://h/cb") == "http://h/cb"


def test_faults_are_reproducible_and_forced_statuses_come_first() -> None:
    def draws(faults: Faults) -> list[int | None]:
        out: list[int | None] = []
        for _ in range(50):
            try:
                faults.check_request()
                out.append(None)
            except InjectedFault as fault:
                out.append(fault.status)
        return out

    config = FaultConfig(rate_429=0.2, rate_500=0.2, seed=3)
    assert draws(Faults(config)) == draws(Faults(config))
    forced = Faults(FaultConfig())
    forced.force([500, 429])
    assert draws(forced)[:3] == [500, 429, None]
    with pytest.raises(ValueError, match="cannot force status 404"):
        forced.force([404])


async def test_delivery_through_a_transport_seam_retries_then_posts_byte_for_byte() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        if len(seen) == 1:
            raise httpx2.ReadTimeout("slow", request=request)
        return httpx2.Response(503 if len(seen) == 2 else 200)

    retries = DeliveryConfig(max_attempts=4, backoff=0.01, max_backoff=0.01)
    config = fast_config(delivery=retries)
    async with serve_emulator(config, callback_transport=httpx2.MockTransport(handler)) as running:
        emulator = running.emulator
        sent = emulator.delivery.send("call-1", "https://app.example/cb?secret=a%2Fb", {"k": "v"})
        await asyncio.wait_for(emulator.delivery.wait_idle(), 5)
    assert [(a.status, a.error) for a in sent.attempts] == [
        (None, "timeout"),
        (503, None),
        (200, None),
    ]
    assert sent.status == "delivered"
    last = seen[-1]
    assert str(last.url) == "https://app.example/cb?secret=a%2Fb"
    assert last.headers["content-type"] == "application/json"
    assert json.loads(last.content) == {"k": "v"}
    assert {r.content for r in seen} == {last.content}


async def test_task_set_runs_cancels_and_logs_failures(caplog: pytest.LogCaptureFixture) -> None:
    tasks = TaskSet("test")
    ran: list[str] = []
    tasks.later(0, lambda: ran.append("soon"), "soon")
    tasks.later(10, lambda: ran.append("never"), "never")

    def boom() -> None:
        raise RuntimeError("timer failed")

    tasks.later(0, boom, "boom")
    with caplog.at_level(logging.ERROR, "callbacks.emulator"):
        await asyncio.sleep(0.02)
        await tasks.close()
    assert ran == ["soon"]
    assert len(tasks) == 0
    assert "emulator task test:boom failed" in caplog.text
