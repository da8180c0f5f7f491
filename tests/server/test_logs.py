"""Logs: JSON lines off a terminal, text on one, one line per event outcome, never blocking.

The last tests run the real ``callbacks serve`` and read what it printed.
"""

from __future__ import annotations

import io
import json
import logging
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from callbacks.context import Context
from callbacks.dispatch.dispatcher import DispatchConfig, Dispatcher
from callbacks.events import Event
from callbacks.routing import Router
from callbacks.server.logs import (
    JsonFormatter,
    LogWriter,
    TextFormatter,
    Throttle,
    configure_logging,
    json_wanted,
)
from callbacks.store import EventStatus, open_store
from tests.support.dispatch import context, settled
from tests.support.log_bodies import ga_body, ga_element, ga_events
from tests.support.servers import free_port, start_cli, stop, wait_until_ready


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger back as pytest had it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in ("httpx2", "httpcore", "asyncio")}
    flags = (logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    yield
    logging.logThreads, logging.logProcesses, logging.logMultiprocessing = flags
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name, old in quiet.items():
        logging.getLogger(name).setLevel(old)


def record(message: str, *args: object, **extra: Any) -> logging.LogRecord:
    rec = logging.LogRecord("callbacks.test", logging.INFO, __file__, 1, message, args, None)
    rec.__dict__.update(extra)
    return rec


def test_a_json_line_has_time_level_logger_message_static_fields_and_extras() -> None:
    formatter = JsonFormatter({"replica": "r1"})
    line = formatter.format(
        record("event %s done", "e-1", call_id="c-1", event_id="e-1", attempt=2, tags=("x",))
    )
    document = json.loads(line)
    assert "\n" not in line
    assert document["message"] == "event e-1 done"
    assert document["level"] == "info" and document["logger"] == "callbacks.test"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", document["time"])
    assert document["replica"] == "r1"
    assert (document["call_id"], document["event_id"], document["attempt"]) == ("c-1", "e-1", 2)
    assert document["tags"] == "('x',)"  # anything not JSON-native becomes its text
    assert "args" not in document and "msg" not in document and "color_message" not in document


def test_a_json_line_carries_the_traceback() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
        import sys

        rec.exc_info = sys.exc_info()
    document = json.loads(JsonFormatter().format(rec))
    assert "ValueError: broken" in document["exception"]
    assert "replica" not in document


FORGED = "ctx\x1b]0;pwned\x07\n2026-01-01 00:00:00,000 INFO callbacks.serve: forged\u202e"


def test_a_text_line_escapes_what_a_sender_wrote_and_each_traceback_line() -> None:
    try:
        raise ValueError(f"bad {FORGED}")
    except ValueError:
        import sys

        rec = record("event in call %s failed", FORGED)
        rec.exc_info = sys.exc_info()
    text = TextFormatter().format(rec)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    first, *trace = text.splitlines()
    assert first.endswith("INFO callbacks.test: event in call ctx\\x1b]0;pwned\\x07\\n"
                          "2026-01-01 00:00:00,000 INFO callbacks.serve: forged\\u202e failed")
    assert trace[0] == "Traceback (most recent call last):"
    assert trace[-1].startswith("ValueError: bad ctx\\x1b]0;pwned")
    one = TextFormatter(tracebacks=False).format(rec)
    assert "\n" not in one
    assert one.endswith("forged\\u202e failed: ValueError: bad ctx\\x1b]0;pwned\\x07\\n"
                        "2026-01-01 00:00:00,000 INFO callbacks.serve: forged\\u202e")


def test_auto_means_text_on_a_terminal_and_json_elsewhere() -> None:
    assert json_wanted("auto", io.StringIO())
    assert not json_wanted("auto", Terminal())
    assert json_wanted("json", Terminal())
    assert not json_wanted("text", io.StringIO())
    with pytest.raises(ValueError, match="auto, text, json"):
        json_wanted("yaml", io.StringIO())


def test_configure_logging_replaces_handlers_and_quiets_chatty_libraries(
    restore_logging: None,
) -> None:
    first = io.StringIO()
    configure_logging("info", "auto", replica="r1", stream=first)
    second = Terminal()
    handler = configure_logging("info", "auto", replica="r1", stream=second)
    logging.getLogger("callbacks.test").info("hello %s", "there")
    logging.getLogger("httpx2").info("HTTP Request: POST ...")
    logging.getLogger("callbacks.test").debug("not at info")
    handler.close()
    assert first.getvalue() == ""
    lines = second.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("INFO callbacks.test: hello there")
    with pytest.raises(ValueError, match="log level"):
        configure_logging("loud", stream=io.StringIO())


class Blocked(io.StringIO):
    """A stream whose writes wait until released: a full pipe, a stalled collector."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def write(self, text: str) -> int:
        self.release.wait()
        return super().write(text)


def test_a_blocked_output_never_blocks_the_caller_and_drops_are_reported() -> None:
    stream = Blocked()
    writer = LogWriter(stream, JsonFormatter(), buffer=10)
    logger = logging.Logger("blocked")
    logger.addHandler(writer)
    started = time.monotonic()
    for n in range(100):
        logger.warning("line %d", n)
    assert time.monotonic() - started < 1.0
    assert writer.dropped >= 80
    stream.release.set()
    deadline = time.monotonic() + 5
    while len(stream.getvalue().splitlines()) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)  # the writer catches up
    logger.warning("after")
    writer.close()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    messages = [line["message"] for line in lines]
    assert messages[0] == "line 0"
    assert any(m.endswith("log record(s) dropped: the log output was blocked") for m in messages)
    assert messages[-1] == "after"


def test_a_throttle_lets_one_line_through_per_period_and_counts_the_rest() -> None:
    now = [100.0]
    throttle = Throttle(5.0, clock=lambda: now[0])
    assert throttle() == 0
    assert [throttle() for _ in range(3)] == [None, None, None]
    now[0] += 4.9
    assert throttle() is None
    now[0] += 0.2
    assert throttle() == 4
    assert throttle() is None


async def test_one_line_per_event_outcome_with_call_and_event(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    router = Router()

    @router.on("PlayCompleted")
    async def flaky(event: Event, ctx: Context) -> None:
        """Fails on the first event's first run."""
        if event.identity == "call-1/1" and not getattr(flaky, "failed", False):
            flaky.failed = True  # type: ignore[attr-defined]
            raise RuntimeError("first run fails")

    config = DispatchConfig(backoff=0.01, poll_interval=0.02, stop_timeout=2)
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    dispatcher = Dispatcher(store, router, context, config, owner="replica-a")
    caplog.set_level(logging.DEBUG, logger="callbacks.dispatch")
    await dispatcher.start()
    try:
        await dispatcher.submit(ga_events("call-1", 1, 2), None)
        await settled(store, "call-1/2", EventStatus.DONE)
    finally:
        await dispatcher.stop()
    outcomes = [r for r in caplog.records if hasattr(r, "event_id")]
    seen = [(r.event_id, r.status, r.attempt, r.levelname) for r in outcomes]  # type: ignore[attr-defined]
    # Done at debug: the log holds it, and a line per event costs the dispatcher a sixth of
    # its CPU at full load. A failure is a warning, seen at the default level.
    assert seen == [
        ("call-1/1", "failed", 1, "WARNING"),
        ("call-1/1", "done", 2, "DEBUG"),
        ("call-1/2", "done", 1, "DEBUG"),
    ]
    assert all(r.call_id == "call-1" for r in outcomes)  # type: ignore[attr-defined]
    assert "failed: " in outcomes[0].getMessage()


# --- the real server ----------------------------------------------------------------------------

SECRET = "logs-test-secret-8c1e"


def serve_and_post(tmp_path: Path, *options: str) -> str:
    """Run serve with ``options``, post two events for one call, stop it; its output."""
    port = free_port()
    process = start_cli(
        "serve", "--port", str(port), "--store", f"sqlite:///{tmp_path / 'log.db'}",
        "--handlers", "tests.support.recording_plugin:router", "--replica-name", "replica-7",
        *options,
        env={"CALLBACKS_SECRET": SECRET, "CALLBACKS_TEST_RECORD": str(tmp_path / "rec.jsonl")},
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/readyz", process)
        url = f"http://127.0.0.1:{port}/api/callbacks?secret={SECRET}"
        headers = {"content-type": "application/json"}
        assert httpx2.post(url, content=ga_body("call-9", 1, 2), headers=headers).status_code == 200
        deadline = time.monotonic() + 10
        record_file = tmp_path / "rec.jsonl"
        while time.monotonic() < deadline:
            if record_file.exists() and len(record_file.read_text().splitlines()) == 2:
                break
            time.sleep(0.02)
        time.sleep(0.2)  # the outcome is logged after it is recorded
    finally:
        output = stop(process, signal.SIGTERM)
    assert process.returncode == 0, output
    return output


def test_serve_writes_json_lines_with_replica_call_and_event(tmp_path: Path) -> None:
    output = serve_and_post(tmp_path, "--log-format", "json", "--log-level", "debug")
    lines = [json.loads(line) for line in output.splitlines()]
    assert all(line["replica"] == "replica-7" for line in lines)
    outcomes = [line for line in lines if line.get("event_id")]
    assert [(o["event_id"], o["call_id"], o["status"]) for o in outcomes] == [
        ("call-9/1", "call-9", "done"), ("call-9/2", "call-9", "done"),
    ]
    assert any(line["logger"].startswith("uvicorn") for line in lines), "uvicorn's lines too"
    assert SECRET not in output


def test_serve_writes_text_when_asked(tmp_path: Path) -> None:
    output = serve_and_post(tmp_path, "--log-format", "text", "--log-level", "debug")
    assert not output.lstrip().startswith("{")
    assert " DEBUG callbacks.dispatch: event call-9/1 (PlayCompleted, call call-9) done" in output
    assert SECRET not in output


def test_at_the_default_level_serve_writes_no_line_per_handled_event(tmp_path: Path) -> None:
    output = serve_and_post(tmp_path, "--log-format", "json")
    lines = [json.loads(line) for line in output.splitlines()]
    assert [line for line in lines if line.get("event_id")] == []
    assert any("callbacks serve: http://" in line["message"] for line in lines)


def test_text_logs_escape_the_call_id_and_context_a_sender_chose(tmp_path: Path) -> None:
    port = free_port()
    process = start_cli(
        "serve", "--port", str(port), "--store", f"sqlite:///{tmp_path / 'log.db'}",
        "--handlers", "tests.support.recording_plugin:router", "--log-format", "text",
        "--log-level", "debug", "--auth", "none", "--dispatch", "inline",
        env={"CALLBACKS_TEST_RECORD": str(tmp_path / "rec.jsonl")},
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/readyz", process)
        body = json.dumps([ga_element(FORGED, 1)])
        answer = httpx2.post(f"http://127.0.0.1:{port}/api/callbacks", content=body,
                             headers={"content-type": "application/json"})
        assert answer.status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (tmp_path / "rec.jsonl").exists():
            time.sleep(0.02)
        time.sleep(0.2)  # the outcome is logged after it is recorded
    finally:
        output = stop(process, signal.SIGTERM)
    assert "\x1b" not in output and "\x07" not in output and "\u202e" not in output
    assert not any(line.startswith("2026-01-01") for line in output.splitlines())  # no forgery
    [line] = [line for line in output.splitlines() if "callbacks.dispatch: event" in line]
    assert "(PlayCompleted, call ctx\\x1b]0;pwned\\x07\\n2026-01-01" in line


def test_a_bad_log_format_is_one_clear_line() -> None:
    process = start_cli("serve", "--log-format", "yaml", env={"CALLBACKS_SECRET": SECRET})
    output = process.communicate(timeout=20)[0].decode()
    assert process.returncode == 2
    assert output.strip().count("\n") == 0
    assert "--log-format must be one of auto, text, json" in output
