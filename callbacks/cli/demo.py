"""``callbacks demo``: the whole system in one command, offline.

It starts the local Call Automation emulator and the receiver (``callbacks serve``'s app in this
process, its handlers where ``--dispatch auto`` puts them: free ports, a temporary SQLite log),
authenticating the service's callbacks by their JWT and Event Grid's deliveries by the secret
in the URL, as a deployment does. Then one call runs through a built-in flow:

- ``ivr`` (the default, GA): a caller rings the application; the emulator delivers the
  ``IncomingCall`` as Event Grid does, the ``ivr`` plugin answers it and asks its menu, the
  caller says "agent" and is transferred to an agent, who answers;
- ``reminder``: a reminder call is placed; the callee presses 1 at the first prompt. This is
  the demo of a 2021 ``--api-version``, whose API has no incoming calls.

Once the call has ended it prints the call's timeline — every REST request the handlers made and
every callback the service posted, with its time offset — and the flow's outcome as
``callbacks flows`` reports it. Exit status 0 when the outcome is the expected one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from callbacks.cli.timeline import print_timeline
from callbacks.client.automation import CallAutomationClient
from callbacks.client.versions import DEFAULT, is_ga
from callbacks.config import ServeConfig
from callbacks.emulator import EmulatorConfig, RunningEmulator, serve_asgi, serve_emulator
from callbacks.emulator.participants import CallState
from callbacks.emulator.scenario import parse_scenario
from callbacks.errors import ConfigError
from callbacks.flows.flow import start_flow
from callbacks.flows.outcomes import flow_records
from callbacks.identifiers import identifier
from callbacks.options import API_VERSION, Option, add_options, values
from callbacks.plugins.loader import LoadedPlugins, load_enabled
from callbacks.service import build_app
from callbacks.store import open_store
from callbacks.store.records import EventStatus

CALLER = "+14255550100"
IVR_NUMBER = "+14255550000"
AGENT = "8:acs:demo_agent"
REMINDER_AGENT = "+14255550199"
SOURCE = "8:acs:demo_application"

REMINDER_SETTINGS = f"""[reminder]
source = "{SOURCE}"
prompt_url = "https://media.example.com/reminder.wav"
confirmation_url = "https://media.example.com/confirmed.wav"
agent = "{REMINDER_AGENT}"
prompt_repeats = 3
"""
IVR_SETTINGS = f"""[ivr]
cognitive_services_endpoint = "https://demo.cognitiveservices.azure.com/"
numbers = ["{IVR_NUMBER}"]

[ivr.menus.main]
prompt = {{ text = "For sales, press 1 or say sales. For an agent, press 0 or say agent." }}

[[ivr.menus.main.options]]
key = "1"
phrases = ["sales"]
action = "transfer"
to = "+14255550101"

[[ivr.menus.main.options]]
key = "0"
phrases = ["agent", "operator"]
label = "agent"
action = "transfer"
to = "{AGENT}"
message = {{ text = "Connecting you to an agent." }}
"""


@dataclass(frozen=True, slots=True)
class _Demo:
    """One flow's demo: its settings, what the simulated people do, and the outcome expected."""

    flow: str
    settings: str
    scenario: dict[str, Any]
    expected: str


def _demo(flow: str, api_version: str) -> _Demo:
    if flow == "ivr":
        return _Demo("ivr", IVR_SETTINGS, {
            "default": {"answer_after": 0.6},
            "callees": [{"match": CALLER, "recognize": [{"say": "agent"}]},
                        {"match": AGENT, "answer_after": 0.5}],
        }, "transferred")
    press = ({"recognize": [{"tones": "1", "delay": 0.3}]} if is_ga(api_version)
             else {"press": [{"tones": "1", "after_prompt": 1, "delay": 0.3}]})
    return _Demo("reminder", REMINDER_SETTINGS, {"default": {"answer_after": 0.6, **press}},
                 "confirmed")


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _until(condition: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the demo timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _ring(emulator: RunningEmulator, plugins: LoadedPlugins, callback_url: str,
                api_version: str) -> str:
    """The IVR's caller rings; the answered call's connection id once the IVR answered."""
    incoming = await emulator.emulator.ga.ring(identifier(CALLER), identifier(IVR_NUMBER), "")

    async def answered() -> bool:
        return incoming.call_connection_id is not None

    await _until(answered, 10, "the IVR to answer the incoming call")
    assert incoming.call_connection_id is not None
    return incoming.call_connection_id


async def _place(emulator: RunningEmulator, plugins: LoadedPlugins, callback_url: str,
                 api_version: str) -> str:
    """The reminder call is placed; its call id."""
    flow = plugins.flows["reminder"]
    request = flow.request_model.model_validate(
        {"to": CALLER, "appointment": "Dentist, Tuesday 9:00"}
    )
    async with CallAutomationClient.from_connection_string(
        emulator.connection_string, api_version=api_version
    ) as client:
        begun = await start_flow("reminder", flow, request, client=client,
                                 callback_url=callback_url, settings=plugins.settings)
    if not begun.ok or begun.calls[0].call_id is None:
        raise ConfigError(f"could not place the call: {begun.to_json()}")
    return begun.calls[0].call_id


def _ended(emulator: RunningEmulator, call_id: str) -> bool:
    connection = emulator.emulator.ga.connections.get(call_id)
    if connection is not None:
        return connection.ended
    call = emulator.emulator.calls.get(call_id)
    return call is not None and call.state is CallState.TERMINATED


async def run_demo(out: TextIO, flow: str | None = None, api_version: str = DEFAULT) -> int:
    """Run the demo of ``flow`` (default: ivr on GA, reminder on 2021); 0 when its call reached
    the expected outcome."""
    flow = flow or ("ivr" if is_ga(api_version) else "reminder")
    if flow == "ivr" and not is_ga(api_version):
        raise ConfigError(f"the ivr demo answers an incoming call, which the GA API does and "
                          f"{api_version} does not: use --flow reminder with it")
    demo = _demo(flow, api_version)
    started = time.monotonic()
    port, secret = _free_port(), secrets.token_urlsafe(16)
    callback_url = f"http://127.0.0.1:{port}/api/callbacks?secret={secret}"
    emulator_config = EmulatorConfig(
        access_key=secrets.token_bytes(32), answer_delay=0.6, play_duration=1.2,
        ring_timeout=5.0, scenario=parse_scenario(demo.scenario),
        incoming_url=callback_url if flow == "ivr" else None,
    )
    with tempfile.TemporaryDirectory(prefix="callbacks-demo-") as tmp:
        settings_file = Path(tmp) / "demo.toml"
        settings_file.write_text(demo.settings)
        store_url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        async with serve_emulator(emulator_config) as emulator:
            config = ServeConfig(
                port=port, handlers=[flow], auth="jwt", secret=secret,
                jwks_url=emulator.jwks_url, jwt_issuer=emulator.issuer,
                jwt_audience=emulator.resource_id, connection_string=emulator.connection_string,
                store=store_url, callback_url=callback_url, config_file=str(settings_file),
                log_level="warning", api_version=api_version,
            )
            config.check()
            out.write(f"emulator  {emulator.url}  (API {api_version})\n"
                      f"receiver  http://127.0.0.1:{port}/api/callbacks  (callbacks: JWT; "
                      f"Event Grid: secret; log {store_url})\n")
            async with serve_asgi(build_app(config), port=port):
                plugins = load_enabled([flow], str(settings_file), command="demo")
                begin = _ring if flow == "ivr" else _place
                call_id = await begin(emulator, plugins, callback_url, api_version)
                what = (f"{CALLER} rings {IVR_NUMBER}" if flow == "ivr"
                        else f"calling {CALLER}")
                out.write(f"{flow:<9} {what} (call {call_id})\n\n")
                async with open_store(store_url) as store:

                    async def finished() -> bool:
                        if not _ended(emulator, call_id):
                            return False
                        await emulator.emulator.delivery.wait_idle()
                        stats = await store.stats()
                        return not any(stats.by_status.get(s.value) for s in
                                       (EventStatus.PENDING, EventStatus.FAILED))

                    try:
                        await _until(finished, 20, "the call to end and be handled")
                    finally:
                        print_timeline(out, emulator, {call_id})
                    records = await flow_records(store, {flow: plugins.flows[flow]})
        outcome = records[-1] if records else None
        out.write(f"\noutcome   {outcome.outcome if outcome else 'unknown'}: "
                  f"{outcome.summary if outcome else ''}\n")
        out.write(f"done in {time.monotonic() - started:.1f}s. Next: README.md, docs/flows.md\n")
        return 0 if outcome is not None and outcome.outcome == demo.expected else 1


OPTIONS = (
    Option("--flow", "the flow the demo runs: ivr (an incoming call; the default on GA) or "
           "reminder (the default with a 2021 --api-version)", choices=("ivr", "reminder"),
           env=None),
    API_VERSION,
)


def run(args: argparse.Namespace) -> int:
    """``callbacks demo``."""
    given = values(args, OPTIONS, os.environ)
    try:
        return asyncio.run(run_demo(sys.stdout, given["flow"], given["api_version"]))
    except TimeoutError as exc:
        print(f"callbacks demo: {exc}", file=sys.stderr)
        return 1


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``callbacks demo``."""
    parser = subparsers.add_parser(
        "demo", help="run the emulator, the receiver and one call through a flow (the IVR, or "
        "--flow reminder), and print its timeline",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    add_options(parser, OPTIONS)
    parser.set_defaults(func=run)
