"""The IVR's settings: the example menu loads, and every inconsistency is one clear line.

A menu that needs cognitive services (spoken phrases, a text or SSML prompt or message) is
refused without ``cognitive_services_endpoint``; ``callbacks serve`` says so in one line, exit
status 2, before it listens. Nothing starts the IVR: ``callbacks call ivr`` and the flows API
refuse it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from callbacks.plugins.settings import SettingsError, load_settings, read_config_file
from handlers.ivr.menu import IvrSettings
from tests.support import ROOT

EXAMPLE = ROOT / "examples" / "ivr.toml"
FILE = "https://media.example/x.wav"
KEY = "a2V5LWtleS1rZXkta2V5LWtleS1rZXkta2V5LWtleS0="  # base64 of 32 bytes
KEYS_ONLY = {"main": {"prompt": FILE, "options": [{"key": "1", "action": "play",
                                                     "message": FILE}]}}


def settings(**values: Any) -> IvrSettings:
    return load_settings("ivr", IvrSettings, environ={}, section=values, source="ivr.toml")


def error(**values: Any) -> str:
    with pytest.raises(SettingsError) as caught:
        settings(**values)
    return str(caught.value)


def menu(*options: dict[str, Any], prompt: Any = FILE) -> dict[str, Any]:
    return {"main": {"prompt": prompt, "options": list(options)}}


def test_the_example_menu_loads() -> None:
    loaded = load_settings("ivr", IvrSettings, environ={},
                           section=read_config_file(EXAMPLE)["ivr"], source=str(EXAMPLE))
    assert set(loaded.menus) == {"main", "support"}
    assert loaded.menus["main"].spoken and loaded.fallback is not None
    assert loaded.numbers == ["4:+14255550000"]
    assert loaded.action("support/2") == loaded.menus["support"].options[1]
    assert loaded.action("fallback") == loaded.fallback
    assert loaded.action("support/9") is None and loaded.action("nowhere/1") is None


def test_a_keys_only_menu_of_files_needs_no_cognitive_services() -> None:
    loaded = settings(menus=KEYS_ONLY)
    assert loaded.cognitive_services_endpoint is None and not loaded.menus["main"].spoken
    assert loaded.action("fallback") is not None  # unset: hang up
    main = loaded.menus["main"]
    assert main.pick("1", None) == 1 and main.pick("7", None) is None


@pytest.mark.parametrize(("values", "message"), [
    ({"menus": menu({"key": "1", "phrases": ["sales"], "action": "hangup", "message": FILE})},
     "setting menus ([ivr] menus in ivr.toml): menu 'main' listens for spoken phrases, which "
     "needs cognitive_services_endpoint"),
    ({"menus": menu({"key": "1", "action": "hangup", "message": FILE}, prompt={"text": "Hi"})},
     "menu 'main' has a text or SSML prompt, which needs cognitive_services_endpoint"),
    ({"menus": menu({"key": "1", "action": "play", "message": {"ssml": "<speak/>"}})},
     "menu 'main' option 1 says a text or SSML message, which needs cognitive_services_endpoint"),
    ({"retry_message": {"text": "Sorry"}, "menus": KEYS_ONLY},
     "setting retry_message ([ivr] retry_message in ivr.toml): a text or SSML message needs"),
    ({"fallback": {"action": "menu", "menu": "main"}, "menus": KEYS_ONLY},
     "setting fallback ([ivr] fallback in ivr.toml): the fallback runs after the last replay"),
    ({"menus": menu({"key": "1", "action": "transfer"})},
     "setting menus.main.options[0]"),
    ({"menus": menu({"key": "1", "action": "transfer", "to": "bob"})},
     "setting menus.main.options[0].to ([ivr] menus in ivr.toml): expected a phone number"),
    ({"menus": menu({"key": "12", "action": "hangup", "message": FILE})},
     "key must be one DTMF key"),
    ({"menus": menu({"action": "play", "message": FILE})}, "needs a key, phrases, or both"),
    ({"menus": menu({"key": "1", "action": "hangup"})}, "a hangup option needs a message"),
    ({"menus": menu({"key": "1", "action": "play"})}, "a play action needs a message"),
    ({"menus": menu({"key": "1", "action": "menu", "menu": "sub"})},
     "menu 'main' option 1 goes to menu 'sub', which is not defined"),
    ({"menus": menu({"key": "1", "action": "hangup", "message": FILE, "then": "menu"})},
     "only a play action has then"),
    ({"menus": menu({"key": "1", "action": "play", "message": FILE},
                    {"key": "1", "action": "play", "message": FILE})},
     "two options have the same key"),
    ({"menus": menu({"key": "1", "action": "play", "message": {"url": FILE, "text": "x"}})},
     "a prompt is an audio URL, or exactly one of url, text, ssml"),
    ({"menus": menu({"key": "1", "action": "play", "message": "media/x.wav"})},
     "url must be an absolute http(s) URL"),
    ({"menus": KEYS_ONLY, "start": "welcome"}, "no menu 'welcome' to start with"),
    ({"menus": {"Main Menu": KEYS_ONLY["main"]}, "start": "Main Menu"},
     "menu name 'Main Menu' must match"),
    ({"menus": KEYS_ONLY, "retries": 11}, "setting retries"),
])
def test_an_inconsistent_menu_is_one_line_naming_what(values: dict[str, Any],
                                                      message: str) -> None:
    text = error(**values)
    assert message in text and "\n" not in text


def test_serve_refuses_a_spoken_menu_without_the_endpoint_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "ivr.toml"
    config.write_text('[ivr.menus.main]\nprompt = "https://media.example/main.wav"\n'
                      'options = [{ key = "1", phrases = ["sales"], action = "transfer", '
                      'to = "+14255550100" }]\n')
    result = subprocess.run(
        [str(Path(sys.executable).parent / "callbacks"), "serve", "--secret", "s3cret",
         "--handlers", "ivr", "--config", str(config),
         "--connection-string", f"endpoint=http://127.0.0.1:9;accesskey={KEY}",
         "--callback-url", "https://example.com/api/callbacks?secret=s3cret"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        f"callbacks serve: error: handler plugin 'ivr': setting menus ([ivr] menus in {config}): "
        "menu 'main' listens for spoken phrases, which needs cognitive_services_endpoint "
        "(speech runs on Azure AI services)\n"
    )


def test_nothing_starts_the_ivr() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "callbacks"), "call", "ivr"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert result.stderr == "callbacks call: error: handler plugin 'ivr' starts no flow\n"


def test_serve_refuses_the_ivr_on_the_2021_api_in_one_line(tmp_path: Path) -> None:
    # Answering is GA's: on the 2021 API every incoming call would fail until it is dead.
    config = tmp_path / "ivr.toml"
    config.write_text('[ivr.menus.main]\nprompt = "https://media.example/main.wav"\n'
                      'options = [{ key = "1", action = "hangup", '
                      'message = "https://media.example/bye.wav" }]\n')
    result = subprocess.run(
        [str(Path(sys.executable).parent / "callbacks"), "serve", "--secret", "s3cret",
         "--handlers", "ivr", "--config", str(config), "--api-version", "2021-04-15-preview1",
         "--connection-string", f"endpoint=http://127.0.0.1:9;accesskey={KEY}",
         "--callback-url", "https://example.com/api/callbacks?secret=s3cret",
         "--store", f"sqlite:///{tmp_path / 'log.db'}"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        "callbacks serve: error: handler plugins ivr answer incoming calls, which only GA Call "
        "Automation can: --api-version 2021-04-15-preview1 is the 2021 API; leave it out (the "
        "default is 2026-03-12) or give a GA version\n"
    )
    assert not (tmp_path / "log.db").exists()
