"""``callbacks serve --dispatch process``: the real server, its dispatcher in a child process."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from callbacks.config import ServeConfig
from callbacks.dispatch.process import CHILD_MODULE, DispatchProcess
from tests.support.postgres import POSTGRES_URL, admin, needs_postgres, with_options
from tests.support.samples import sample_json
from tests.support.servers import (
    ROOT,
    free_port,
    interruptible,
    read_records,
    start_cli,
    stop,
    wait_until_ready,
)

PLUGIN = "tests.support.recording_plugin:router"


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status  # a zombie has exited


def _wait(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _post(base: str, call: str, numbers: range) -> None:
    template = sample_json("ga", "PlayCompleted")[0]
    for n in numbers:
        event = json.loads(json.dumps(template))
        event["id"] = f"{call}/{n}"
        event["data"]["callConnectionId"] = call
        response = httpx2.post(f"{base}/api/callbacks", json=event, timeout=10)
        assert response.status_code == 200, response.text


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=needs_postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'log.db'}"
        return
    schema = f"cbtest_{uuid.uuid4().hex[:16]}"
    yield with_options(POSTGRES_URL, schema=schema)

    async def drop() -> None:
        async with admin() as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    asyncio.run(drop())


def _start(
    store: str, record: Path, plugin: str = PLUGIN
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = start_cli(
        "serve", "--port", str(port), "--auth", "none", "--handlers", plugin,
        "--dispatch", "process", "--store", store,
        env={"CALLBACKS_TEST_RECORD": str(record)},
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_ready(base + "/readyz", process)
    return process, base


def _serve_in(
    cwd: Path, port: int, record: Path, *, log: Path | None = None, start_new_session: bool = False
) -> subprocess.Popen[bytes]:
    """``callbacks serve --dispatch process`` started in ``cwd``, its log ``cwd/log.db`` unless
    told otherwise."""
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "callbacks"), "serve", "--port", str(port),
         "--auth", "none", "--handlers", PLUGIN, "--dispatch", "process",
         "--store", f"sqlite:///{log or cwd / 'log.db'}"],
        cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT),
                      "CALLBACKS_TEST_RECORD": str(record)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=start_new_session,
        preexec_fn=interruptible,
    )


def test_by_default_handlers_run_in_a_child_where_auto_says_so(tmp_path: Path) -> None:
    """Without --dispatch, the server runs handlers where ``dispatch_mode()`` says: in a child
    process on a Linux machine with two or more CPUs (CI), in its own process otherwise."""
    expected, _ = ServeConfig(auth="none", store=f"sqlite:///{tmp_path / 'log.db'}").dispatch_mode()
    record = tmp_path / "record.jsonl"
    port = free_port()
    process = start_cli(
        "serve", "--port", str(port), "--auth", "none", "--handlers", PLUGIN,
        "--store", f"sqlite:///{tmp_path / 'log.db'}",
        env={"CALLBACKS_TEST_RECORD": str(record)},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_ready(base + "/readyz", process)
        _post(base, "call-d", range(1, 3))
        assert _wait(lambda: len(read_records(record)) == 2)
        pids = {r["pid"] for r in read_records(record)}
    finally:
        output = stop(process, signal.SIGTERM)
    assert process.returncode == 0, output
    if expected == "process":
        assert pids and process.pid not in pids
        assert pids <= set(_children_seen(output))
    else:
        assert pids == {process.pid}
    assert f"dispatch {expected} (" in output


def _children_seen(output: str) -> list[int]:
    """The pids of the children the server's log says it started."""
    return [int(pid) for pid in re.findall(r"dispatcher process (\d+) started", output)]


def test_a_file_in_the_working_directory_does_not_shadow_the_child_s_modules(
    tmp_path: Path,
) -> None:
    """The child does not put the working directory first on sys.path: a ``secrets.py``
    there (the standard library's secrets) would otherwise stop it at every start."""
    (tmp_path / "secrets.py").write_text("raise ImportError('the secrets.py of the project')\n")
    record = tmp_path / "record.jsonl"
    port = free_port()
    process = _serve_in(tmp_path, port, record)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_ready(base + "/readyz", process)
        _post(base, "call-s", range(1, 2))
        assert _wait(lambda: len(read_records(record)) == 1)
    finally:
        output = stop(process, signal.SIGTERM)
    assert process.returncode == 0, output
    assert "the secrets.py of the project" not in output


def test_a_child_process_runs_the_handlers_in_order_and_its_metrics_are_served(
    tmp_path: Path, store_url: str
) -> None:
    record = tmp_path / "record.jsonl"
    process, base = _start(store_url, record)
    try:
        assert _wait(lambda: len(_children(process.pid)) == 1)
        (child,) = _children(process.pid)
        for call in ("call-a", "call-b"):
            _post(base, call, range(1, 11))
        assert _wait(lambda: len(read_records(record)) == 20)
        for call in ("call-a", "call-b"):
            seen = [r["identity"] for r in read_records(record) if r["call_id"] == call]
            assert seen == [f"{call}/{n}" for n in range(1, 11)]
        # The handler ran in the child, and the child's counts reach this server's /metrics.
        runs = ('callbacks_handler_runs_total{handler="tests.support.recording_plugin.record",'
                'outcome="ok"}')

        def counted() -> bool:
            text = httpx2.get(base + "/metrics").text
            return f"{runs} 20.0" in text

        assert _wait(counted, timeout=5)
        text = httpx2.get(base + "/metrics").text
        assert 'callbacks_events_received_total{dialect="ga",type="PlayCompleted"} 20.0' in text
        assert text.count("# TYPE callbacks_handler_runs_total counter") == 1
    finally:
        output = stop(process, signal.SIGTERM)
    assert process.returncode == 0, output
    assert not _alive(child)
    assert "Traceback" not in output


def test_the_child_is_told_of_new_events_and_does_not_wait_for_its_poll(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    process, base = _start(f"sqlite:///{tmp_path / 'log.db'}", record)
    try:
        _post(base, "call-0", range(1, 2))
        assert _wait(lambda: len(read_records(record)) == 1)  # the child is up
        waits = []
        for n in range(1, 6):  # new calls: each must wake the child's claim loop
            posted = time.monotonic()
            _post(base, f"call-{n}", range(1, 2))
            assert _wait(lambda n=n: len(read_records(record)) == n + 1, timeout=5)
            waits.append(time.monotonic() - posted)
        # Without the notification each would wait for the child's next poll (every 1 s).
        assert max(waits) < 0.3, waits
    finally:
        output = stop(process, signal.SIGTERM)
    assert process.returncode == 0, output


def test_a_dead_child_is_started_again_and_dies_with_the_server(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    process, base = _start(f"sqlite:///{tmp_path / 'log.db'}", record)
    pid = process.pid
    try:
        assert _wait(lambda: len(_children(pid)) == 1)
        (first,) = _children(pid)
        os.kill(first, signal.SIGKILL)
        # Accepted while no child runs: kept in the log, handled by the next child.
        _post(base, "call-c", range(1, 4))
        assert _wait(lambda: [c for c in _children(pid) if c != first and _alive(c)] != [])
        (second,) = [c for c in _children(pid) if c != first]
        assert _wait(lambda: len(read_records(record)) == 3)
        assert [r["identity"] for r in read_records(record)] == ["call-c/1", "call-c/2", "call-c/3"]
        os.kill(pid, signal.SIGKILL)  # the server dies: the kernel takes the child with it
        process.wait(timeout=10)
        assert _wait(lambda: not _alive(second), timeout=5)
    finally:
        output = stop(process, signal.SIGKILL)
    assert "exited with code -9; starting it again" in output


def test_handler_output_and_subprocesses_do_not_touch_the_child_s_pipes(tmp_path: Path) -> None:
    """A handler that prints, and leaves a subprocess holding whatever it inherited: the
    metrics still arrive, and a killed child is still noticed and started again."""
    record = tmp_path / "record.jsonl"
    process, base = _start(
        f"sqlite:///{tmp_path / 'log.db'}", record, plugin="tests.support.noisy_plugin:router"
    )
    pid = process.pid
    try:
        assert _wait(lambda: len(_children(pid)) == 1)
        (first,) = _children(pid)
        _post(base, "call-n", range(1, 3))
        assert _wait(lambda: len(read_records(record)) == 2)
        runs = ('callbacks_handler_runs_total{handler="tests.support.noisy_plugin.noisy",'
                'outcome="ok"}')
        assert _wait(lambda: f"{runs} 2.0" in httpx2.get(base + "/metrics").text, timeout=5)
        os.kill(first, signal.SIGKILL)  # its sleeps live on, holding what they inherited
        assert _wait(lambda: [c for c in _children(pid) if c != first and _alive(c)] != [])
        _post(base, "call-n", range(3, 4))
        assert _wait(lambda: len(read_records(record)) == 3)
    finally:
        # First the sleeps: they hold the server's standard error, which stop() reads to its end.
        for line in Path(str(record) + ".pids").read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line), signal.SIGKILL)
        output = stop(process, signal.SIGTERM)
    assert process.returncode == 0, output
    assert "handler output for call-n/1" in output  # on standard error, with the logs
    assert "malformed report" not in output


def test_ctrl_c_to_the_whole_group_stops_the_server_first_and_starts_no_new_child(
    tmp_path: Path,
) -> None:
    """A terminal's Ctrl-C (or a service manager's SIGTERM) reaches every process of the group:
    the child waits for the server to stop it instead of exiting, and is not restarted."""
    record = tmp_path / "record.jsonl"
    port = free_port()
    process = _serve_in(ROOT, port, record, log=tmp_path / "log.db", start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base + "/readyz", process)
        assert _wait(lambda: len(_children(process.pid)) == 1)
        (child,) = _children(process.pid)
        _post(base, "call-i", range(1, 4))
        assert _wait(lambda: len(read_records(record)) == 3)
        os.killpg(process.pid, signal.SIGINT)
        output = process.communicate(timeout=30)[0].decode()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 130, output  # a clean stop, reported as Ctrl-C's, as usual
    assert "Application shutdown complete" in output
    assert "starting it again" not in output
    assert len(_children_seen(output)) == 1, output  # started once, never again
    assert not _alive(child)


def _intake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DispatchProcess:
    """The receiving side of ``--dispatch process`` in this process (a child restarts after
    30 s), the recording plugin its handler."""
    from callbacks.plugins.loader import load_enabled
    from callbacks.server.metrics import Metrics
    from callbacks.service import build_dispatcher

    monkeypatch.setenv("CALLBACKS_TEST_RECORD", str(tmp_path / "record.jsonl"))
    config = ServeConfig(
        auth="none", store=f"sqlite:///{tmp_path / 'log.db'}", handlers=[PLUGIN],
        dispatch="process",
    )
    metrics = Metrics()
    plugins = load_enabled(config.handlers, config.config_file)
    return DispatchProcess(
        build_dispatcher(config, plugins, metrics, None, None, concurrency=0), config.to_json(),
        metrics, restart_delay=30,
    )


def dispatch_children() -> list[int]:
    return [
        pid for pid in _children(os.getpid())
        if CHILD_MODULE.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


async def eventually(condition: Callable[[], Any], within: float = 15.0) -> bool:
    """Whether ``condition()`` (or the awaitable it returns) comes true within ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_the_receiver_is_ready_once_its_child_dispatches_and_stays_ready_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child whose plugin takes 2 s to import: the log is ready long before the server says
    so. A child that dies later does not change readiness (events wait in the log for the
    next one)."""
    monkeypatch.setenv("CALLBACKS_TEST_CHILD_IMPORT_DELAY", "2")
    intake = _intake(tmp_path, monkeypatch)
    await intake.start()
    try:
        started = time.monotonic()
        assert await intake.store.ready()
        assert not await intake.ready()
        assert await eventually(intake.ready)
        assert time.monotonic() - started > 1.5  # not before the child ran
        (child,) = dispatch_children()
        os.kill(child, signal.SIGKILL)
        assert await eventually(lambda: not _alive(child))
        await asyncio.sleep(0.2)
        assert await intake.ready()
    finally:
        await intake.stop()


async def test_the_receiver_leaves_checkpoints_to_its_child_while_the_child_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paused once the child reports (its loop runs, and its checkpointer with it); resumed
    when the child's loop stops (SIGSTOP here, a handler blocking it in real life) and when the
    child is gone."""
    from callbacks.dispatch.process import CHECKPOINT_HANDOVER
    from callbacks.store.sqlite.store import SQLiteStore

    intake = _intake(tmp_path, monkeypatch)
    store = intake.store
    assert isinstance(store, SQLiteStore)

    assert not store.checkpoints_paused
    await intake.start()
    try:
        assert await eventually(lambda: store.checkpoints_paused)
        (child,) = dispatch_children()
        os.kill(child, signal.SIGSTOP)
        try:
            assert await eventually(lambda: not store.checkpoints_paused, CHECKPOINT_HANDOVER + 5)
        finally:
            os.kill(child, signal.SIGCONT)
        assert await eventually(lambda: store.checkpoints_paused)
        os.kill(child, signal.SIGKILL)
        # No child for the next 30 s: this process checkpoints again meanwhile.
        assert await eventually(lambda: not store.checkpoints_paused)
    finally:
        await intake.stop()


class _Notified:
    """Stands in for the child's dispatcher: what it was told."""

    def __init__(self) -> None:
        self.calls: list[list[str | None]] = []

    def notify(self, call_ids: list[str | None]) -> None:
        self.calls.append(call_ids)


async def test_the_childs_listener_outlives_a_line_over_its_limit() -> None:
    # Before, the reader's ValueError ended the listener: no more wake-ups, and a stop was
    # never noticed, so the server killed the child instead of letting its handlers finish.
    from callbacks.cli.child import _listen

    reader = asyncio.StreamReader(limit=64)
    reader.feed_data(json.dumps(["x" * 200]).encode() + b"\n")
    reader.feed_data(b"not json\n")
    reader.feed_data(b'["call-1", null]\n')
    reader.feed_eof()
    notified, stop = _Notified(), asyncio.Event()
    await asyncio.wait_for(_listen(reader, notified, stop), 5)  # type: ignore[arg-type]
    assert notified.calls == [["call-1", None]]
    assert stop.is_set()
