"""``callbacks serve`` as users run it: the real console script, real sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from callbacks.cli import build_parser, main
from callbacks.config import ServeConfig
from tests.support.samples import sample_bytes
from tests.support.servers import free_port, read_records, start_cli, stop, wait_until_ready

SECRET = "cli-test-secret-7f3a"
PLUGIN = "tests.support.recording_plugin:router"


def wait_for_records(path: Path, count: int, timeout: float = 10) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = read_records(path)
        if len(records) >= count:
            return records
        time.sleep(0.05)
    return read_records(path)


def test_serve_receives_authenticates_and_dispatches(tmp_path: Path) -> None:
    port = free_port()
    record = tmp_path / "record.jsonl"
    process = start_cli(
        "serve", "--port", str(port), "--handlers", PLUGIN,
        "--store", f"sqlite:///{tmp_path / 'log.db'}",
        env={"CALLBACKS_SECRET": SECRET, "CALLBACKS_TEST_RECORD": str(record)},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_ready(base + "/readyz", process)
        headers = {"content-type": "application/json"}
        ok = httpx2.post(
            f"{base}/api/callbacks/flow-1?secret={SECRET}",
            content=sample_bytes("preview2021", "CallLegStateChanged"),
            headers=headers,
        )
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"accepted": 1, "duplicates": 0}
        denied = httpx2.post(
            f"{base}/api/callbacks?secret=nope",
            content=sample_bytes("ga", "CallConnected"),
            headers=headers,
        )
        assert denied.status_code == 401
        records = wait_for_records(record, 1)
        assert [(r["type"], r["path_context"]) for r in records] == [
            ("CallLegStateChanged", "flow-1")
        ]
    finally:
        output = stop(process, signal.SIGTERM)
    assert process.returncode == 0, output
    assert SECRET not in output
    assert "nope" not in output


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    process = start_cli(*args, env=env)
    output = process.communicate(timeout=20)[0].decode()
    return subprocess.CompletedProcess(args, process.returncode, output, "")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["serve"], {}, "no callback secret"),
        (["serve", "--auth", "maybe"], {}, "--auth must be one of"),
        (["serve", "--auth", "none", "--handlers", "no_such_module:router"], {},
         "handler plugin 'no_such_module:router' failed to import"),
        (["serve", "--auth", "none", "--handlers",
          "tests.support.recording_plugin:not_a_router"], {},
         "is a object, not a callbacks.Router"),
        (["serve", "--auth", "none", "--handlers", "not-installed"], {},
         "handler plugin 'not-installed' is not installed"),
        (["serve", "--auth", "none"], {"CALLBACKS_PORT": "eighty"}, "CALLBACKS_PORT"),
        (["serve", "--auth", "none", "--dispatch", "process", "--store", "sqlite:///:memory:"],
         {}, "not sqlite:///:memory:"),
        (["serve", "--auth", "none", "--dispatch", "process", "--store",
          "sqlite:///%3Amemory%3A"], {}, "not sqlite:///:memory:"),
        (["serve", "--auth", "none", "--dispatch", "process", "--concurrency", "0"], {},
         "would run no handlers"),
        (["serve", "--auth", "none", "--dispatch", "thread"], {}, "--dispatch must be one of"),
        (["serve", "--auth", "none", "--api-version", "2022-01-01"], {},
         "--api-version must be one of 2023-03-06, "),
        (["serve", "--auth", "none"], {"CALLBACKS_API_VERSION": "2022-01-01"},
         "CALLBACKS_API_VERSION must be one of 2023-03-06, "),
        (["serve", "--auth", "none"], {"CALLBACKS_CONCURRENCY": "-1"},
         "CALLBACKS_CONCURRENCY: must be 0 or a positive integer, not '-1'"),
        (["serve", "--auth", "none", "--connection-string", "endpoint=x;accesskey=c2VjcmV0"], {},
         "--connection-string"),
        (["serve", "--auth", "none", "--store", "sqlite:///no/such/directory/log.db"], {},
         "--store: cannot open the event log at no/such/directory/log.db"),
        (["serve", "--auth", "none", "--store", "sqlite:///tests"], {},
         "--store: cannot open the event log at tests"),
        (["serve", "--auth", "none", "--store", "postgresql://u:c2VjcmV0@db:port/x"], {},
         "--store: the port of a PostgreSQL event log URL"),
    ],
)
def test_bad_configuration_is_one_clear_line_and_exit_2(
    args: list[str], env: dict[str, str], message: str
) -> None:
    result = run_cli(*args, env={"CALLBACKS_SECRET": "", **env})
    assert result.returncode == 2, result.stdout
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    assert lines[0].startswith("callbacks")
    assert message in lines[0]
    assert "Traceback" not in result.stdout
    assert "c2VjcmV0" not in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--auth", "jwt", "--jwt-audience", "r", "--jwks-url", "ftp://x"],
         "--jwks-url: must be an absolute http(s) URL, not 'ftp://x'"),
        (["--secret", "s", "--jwks-url", "ftp://x"], "--jwks-url: must be an absolute"),
        (["--auth", "none", "--config", "{deep}"], "nests arrays or tables too deeply"),
        (["--auth", "none", "--port", "abc"], "--port: must be a port number (0 to 65535)"),
        (["--auth", "none", "--port", "{busy}"], ":{busy} is already in use by another program"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_leaves_no_log_behind(
    tmp_path: Path, args: list[str], message: str
) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 100_000)
    log = tmp_path / "log.db"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        fill = {"deep": str(deep), "busy": str(busy.getsockname()[1])}
        result = run_cli(
            "serve", "--store", f"sqlite:///{log}", "--dispatch", "process",
            *[arg.format(**fill) for arg in args], env={"CALLBACKS_SECRET": ""},
        )
    assert result.returncode == 2, result.stdout
    [line] = result.stdout.splitlines()
    assert line.startswith("callbacks serve: error: ")
    assert message.format(**fill) in line
    assert not log.exists()


def test_auth_none_warns_at_start(tmp_path: Path) -> None:
    port = free_port()
    process = start_cli(
        "serve", "--port", str(port), "--auth", "none",
        "--store", f"sqlite:///{tmp_path / 'log.db'}",
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/healthz", process)
    finally:
        output = stop(process)
    assert "authentication is OFF" in output
    assert process.returncode == 0


def test_handlers_without_a_connection_string_are_warned_about_once_and_api_style_too(
    tmp_path: Path,
) -> None:
    port = free_port()
    process = start_cli(
        "serve", "--port", str(port), "--auth", "none", "--handlers", PLUGIN,
        "--store", f"sqlite:///{tmp_path / 'log.db'}", "--api-style", "2021",
        env={"CALLBACKS_CONNECTION_STRING": ""},
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/healthz", process)
    finally:
        output = stop(process)
    assert output.count("no connection string: handlers can read events") == 1
    assert output.count(
        "callbacks: --api-style is deprecated: use --api-version 2021-04-15-preview1"
    ) == 1


def test_a_module_in_the_current_directory_loads_without_pythonpath(tmp_path: Path) -> None:
    (tmp_path / "myflows.py").write_text(
        "from callbacks import Router\nrouter = Router()\n"
        "@router.on('*')\nasync def seen(event, ctx):\n    print('seen', event.type, flush=True)\n"
        "    open('seen.txt', 'a').write(event.type)\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "callbacks"), "serve", "--port", str(port),
         "--auth", "none", "--handlers", "myflows:router"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={"PATH": "/usr/bin:/bin"},
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/readyz", process)
        answer = httpx2.post(
            f"http://127.0.0.1:{port}/api/callbacks",
            content=sample_bytes("ga", "CallConnected"),
            headers={"content-type": "application/json"},
        )
        assert answer.status_code == 200
        deadline = time.monotonic() + 10  # handlers run after the answer
        while not (tmp_path / "seen.txt").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        output = stop(process)
    assert "seen CallConnected" in output
    assert (tmp_path / "callbacks.db").exists()


@pytest.mark.parametrize(
    ("settings", "platform", "cpus", "mode", "why"),
    [
        ({}, "linux", 2, "process", "2 CPUs"),
        ({}, "linux", 1, "inline", "one CPU"),
        ({}, "darwin", 8, "inline", "only the default on Linux"),
        ({"store": "sqlite:///:memory:"}, "linux", 2, "inline", "in-memory log"),
        ({"store": "sqlite:///%3Amemory%3A"}, "linux", 2, "inline", "in-memory log"),
        ({"store": "sqlite:///data/:memory:.db"}, "linux", 2, "process", "2 CPUs"),  # a file
        ({"concurrency": 0}, "linux", 2, "inline", "--concurrency 0"),
        ({"dispatch": "inline"}, "linux", 2, "inline", "--dispatch inline"),
        ({"dispatch": "process"}, "linux", 1, "process", "--dispatch process"),
    ],
)
def test_auto_dispatch_uses_a_child_process_only_where_it_gains_and_works(
    monkeypatch: pytest.MonkeyPatch, settings: dict[str, object], platform: str, cpus: int,
    mode: str, why: str,
) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    config = ServeConfig(auth="none", **settings)  # type: ignore[arg-type]
    config.check()  # auto never refuses a configuration; it falls back to inline
    chosen, reason = config.dispatch_mode()
    assert chosen == mode
    assert why in reason


def test_every_problem_is_reported_at_once_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("CALLBACKS_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "callbacks.toml"
    config.write_text('[serve]\nmax_events = 0\nprot = 1\n[greeting]\nloud = true\n')
    log = tmp_path / "log.db"
    code = main(["serve", "--port", "abc", "--store", f"sqlite:///{log}", "--max-depth", "999",
                 "--handlers", "reminder,greeting", "--config", str(config)])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [f"callbacks serve: error: {line}" for line in [
        f"--config: [serve] of {config}: unknown option 'prot' (serve's option names, with _ "
        "for -: jwks_url)",
        "--port: must be a port number (0 to 65535), not 'abc'",
        f"[serve] of {config} max_events: must be a positive integer, not '0'",
        "no callback secret: pass --secret or set CALLBACKS_SECRET (or choose --auth none for "
        "local development)",
        "--max-depth may be at most 256",
        "handler plugin 'reminder': setting source is missing (set CALLBACKS_REMINDER_SOURCE or "
        f"source in [reminder] of {config})",
        "handler plugin 'reminder': setting prompt_url is missing (set "
        f"CALLBACKS_REMINDER_PROMPT_URL or prompt_url in [reminder] of {config})",
        "handler plugin 'reminder': setting agent is missing (set CALLBACKS_REMINDER_AGENT or "
        f"agent in [reminder] of {config})",
        f"handler plugin 'greeting': unknown setting 'loud' in [greeting] of {config} "
        "(settings: audio_url, path_context)",
        "handler plugin 'greeting': setting audio_url is missing (set "
        f"CALLBACKS_GREETING_AUDIO_URL or audio_url in [greeting] of {config})",
        "handler plugins reminder place or answer calls: pass --connection-string (or "
        "CALLBACKS_CONNECTION_STRING)",
        "no callback URL: pass --callback-url (or CALLBACKS_CALLBACK_URL), the receiver's "
        "public https://.../api/callbacks?secret=...",
    ]]
    assert not log.exists()


def test_serve_options_come_from_the_config_file_below_the_environment_and_flags(
    tmp_path: Path,
) -> None:
    config = tmp_path / "callbacks.toml"
    config.write_text('[serve]\nport = 9001\nhost = "0.0.0.0"\nmax_attempts = 7\n'
                      'handlers = ["greeting", "notify"]\nauth = "none"\n[greeting]\n')
    args = build_parser().parse_args(["serve", "--config", str(config), "--port", "9003"])
    resolved = ServeConfig.from_args(args, environ={"CALLBACKS_PORT": "9002",
                                                    "CALLBACKS_HOST": "127.0.0.2"})
    assert (resolved.port, resolved.host) == (9003, "127.0.0.2")  # flag, then environment
    assert (resolved.max_attempts, resolved.handlers) == (7, ["greeting", "notify"])  # file
    assert resolved.auth == "none" and resolved.concurrency == 64  # file, default
    via_env = build_parser().parse_args(["serve"])
    assert ServeConfig.from_args(via_env, environ={"CALLBACKS_CONFIG": str(config)}).port == 9001


def test_start_up_warns_of_what_is_probably_not_meant_and_names_the_log(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "log.db"
    process = start_cli(
        "serve", "--port", str(port), "--store", f"sqlite:///{log}", "--dispatch", "process",
        "--log-format", "text", "--jwks-url", "https://keys.example.com/keys",
        env={"CALLBACKS_SECRET": SECRET},
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/readyz", process)
    finally:
        output = stop(process)
    assert process.returncode == 0, output
    assert " WARNING callbacks.serve: no handlers enabled (--handlers): events are logged, and " \
           "nothing handles them\n" in output
    assert " WARNING callbacks.serve: --jwks-url is ignored: --auth secret verifies no JWT\n" \
        in output
    assert f"(auth secret, handlers: none, log sqlite:///{log})" in output
    assert "dispatcher process" in output
    assert "runs no handlers" not in output  # the child runs them
    assert SECRET not in output


def test_the_log_is_named_without_its_password() -> None:
    from callbacks.service import log_name

    assert log_name("postgresql://u:hunter2@db:5432/x?schema=s&password=p2") == (
        "postgresql://u@db:5432/x?schema=s"
    )
    assert log_name("sqlite:///data/callbacks.db?synchronous=full") == (
        "sqlite:///data/callbacks.db"
    )
