"""Faults on demand, and callback delivery with retries, as Event Grid does it."""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise

from callbacks.emulator import DeliveryConfig, FaultConfig
from callbacks.emulator.server import bind_socket, url_of
from tests.support.emulator_harness import ALICE, Receiver, fast_config, running_env

FAST_RETRIES = DeliveryConfig(max_attempts=3, backoff=0.01, max_backoff=0.02, timeout=1.0)


async def test_a_429_fault_has_retry_after_and_does_not_execute(receiver: Receiver) -> None:
    config = fast_config(faults=FaultConfig(rate_429=1.0, retry_after=7))
    async with running_env(config, receiver) as env:
        body = {"targets": [ALICE], "callbackUri": receiver.callback_uri}
        response = await env.client.post("/calls", json=body)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "7"
        assert response.json()["code"] == "TooManyRequests"
        assert not env.running.emulator.calls


async def test_a_500_fault_does_not_execute(receiver: Receiver) -> None:
    config = fast_config(faults=FaultConfig(rate_500=1.0))
    async with running_env(config, receiver) as env:
        response = await env.client.post("/calls", json={"targets": [ALICE]})
        assert (response.status_code, response.json()["code"]) == (500, "InternalServerError")
        assert "retry-after" not in response.headers
        assert not env.running.emulator.calls


async def test_fault_rates_are_reproducible_with_a_seed(receiver: Receiver) -> None:
    async def statuses() -> list[int]:
        config = fast_config(faults=FaultConfig(rate_429=0.3, rate_500=0.3, seed=42))
        async with running_env(config, receiver) as env:
            return [(await env.client.post("/calls", json={})).status_code for _ in range(20)]

    first, second = await statuses(), await statuses()
    assert first == second
    assert {429, 500, 400} <= set(first)  # 400: the empty body, when no fault hit


async def test_added_latency_delays_answers(receiver: Receiver) -> None:
    config = fast_config(faults=FaultConfig(latency=0.15))
    async with running_env(config, receiver) as env:
        started = time.monotonic()
        await env.client.post("/calls", json={})
        assert time.monotonic() - started >= 0.15


async def test_a_callback_is_retried_until_the_receiver_takes_it(receiver: Receiver) -> None:
    async with running_env(fast_config(delivery=FAST_RETRIES), receiver) as env:
        receiver.answers.extend([500, 503])
        call_id = await env.established()
        first = env.running.emulator.journal.callbacks[0]
        assert [a.status for a in first.attempts] == [500, 503, 200]
        assert first.status == "delivered"
        # order is kept: the first event still arrived first
        states = [r.event["data"].get("CallState") for r in receiver.of(call_id)]
        assert states == ["Establishing", "Established", None]


async def test_a_receiver_that_stays_down_exhausts_the_attempts(receiver: Receiver) -> None:
    sock = bind_socket("127.0.0.1", 0)  # bound, never served: connections are not answered
    dead_url = url_of(sock, "127.0.0.1") + "/cb?secret=x"
    sock.close()
    async with running_env(fast_config(delivery=FAST_RETRIES), receiver) as env:
        body = {"targets": [ALICE], "callbackUri": dead_url}
        assert (await env.client.post("/calls", json=body)).status_code == 200
        await asyncio.sleep(0.1)
        await asyncio.wait_for(env.running.emulator.delivery.wait_idle(), 5)
        records = list(env.running.emulator.journal.callbacks)
        assert records and {r.status for r in records} == {"failed"}
        assert all(len(r.attempts) == 3 for r in records)
        assert all(a.error == "ConnectError" for r in records for a in r.attempts)


async def test_400_from_the_receiver_is_final_and_the_next_callback_goes(
    receiver: Receiver,
) -> None:
    async with running_env(fast_config(delivery=FAST_RETRIES), receiver) as env:
        receiver.answers.append(400)
        call_id = await env.create_call()
        await receiver.wait_types(call_id, "ParticipantsUpdated")
        first = env.running.emulator.journal.callbacks[0]
        assert (first.status, [a.status for a in first.attempts]) == ("rejected", [400])
        assert receiver.types(call_id) == ["CallLegStateChanged", "ParticipantsUpdated"]


async def test_duplicated_callbacks_come_twice_in_a_row(receiver: Receiver) -> None:
    config = fast_config(faults=FaultConfig(duplicate_rate=1.0))
    async with running_env(config, receiver) as env:
        call_id = await env.create_call()
        await receiver.wait_for(lambda _: len(receiver.of(call_id)) == 6)
        ids = [r.event["id"] for r in receiver.of(call_id)]
        assert ids[0::2] == ids[1::2]
        assert len(set(ids)) == 3
        copies = [r for r in env.running.emulator.journal.callbacks if r.duplicate_of]
        assert len(copies) == 3


async def test_reordering_happens_between_calls_never_within_one(receiver: Receiver) -> None:
    faults = FaultConfig(reorder_rate=0.5, reorder_delay=0.15, seed=7)
    async with running_env(fast_config(faults=faults), receiver) as env:
        call_ids = [await env.create_call() for _ in range(6)]
        for call_id in call_ids:
            await receiver.wait_types(call_id, "ParticipantsUpdated")
        journal = list(env.running.emulator.journal.callbacks)
        assert any(r.held_for > 0 for r in journal)
        sent_order = {r.event["id"]: r.seq for r in journal}
        arrived = [sent_order[r.event["id"]] for r in receiver.received]
        # within each call: arrival order is the order the call produced its events
        for call_id in call_ids:
            seqs = [sent_order[r.event["id"]] for r in receiver.of(call_id)]
            assert seqs == sorted(seqs)
        # between calls: some later event overtook an earlier one
        assert any(a > b for a, b in pairwise(arrived))
