"""SIGKILL the real receiver under load: nothing acked is lost, order holds, no action twice.

Several posters send ``Tick`` events for several emulated calls to a real ``callbacks serve``
process; its handler plays a prompt on the emulator for each. Mid-run the receiver is killed
with SIGKILL and started again on the same log. Posters treat a refused connection like Event
Grid does: they send the same event again until it is acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx2

from callbacks.client.automation import CallAutomationClient
from callbacks.emulator import serve_emulator
from callbacks.identifiers import CommunicationUserIdentifier
from callbacks.store import open_store
from tests.support.emulator_harness import fast_config
from tests.support.servers import free_port, start_cli, stop

SECRET = "crash-test-secret"
CALLS = 8
TICKS = 30
POSTERS = 4


def tick(call_id: str, n: int) -> bytes:
    return json.dumps([{
        "id": f"tick-{call_id}-{n}", "type": "Contoso.Test.Tick", "specversion": "1.0",
        "source": f"calling/callConnections/{call_id}",
        "data": {"callConnectionId": call_id, "n": n},
    }]).encode()


async def wait_ready(url: str) -> None:
    async with httpx2.AsyncClient() as client:
        for _ in range(400):
            try:
                if (await client.get(url, timeout=1)).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError(url)


async def test_sigkill_loses_nothing_acked_keeps_order_and_acts_once(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    db = tmp_path / "log.db"
    port = free_port()
    receiver = f"http://127.0.0.1:{port}"
    async with serve_emulator(fast_config(play_duration=0.01)) as emulator:
        async with CallAutomationClient.from_connection_string(
            emulator.connection_string, api_version="2021-overview"
        ) as client:
            calls = [
                (await client.create_call(
                    [CommunicationUserIdentifier(f"8:acs:resource_callee{i}")],
                    f"{receiver}/api/callbacks?secret={SECRET}",
                    source=CommunicationUserIdentifier("8:acs:resource_app"),
                )).call_leg_id
                for i in range(CALLS)
            ]
        await asyncio.sleep(0.2)  # every callee answers after 20 ms

        def start() -> Any:
            return start_cli(
                "serve", "--port", str(port), "--store", f"sqlite:///{db}",
                "--handlers", "tests.support.tick_plugin:router",
                "--connection-string", emulator.connection_string,
                env={"CALLBACKS_SECRET": SECRET, "CALLBACKS_TEST_RECORD": str(record),
                     "CALLBACKS_API_VERSION": "2021-overview"},
            )

        process = start()
        await wait_ready(receiver + "/readyz")
        acked: set[tuple[str, int]] = set()
        refused = 0

        async def poster(mine: list[str]) -> None:
            nonlocal refused
            async with httpx2.AsyncClient(timeout=5) as http:
                for n in range(TICKS):
                    for call_id in mine:
                        while True:  # like Event Grid: the same event until it is acked
                            try:
                                answer = await http.post(
                                    f"{receiver}/api/callbacks?secret={SECRET}",
                                    content=tick(call_id, n),
                                    headers={"content-type": "application/json"},
                                )
                                if answer.status_code == 200:
                                    acked.add((call_id, n))
                                    break
                            except httpx2.TransportError:
                                pass
                            refused += 1
                            await asyncio.sleep(0.05)

        async def killer() -> None:
            nonlocal process
            while len(acked) < CALLS * TICKS // 3:  # noqa: ASYNC110 - polling the posters
                await asyncio.sleep(0.01)
            await asyncio.to_thread(stop, process, signal.SIGKILL)
            await asyncio.sleep(0.3)  # posters see refused connections meanwhile
            process = start()

        share = [calls[i::POSTERS] for i in range(POSTERS)]
        await asyncio.gather(killer(), *(poster(mine) for mine in share))
        assert refused > 0, "the kill came too late to test anything"
        try:
            async with open_store(f"sqlite:///{db}") as store:
                for _ in range(400):
                    stats = await store.stats()
                    if stats.by_type.get("Tick") == CALLS * TICKS and not (
                        stats.by_status.get("pending") or stats.by_status.get("failed")
                    ):
                        break
                    await asyncio.sleep(0.05)
                logged = {record.id async for record in store.list_events()}
        finally:
            output = await asyncio.to_thread(stop, process)

    assert len(acked) == CALLS * TICKS
    assert {f"tick-{call}-{n}" for call, n in acked} <= logged, output
    runs: dict[str, list[int]] = defaultdict(list)
    for line in record.read_text().splitlines():
        run = json.loads(line)
        runs[run["call"]].append(run["n"])
    for call_id in calls:
        # Every tick handled at least once; a rerun repeats only the one cut short by the
        # kill, so per call the sequence never goes back.
        assert sorted(set(runs[call_id])) == list(range(TICKS)), call_id
        assert runs[call_id] == sorted(runs[call_id]), (call_id, runs[call_id])
    # 202s only: a request cut off by the kill never arrived whole and did nothing.
    plays = [
        r for r in emulator.emulator.journal.requests
        if r.operation == "play_audio" and r.status == 202
    ]
    executed = [r for r in plays if not r.replayed]
    ticks = {(r.call_id, r.operation_context) for r in executed}
    assert len(executed) == len(ticks) == CALLS * TICKS  # each tick played exactly once
    executed_ids = {r.repeatability_id for r in executed}
    assert {r.repeatability_id for r in plays if r.replayed} <= executed_ids
    assert set(emulator.emulator.repeatability.executions.values()) == {1}
    assert SECRET not in output
