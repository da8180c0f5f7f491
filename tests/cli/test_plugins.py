"""``callbacks plugins``, and the one-line errors of ``serve``, ``call`` and ``flows`` when a
plugin or a flow is misconfigured (exit status 2, nothing started, no secret echoed)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from callbacks.cli import main
from callbacks.store import open_store
from tests.support.servers import free_port

REMINDER_ENV = {
    "CALLBACKS_REMINDER_SOURCE": "8:acs:app",
    "CALLBACKS_REMINDER_PROMPT_URL": "https://m.example/r.wav",
    "CALLBACKS_REMINDER_AGENT": "8:acs:agent",
}
CONNECTION = "endpoint=http://127.0.0.1:9;accesskey=c2VjcmV0LWtleQ=="
CALLBACK = "http://127.0.0.1:9/api/callbacks?secret=t0ps3cret"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CALLBACKS_* from the developer's shell; a callback secret for serve."""
    import os

    for name in list(os.environ):
        if name.startswith("CALLBACKS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CALLBACKS_SECRET", "t0ps3cret")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_plugins_lists_each_installed_plugin_with_its_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(capsys, "plugins")
    assert status == 0
    assert "greeting: Play an audio file to a call once for each participant who joins it." in out
    assert "CALLBACKS_REMINDER_PROMPT_REPEATS" in out and "default 3" in out
    assert "starts a flow: callbacks call notify --to TO [--to ...] [--message MESSAGE]" in out
    status, out, _ = run(capsys, "plugins", "--json")
    documents = {d["name"]: d for d in map(json.loads, out.splitlines())}
    assert {"greeting", "reminder", "notify"} <= set(documents)
    settings = {s["name"]: s for s in documents["reminder"]["settings"]}
    assert settings["agent"] == {
        "name": "agent", "type": "str", "required": True, "default": None,
        "env": "CALLBACKS_REMINDER_AGENT",
        "description": "who key 2 invites into the call (+1... or 8:acs:...)",
    }
    assert documents["greeting"]["flow"] is None
    assert documents["notify"]["flow"] == {"options": [
        {"name": "to", "required": True, "many": True},
        {"name": "message", "required": False, "many": False},
    ]}


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "callbacks.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("args", "env", "config", "message"),
    [
        (["--handlers", "greeting"], {}, None,
         "handler plugin 'greeting': setting audio_url is missing "
         "(set CALLBACKS_GREETING_AUDIO_URL or use --config)"),
        (["--handlers", "greeting"], {"CALLBACKS_GREETING_AUDIO_URL": "wav"}, None,
         "setting audio_url (CALLBACKS_GREETING_AUDIO_URL): must be an absolute http(s) URL"),
        (["--handlers", "greeting"], {}, '[greeting]\naudio_url = "https://m/x.wav"\nloud = 1\n',
         "unknown setting 'loud' in [greeting] of"),
        (["--handlers", "greeting"], {}, "[greeting\n", "--config: "),
        (["--handlers", "reminder", "--callback-url", CALLBACK], REMINDER_ENV, None,
         "handler plugins reminder place or answer calls: pass --connection-string"),
        (["--handlers", "reminder", "--connection-string", CONNECTION], REMINDER_ENV, None,
         "no callback URL: pass --callback-url"),
        (["--handlers", "reminder", "--connection-string", CONNECTION,
          "--callback-url", "ftp://h/api/callbacks?secret=t0ps3cret"], REMINDER_ENV, None,
         "--callback-url: the callback URL must be an absolute http(s) URL"),
        (["--handlers", "greeting,greeting"], {"CALLBACKS_GREETING_AUDIO_URL": "https://m/x"},
         None, "handler plugin 'greeting' is enabled twice"),
    ],
)
def test_serve_stops_at_start_with_one_line_naming_the_plugin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    args: list[str], env: dict[str, str], config: str | None, message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    extra = ["--config", write(tmp_path, config)] if config is not None else []
    status, out, err = run(capsys, "serve", "--port", str(free_port()), "--store",
                           f"sqlite:///{tmp_path / 'log.db'}", *args, *extra)
    assert status == 2
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith("callbacks serve: error: ") and message in line
    assert "t0ps3cret" not in err and "c2VjcmV0" not in err
    assert not (tmp_path / "log.db").exists()  # nothing was started


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["call", "nope", "--to", "+1425"], {}, "handler plugin 'nope' is not installed"),
        (["call", "greeting", "--to", "+1425"], {}, "'greeting' starts no flow"),
        (["call", "reminder", "--to", "+1425"],
         {k: v for k, v in REMINDER_ENV.items() if k != "CALLBACKS_REMINDER_SOURCE"},
         "handler plugin 'reminder': setting source is missing"),
        (["call", "reminder", "--to", "+1425"], REMINDER_ENV, "no connection string"),
        (["call", "reminder", "--to", "+1425", "--connection-string", CONNECTION],
         REMINDER_ENV, "no callback URL"),
        (["call", "reminder", "--to", "+1425", "--appointment", "x" * 201,
          "--connection-string", CONNECTION, "--callback-url", CALLBACK], REMINDER_ENV,
         "--appointment: String should have at most 200 characters"),
        (["flows", "--flow", "greeting"], {}, "no installed plugin has a flow named 'greeting'"),
        (["flows", "--store", "sqlite:///no/such/log.db"], {}, "no event log at no/such/log.db"),
    ],
)
def test_call_and_flows_refuse_with_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    argv: list[str], env: dict[str, str], message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    status, _, err = run(capsys, *argv)
    assert status == 2
    [line] = err.splitlines()
    assert line.startswith("callbacks") and message in line, line
    assert "t0ps3cret" not in err and "c2VjcmV0" not in err


def test_call_reports_every_missing_setting_at_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, _, err = run(capsys, "call", "reminder", "--to", "+1425")
    assert status == 2
    assert err.splitlines() == [
        f"callbacks call: error: handler plugin 'reminder': setting {name} is missing "
        f"(set CALLBACKS_REMINDER_{name.upper()} or use --config)"
        for name in ("source", "prompt_url", "agent")
    ]


def test_call_reports_a_call_the_service_could_not_place(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in REMINDER_ENV.items():
        monkeypatch.setenv(name, value)
    closed = f"endpoint=http://127.0.0.1:{free_port()};accesskey=c2VjcmV0LWtleQ=="
    status, out, err = run(capsys, "call", "reminder", "--to", "+14251001000",
                           "--connection-string", closed, "--callback-url", CALLBACK)
    assert status == 1 and out == ""
    [line] = err.splitlines()
    assert line.startswith("callbacks call: reminder ") and "cannot call +14251001000" in line
    assert "t0ps3cret" not in err and "c2VjcmV0" not in err


def test_flows_on_an_empty_log_prints_the_header_only(
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    asyncio.run(_empty_log(tmp_path / "log.db"))  # as `callbacks serve` makes it
    status, out, _ = run(capsys, "flows", "--store", f"sqlite:///{tmp_path / 'log.db'}")
    assert status == 0
    assert out.split() == ["FLOW", "ID", "STARTED", "(UTC)", "OUTCOME", "SUMMARY"]


async def _empty_log(path: Path) -> None:
    async with open_store(f"sqlite:///{path}"):
        pass


def test_flows_on_an_empty_file_refuses_and_leaves_it_empty(
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    (tmp_path / "log.db").touch()
    status, out, err = run(capsys, "flows", "--store", f"sqlite:///{tmp_path / 'log.db'}")
    assert (status, out) == (2, "")
    assert f"no event log at {tmp_path / 'log.db'}" in err
    assert (tmp_path / "log.db").stat().st_size == 0
