"""``callbacks replay --to URL``: the raw events posted to another receiver, in order, with its
secret, at the original pace or as fast as it takes them, stopping when it refuses one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest

from callbacks.cli import main
from callbacks.events import Dialect
from callbacks.replay.replayer import Replayer
from callbacks.replay.sources import ReplayItem
from callbacks.replay.targets import RemoteTarget, TargetRejected
from callbacks.store import ReplayMode, open_store
from tests.support.log_bodies import ga_events, preview_dtmf
from tests.support.servers import free_port, start_cli, stop, wait_until_ready

SECRET = "remote-target-secret-5d1e"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Receiver:
    """A real `callbacks serve` process that records what its handler sees."""

    url: str
    record: Path
    db: Path

    def records(self) -> list[dict[str, object]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def wait_for(self, count: int, timeout: float = 10) -> list[dict[str, object]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.records()) < count:
            time.sleep(0.05)
        return self.records()


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    tmp = tmp_path_factory.mktemp("receiver")
    port = free_port()
    record, db = tmp / "record.jsonl", tmp / "receiver.db"
    process = start_cli(
        "serve", "--port", str(port), "--store", f"sqlite:///{db}",
        "--handlers", "tests.support.recording_plugin:router",
        env={"CALLBACKS_SECRET": SECRET, "CALLBACKS_TEST_RECORD": str(record)},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url + "/readyz", process)
        yield Receiver(url, record, db)
    finally:
        output = stop(process, signal.SIGTERM)
        assert SECRET not in output


async def build_source(path: Path) -> None:
    """Two calls interleaved, a path context, a 2021 event, received a second apart."""
    async with open_store(f"sqlite:///{path}") as store:
        batches = [
            (ga_events("r-a", 1), "tenant-1"),
            (ga_events("r-b", 1), None),
            (ga_events("r-a", 2), "tenant-1"),
            (preview_dtmf("r-leg", 7), "flow x+y"),
            (ga_events("r-b", 2), None),
            (ga_events("r-a", 3), "tenant-1"),
        ]
        for i, (events, context) in enumerate(batches):
            await store.append(events, context, received_at=T0 + timedelta(seconds=i))


@pytest.fixture
def source(tmp_path: Path) -> str:
    asyncio.run(build_source(tmp_path / "source.db"))
    return f"sqlite:///{tmp_path / 'source.db'}"


def test_events_reach_a_second_serve_in_order_with_their_path_context(
    receiver: Receiver, source: str, capsys: pytest.CaptureFixture[str]
) -> None:
    already = len(receiver.records())
    code = main(["replay", "--store", source, "--to", f"{receiver.url}/api/callbacks",
                 "--secret", SECRET, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lines = [json.loads(line) for line in captured.out.splitlines()]
    summary = lines[-1]["summary"]
    assert (summary["mode"], summary["events"], summary["failures"]) == ("remote", 6, 0)
    assert summary["target"] == f"{receiver.url}/api/callbacks"
    assert SECRET not in captured.out + captured.err

    # Posted in the source's order: the receiver logged them in that order.
    with contextlib.closing(sqlite3.connect(receiver.db)) as log:
        logged = log.execute(
            "SELECT identity, type, lane, path_context FROM events ORDER BY seq DESC LIMIT 6"
        ).fetchall()[::-1]
    ids = [identity for identity, *_ in logged]
    assert ids[:3] + ids[4:] == ["r-a/1", "r-b/1", "r-a/2", "r-b/2", "r-a/3"]
    assert logged[3][1:3] == ("DtmfReceived", "r-leg")
    assert [context for *_, context in logged] == [
        "tenant-1", None, "tenant-1", "flow x+y", None, "tenant-1"
    ]
    # And handled: each call's events in order (calls run concurrently), with their contexts.
    got = receiver.wait_for(already + 6)[already:]
    assert len(got) == 6
    for call in ("r-a", "r-b", "r-leg"):
        handled = [(r["identity"], r["path_context"]) for r in got if r["call_id"] == call]
        assert handled == [
            (identity, context) for identity, _, lane, context in logged if lane == call
        ]

    async def replays() -> list[object]:
        async with open_store(source) as store:
            return [(r.mode, r.target, r.outcomes[0].handler)
                    for r in await store.replay_outcomes("r-a/1")]

    [(mode, target, handler)] = asyncio.run(replays())  # type: ignore[misc]
    assert (mode, target) == (ReplayMode.REMOTE, f"{receiver.url}/api/callbacks")
    assert handler == f"POST {receiver.url}/api/callbacks/tenant-1"

    # Again: the receiver has them all, acknowledges them as duplicates, runs nothing.
    code = main(["replay", "--store", source, "--to", f"{receiver.url}/api/callbacks",
                 "--secret", SECRET, "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "6 event(s) were already in the target's log" in out
    time.sleep(0.3)
    assert len(receiver.records()) == already + 6


def test_a_refused_event_stops_the_replay_with_what_the_target_said(
    receiver: Receiver, source: str, capsys: pytest.CaptureFixture[str]
) -> None:
    already = len(receiver.records())
    code = main(["replay", "--store", source, "--to", f"{receiver.url}/api/callbacks",
                 "--secret", "wrong-secret", "--json"])
    captured = capsys.readouterr()
    assert code == 1
    summary = json.loads(captured.out.splitlines()[-1])["summary"]
    assert summary["events"] == 0 and summary["failed_events"] == 1
    assert summary["stopped"] == (
        "the target rejected event r-a/1 (seq 1 (r-a/1)): "
        "HTTP 401 wrong_secret: the callback secret does not match"
    )
    [line] = captured.err.strip().splitlines()
    assert line.startswith("callbacks replay: stopped: the target rejected event r-a/1")
    assert "wrong-secret" not in captured.out + captured.err
    assert len(receiver.records()) == already


def test_an_unreachable_target_is_one_clear_message(
    source: str, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    code = main(["replay", "--store", source, "--to", f"http://127.0.0.1:{port}/api/callbacks",
                 "--secret", SECRET, "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    [stopped] = [line for line in captured.err.splitlines() if line.startswith("callbacks")]
    assert stopped.startswith(
        f"callbacks replay: stopped: cannot deliver event r-a/1 (seq 1 (r-a/1)) to "
        f"http://127.0.0.1:{port}/api/callbacks: ConnectError"
    )
    assert SECRET not in captured.out + captured.err


def posted(requests: list[httpx2.Request]) -> httpx2.MockTransport:
    def handle(request: httpx2.Request) -> httpx2.Response:
        requests.append(request)
        return httpx2.Response(200, json={"accepted": 1, "duplicates": 0})

    return httpx2.MockTransport(handle)


async def test_bodies_urls_and_secret_as_a_receiver_expects_them() -> None:
    requests: list[httpx2.Request] = []
    target = RemoteTarget(
        "https://staging.example/api/callbacks?region=eu", secret="s3", transport=posted(requests)
    )
    ga = ga_events("c", 1)[0]
    preview = preview_dtmf("leg", 1)[0]
    await target.replay("run", ReplayItem(ga, "#1", path_context="a/b"))
    await target.replay("run", ReplayItem(preview, "#2"))
    await target.aclose()
    assert preview.dialect is Dialect.PREVIEW_2021
    first, second = requests
    assert first.url.raw_path == b"/api/callbacks/a%2Fb?region=eu&secret=s3"
    assert json.loads(first.content) == [json.loads(ga.raw)]  # CloudEvents: an array
    assert second.url.path == "/api/callbacks"
    assert json.loads(second.content) == json.loads(preview.raw)  # the 2021 preview: an object
    assert target.target == "https://staging.example/api/callbacks"

    other: list[httpx2.Request] = []
    plain = RemoteTarget("http://laptop:9000/hook", transport=posted(other))
    await plain.replay("run", ReplayItem(ga, "#1", path_context="ctx"))
    await plain.aclose()
    assert other[0].url.raw_path == b"/hook"  # not a callbacks path: posted as given


async def test_busy_answers_are_retried_and_a_bad_request_stops() -> None:
    answers = [503, 429, 200, 400]
    waits: list[float] = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        status = answers.pop(0)
        if status == 400:
            return httpx2.Response(400, json={"code": "bad_event", "message": "event 0: no type"})
        return httpx2.Response(status)

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    target = RemoteTarget("http://x/api/callbacks", transport=httpx2.MockTransport(handle),
                          sleep=no_wait)
    event = ga_events("c", 1)[0]
    result = await target.replay("run", ReplayItem(event, "line 1"))
    assert result.ok and len(waits) == 2
    with pytest.raises(TargetRejected) as rejected:
        await target.replay("run", ReplayItem(event, "line 2"))
    await target.aclose()
    assert (rejected.value.status, rejected.value.code) == (400, "bad_event")
    assert str(rejected.value) == (
        "the target rejected event c/1 (line 2): HTTP 400 bad_event: event 0: no type"
    )


async def test_original_pacing_divided_by_the_speed() -> None:
    requests: list[httpx2.Request] = []
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    target = RemoteTarget("http://x/api/callbacks", transport=posted(requests))
    offsets = [0.0, 1.0, 1.0, 4.0]
    items = [
        ReplayItem(event, f"#{i}", received_at=T0 + timedelta(seconds=offset))
        for i, (event, offset) in enumerate(zip(ga_events("c", 1, 2, 3, 4), offsets, strict=True))
    ]

    async def source() -> AsyncIterator[ReplayItem]:
        for item in items:
            yield item

    summary = await Replayer(target, speed=2.0, sleep=sleep).run(source())
    await target.aclose()
    assert summary.events == 4 and len(requests) == 4
    # due at 0.5 s and 2 s after the first (4 s / 2); the sleeps never advance the clock here
    assert len(waits) == 3
    assert waits[0] == pytest.approx(0.5, abs=0.05)
    assert waits[1] == pytest.approx(0.5, abs=0.05)
    assert waits[2] == pytest.approx(2.0, abs=0.05)
