"""Flows of incoming calls (``IncomingFlow``): nobody starts them, ``callbacks flows`` lists them.

The IVR is one: its calls are answered with the flow's state in their callback URL
(``flow_callback_url``), so the log finds them as it finds the calls a flow places, on SQLite
and on PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callbacks import IncomingFlow, flow_callback_url
from callbacks.client.automation import CallAutomationClient
from callbacks.flows.flow import start_flow
from callbacks.flows.outcomes import flow_records
from callbacks.flows.state import decode_context
from callbacks.plugins.settings import PluginSettings
from callbacks.server.endpoint import ApiError
from callbacks.server.flows import FlowStarter
from callbacks.store import open_store
from handlers.ivr import plugin as ivr
from tests.support import ROOT
from tests.support.ga_events import GaCallEvents
from tests.support.postgres import POSTGRES_URL, fresh_schema, with_options

CALLBACK_URL = "https://receiver.example/api/callbacks?secret=s3cr3t"
assert isinstance(ivr.flow, IncomingFlow)
FLOW = ivr.flow


@pytest.fixture(params=["sqlite", "postgres"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty event log of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'log.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("needs CALLBACKS_TEST_POSTGRES_URL (e.g. postgresql://postgres@host/test)")
    async with fresh_schema() as schema:
        yield with_options(POSTGRES_URL, schema=schema)


def test_flow_callback_url_puts_the_state_in_the_path_and_keeps_the_query() -> None:
    state = {"id": "f1", "caller": "4:+14255550100", "callee": "8:acs:ivr"}
    url = flow_callback_url(CALLBACK_URL, "ivr", state)
    parts = url.partition("?")
    assert parts[2] == "secret=s3cr3t"
    assert decode_context(parts[0].rsplit("/", 1)[-1]) == ("ivr", state)
    with pytest.raises(ValueError, match="too large"):
        flow_callback_url(CALLBACK_URL, "ivr", {"x": "y" * 2000})


async def test_an_incoming_flow_cannot_be_started() -> None:
    assert not FLOW.startable
    async with CallAutomationClient("https://acs.example", b"key") as client:
        with pytest.raises(ValueError, match="the ivr flow answers incoming calls"):
            await start_flow("ivr", FLOW, FLOW.request_model(), client=client,
                             callback_url=CALLBACK_URL, settings=PluginSettings())


async def test_the_flows_api_does_not_know_it() -> None:
    starter = FlowStarter({"ivr": FLOW}, api_key="k", client=None, callback_url=CALLBACK_URL,
                          settings=PluginSettings())
    with pytest.raises(ApiError) as caught:
        await starter.start("ivr", b"{}")
    assert (caught.value.status, caught.value.code) == (404, "unknown_flow")
    assert "enabled: none" in str(caught.value.message)


def test_callbacks_plugins_shows_no_way_to_start_it() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "callbacks"), "plugins", "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=True,
    )
    [document] = [d for line in result.stdout.splitlines()
                  if (d := json.loads(line))["name"] == "ivr"]
    assert document["flow"] is None and any(s["name"] == "menus" for s in document["settings"])


async def test_its_calls_are_found_in_the_log_by_their_path_context(url: str) -> None:
    call = GaCallEvents()
    state = {"id": "ivr-7", "caller": "4:+14255550100", "callee": "4:+14255550000"}
    context = flow_callback_url(CALLBACK_URL, "ivr", state).partition("?")[0].rsplit("/", 1)[-1]
    events = [call.connected("ivr:answer"), call.recognized("ivr:ask:main:1/3", tones="1"),
              call.transfer("ivr:transfer:main/1", "+14255550101"), call.disconnected()]
    async with open_store(url) as store:
        await store.append(events, context)
        [record] = await flow_records(store, {"ivr": FLOW})
    assert (record.flow, record.id, record.outcome) == ("ivr", "ivr-7", "transferred")
    assert record.summary == "+14255550100 transferred to +14255550101 [main:1]"
    assert record.detail["call_id"] == call.call_id and record.detail["choices"] == ["main:1"]
