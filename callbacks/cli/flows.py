"""``callbacks call FLOW ...`` starts a flow; ``callbacks flows`` lists how flows ended.

``callbacks call`` takes the flow's own options from its request model (``--to``,
``--appointment``, ...), loads the flow's plugin and its settings exactly as ``serve`` does
(``CALLBACKS_<PLUGIN>_*``, ``--config FILE``), and places the calls with the connection string;
their events go to ``--callback-url`` (the receiver's public ``.../api/callbacks?secret=...``).
``callbacks flows`` reads outcomes back from the event log (:mod:`callbacks.flows.outcomes`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, get_origin

from pydantic import BaseModel, ValidationError

from callbacks.client.automation import CallAutomationClient
from callbacks.errors import ConfigError
from callbacks.flows.flow import Flow, FlowRecord, start_flow, validation_message
from callbacks.flows.outcomes import flow_records
from callbacks.flows.state import checked_callback_url
from callbacks.options import (
    API_STYLE,
    API_VERSION,
    CALLBACK_URL,
    CONFIG,
    CONNECTION_STRING,
    STORE,
    Option,
    add_options,
    api_version,
    existing_store,
    moment,
    name_list,
    values,
)
from callbacks.plugins.loader import (
    LoadedPlugins,
    PluginError,
    installed,
    load_enabled,
    load_plugin,
)
from callbacks.terminal import Column, TableWriter, printable

CALL_OPTIONS = (
    CONNECTION_STRING,
    CALLBACK_URL,
    CONFIG,
    API_VERSION,
    API_STYLE,
    Option("--idempotency-key", "the same key again places no call twice", env=None),
    Option("--json", "print the result as JSON", flag_only=True),
)
FLOWS_OPTIONS = (
    STORE,
    Option("--flow", "only this flow (e.g. reminder)", env=None),
    Option("--id", "only the flow with this id", env=None),
    Option("--since", "flows started since: ISO date or age (2h)", convert=moment, env=None),
    Option("--handlers", "module:attribute plugins to read besides the installed ones",
           convert=name_list, default=[], env=None),
    Option("--json", "one JSON object per flow", flag_only=True),
)


def _error(command: str, message: str) -> ConfigError:
    return ConfigError(message, command=command)


# -- callbacks call ------------------------------------------------------------------------


def _request_options(parser: argparse.ArgumentParser, model: type[BaseModel]) -> None:
    group = parser.add_argument_group("flow options")
    for name, info in model.model_fields.items():
        many = get_origin(info.annotation) is list
        group.add_argument(
            "--" + name.replace("_", "-"), dest=f"request_{name}",
            action="append" if many else "store", required=info.is_required(),
            metavar=name.upper(), help=(info.description or "") + (" (repeatable)" if many else ""),
        )


def _call_parser(name: str, flow: Flow[Any]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"callbacks call {name}",
        description=f"Start the {name} flow: place its calls; their events go to the receiver.",
    )
    add_options(parser, CALL_OPTIONS)
    _request_options(parser, flow.request_model)
    return parser


async def _place(name: str, plugins: LoadedPlugins, flow: Flow[Any], request: BaseModel,
                 given: dict[str, Any], callback_url: str) -> int:
    try:
        client = CallAutomationClient.from_connection_string(
            given["connection_string"], api_version=api_version(given)
        )
    except ValueError as exc:
        raise _error("call", f"--connection-string: {exc}") from None
    async with client:
        try:
            started = await start_flow(
                name, flow, request, client=client, callback_url=callback_url,
                settings=plugins.settings, idempotency_key=given["idempotency_key"],
            )
        except ValueError as exc:
            raise _error("call", str(exc)) from None
    if given["json"]:
        print(json.dumps(started.to_json()))
    else:
        for call in started.calls:
            if call.error is None:
                print(printable(f"{name} {started.id}: calling {call.target} "
                                f"(call {call.call_id})"))
    for call in started.calls:
        if call.error is not None:
            print(printable(f"callbacks call: {name} {started.id}: cannot call {call.target}: "
                            f"{call.error}"), file=sys.stderr)
    return 0 if started.ok else 1


def run_call(args: argparse.Namespace) -> int:
    """Run ``callbacks call FLOW ...``: 0 when every call was placed, 1 if one failed."""
    spec = args.flow
    try:
        plugin = load_plugin(spec)  # its flow's options first; its settings once parsed
    except PluginError as exc:
        raise _error("call", str(exc)) from None
    if plugin.flow is None or not plugin.flow.startable:
        raise _error("call", f"handler plugin {plugin.name!r} starts no flow")
    options = _call_parser(plugin.name, plugin.flow).parse_args(args.args)
    try:
        given = values(options, CALL_OPTIONS, os.environ)
    except ConfigError as exc:
        raise _error("call", str(exc)) from None
    plugins = load_enabled([spec], given["config_file"], command="call")
    if not given["connection_string"]:
        raise _error("call", "no connection string: pass --connection-string "
                             "(or CALLBACKS_CONNECTION_STRING)")
    callback_url = checked_callback_url(given["callback_url"], "call")
    fields = {
        name: getattr(options, f"request_{name}")
        for name in plugin.flow.request_model.model_fields
        if getattr(options, f"request_{name}") is not None
    }
    try:
        request = plugin.flow.request_model.model_validate(fields)
    except ValidationError as exc:
        field, _, problem = validation_message(exc).partition(": ")
        raise _error("call", f"--{field.replace('_', '-')}: {problem}") from None
    return asyncio.run(_place(plugin.name, plugins, plugin.flow, request, given, callback_url))


# -- callbacks flows -----------------------------------------------------------------------


def _flows_to_read(specs: Sequence[str], only: str | None) -> dict[str, Flow[Any]]:
    flows: dict[str, Flow[Any]] = {}
    for spec in [*sorted(installed()), *specs]:
        try:
            plugin = load_plugin(spec)
        except PluginError as exc:
            if spec in specs or spec == only:
                raise _error("flows", str(exc)) from None
            print(f"callbacks flows: warning: {exc}", file=sys.stderr)
            continue
        if plugin.flow is not None and only in (None, plugin.name):
            flows[plugin.name] = plugin.flow
    if only is not None and only not in flows:
        raise _error("flows", f"no installed plugin has a flow named {only!r}")
    return flows


_FLOWS = (
    Column("FLOW", plain=9), Column("ID", plain=16), Column("STARTED (UTC)", width=19),
    Column("OUTCOME", plain=15), Column("SUMMARY"),
)


def run_flows(args: argparse.Namespace) -> int:
    """Run ``callbacks flows``: every flow in the log with its outcome."""
    try:
        given = values(args, FLOWS_OPTIONS, os.environ)
    except ConfigError as exc:
        raise _error("flows", str(exc)) from None
    flows = _flows_to_read(given["handlers"], given["flow"])
    since = given["since"]
    store = existing_store(given["store"])

    async def read() -> list[FlowRecord]:
        async with store:
            return await flow_records(store, flows)

    records = [
        r for r in asyncio.run(read())
        if given["id"] in (None, r.id) and (since is None or r.started_at >= since)
    ]
    if given["json"]:
        for record in records:
            print(json.dumps(record.to_json()))
        return 0
    table = TableWriter(sys.stdout, _FLOWS)
    for record in records:
        table.add(record.flow, record.id, record.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                  record.outcome, record.summary)
    table.close()
    return 0


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``callbacks call`` and ``callbacks flows``."""
    call = subparsers.add_parser(
        "call", help="start a flow (reminder, notify, ...): place its calls",
        description="Start a flow. Its options come from the flow: "
        "`callbacks call reminder --help`.",
    )
    call.add_argument("flow", metavar="FLOW", help="plugin name or module:attribute")
    call.add_argument("args", nargs=argparse.REMAINDER, help="the flow's options")
    call.set_defaults(func=run_call)

    flows = subparsers.add_parser(
        "flows", help="list flows and their outcomes, from the event log",
        description="List every flow found in the event log with its outcome.",
    )
    add_options(flows, FLOWS_OPTIONS)
    flows.set_defaults(func=run_flows)
