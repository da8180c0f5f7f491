"""``callbacks demo``: the whole system in one command, offline.

It starts the local Call Automation emulator and the receiver (``callbacks serve``'s app in this
process, its handlers where ``--dispatch auto`` puts them: free ports, a temporary SQLite log,
JWT and secret verification on), enables the built-in ``reminder`` plugin, and places one
reminder call whose simulated callee presses 1 after the first prompt. Once the call has ended
it prints the call's timeline — every REST call the handlers made and every callback the service
posted, with its time offset — and the flow's outcome as ``callbacks flows`` reports it.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from callbacks.client.automation import CallAutomationClient
from callbacks.client.versions import OVERVIEW_2021
from callbacks.config import ServeConfig
from callbacks.emulator import EmulatorConfig, RunningEmulator, serve_asgi, serve_emulator
from callbacks.emulator.participants import CallState
from callbacks.emulator.scenario import parse_scenario
from callbacks.flows.flow import start_flow
from callbacks.flows.outcomes import flow_records
from callbacks.plugins.loader import load_enabled
from callbacks.service import build_app
from callbacks.store import open_store
from callbacks.store.records import EventStatus
from callbacks.terminal import Column, TableWriter

CALLEE = "+14255550100"
AGENT = "+14255550199"
SOURCE = "8:acs:demo_application"
SETTINGS = f"""[reminder]
source = "{SOURCE}"
prompt_url = "https://media.example.com/reminder.wav"
confirmation_url = "https://media.example.com/confirmed.wav"
agent = "{AGENT}"
prompt_repeats = 3
"""


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _emulator_config() -> EmulatorConfig:
    scenario = parse_scenario(
        {"default": {"answer_after": 0.6, "press": [{"tones": "1", "after_prompt": 1,
                                                     "delay": 0.3}]}}
    )
    return EmulatorConfig(
        access_key=secrets.token_bytes(32), answer_delay=0.6, play_duration=1.2,
        ring_timeout=5.0, scenario=scenario,
    )


async def _until(condition: Callable[[], Any], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the demo timed out waiting for {what}")
        await asyncio.sleep(0.05)


_TIMELINE = (
    Column("", width=8, justify="right"), Column("", plain=8), Column("", plain=22),
    Column("", plain=0), Column(""),
)
"""Offset, REST or callback, what (request or event type), its detail, and the answer."""


def _timeline(emulator: RunningEmulator, call_id: str) -> list[tuple[float, str, str, str, str]]:
    journal = emulator.emulator.journal
    rows = [
        (r.t, "REST", f"{r.method} {r.path.split('?')[0]}", r.operation_context or "",
         f"-> {r.status}")
        for r in journal.requests
        if r.call_id == call_id or (r.operation == "create_call" and r.status < 300)
    ]
    for c in journal.callbacks:
        if c.call_id != call_id:
            continue
        data = c.event.get("data") or {}
        detail = data.get("CallState") or (data.get("ToneInfo") or {}).get("Tone") or ""
        if c.event_type == "PlayAudioResult":
            result = data.get("ResultInfo") or {}
            detail = f"{data.get('OperationContext')} {result.get('Code')}/{result.get('Subcode')}"
        if c.event_type == "ParticipantsUpdated":
            detail = f"{len(data.get('Participants') or [])} participant(s)"
        status = c.attempts[-1].status if c.attempts else c.status
        rows.append((c.t, "callback", c.event_type, str(detail), f"-> receiver {status}"))
    return sorted(rows)


async def run_demo(out: TextIO) -> int:
    """Run the demo; 0 when the reminder was confirmed."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="callbacks-demo-") as tmp:
        settings_file = Path(tmp) / "demo.toml"
        settings_file.write_text(SETTINGS)
        store_url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        async with serve_emulator(_emulator_config()) as emulator:
            port = _free_port()
            secret = secrets.token_urlsafe(16)
            callback_url = f"http://127.0.0.1:{port}/api/callbacks?secret={secret}"
            config = ServeConfig(
                port=port, handlers=["reminder"], auth="jwt+secret", secret=secret,
                jwks_url=emulator.jwks_url, jwt_issuer=emulator.issuer,
                jwt_audience=emulator.resource_id, connection_string=emulator.connection_string,
                store=store_url, callback_url=callback_url, config_file=str(settings_file),
                log_level="warning", api_version=OVERVIEW_2021,
            )
            config.check()
            out.write(f"emulator  {emulator.url}\nreceiver  http://127.0.0.1:{port}/api/callbacks"
                      f"  (JWT + secret, log {store_url})\n")
            async with serve_asgi(build_app(config), port=port):
                plugins = load_enabled(["reminder"], str(settings_file), command="demo")
                flow = plugins.flows["reminder"]
                request = flow.request_model.model_validate(
                    {"to": CALLEE, "appointment": "Dentist, Tuesday 9:00"}
                )
                async with CallAutomationClient.from_connection_string(
                    emulator.connection_string, api_version=OVERVIEW_2021
                ) as client:
                    begun = await start_flow(
                        "reminder", flow, request, client=client, callback_url=callback_url,
                        settings=plugins.settings,
                    )
                if not begun.ok:
                    out.write(f"could not place the call: {begun.to_json()}\n")
                    return 1
                call_id = begun.calls[0].call_id
                assert call_id is not None
                out.write(f"reminder  flow {begun.id}: calling {CALLEE} (call {call_id})\n\n")
                async with open_store(store_url) as store:

                    async def finished() -> bool:
                        call = emulator.emulator.calls.get(call_id)
                        if call is None or call.state is not CallState.TERMINATED:
                            return False
                        await emulator.emulator.delivery.wait_idle()
                        stats = await store.stats()
                        return not any(stats.by_status.get(s.value) for s in
                                       (EventStatus.PENDING, EventStatus.FAILED))

                    try:
                        await _until(finished, 20, "the call to end and be handled")
                    finally:
                        table = TableWriter(out, _TIMELINE, header=False, indent=2)
                        for offset, *row in _timeline(emulator, call_id):
                            table.add(f"+{offset:6.3f}s", *row)
                        table.close()
                    records = await flow_records(store, {"reminder": flow})
        outcome = records[-1] if records else None
        out.write(f"\noutcome   {outcome.outcome if outcome else 'unknown'}: "
                  f"{outcome.summary if outcome else ''}\n")
        out.write(f"done in {time.monotonic() - started:.1f}s. Next: README.md, docs/flows.md\n")
        return 0 if outcome is not None and outcome.outcome == "confirmed" else 1


def run(args: argparse.Namespace) -> int:
    """``callbacks demo``."""
    try:
        return asyncio.run(run_demo(sys.stdout))
    except TimeoutError as exc:
        print(f"callbacks demo: {exc}", file=sys.stderr)
        return 1


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``callbacks demo``."""
    parser = subparsers.add_parser(
        "demo", help="run the emulator, the receiver and a reminder call, and print its timeline",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.set_defaults(func=run)
