"""``callbacks call FLOW ...`` starts a flow; ``callbacks flows`` lists how flows ended.

``callbacks call`` takes the flow's own options from its request model (``--to``,
``--appointment``, ...), loads the flow's plugin and its settings exactly as ``serve`` does
(``CALLBACKS_<PLUGIN>_*``, ``--config FILE``), and places the calls with the connection string;
their events go to ``--callback-url`` (the receiver's public ``.../api/callbacks?secret=...``).
``callbacks flows`` reads outcomes back from the event log (:mod:`callbacks.flow_log`).
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

from callbacks.cli import ConfigError, env
from callbacks.client import CallAutomationClient
from callbacks.events_cli import DEFAULT_STORE, existing_store, parse_moment
from callbacks.flow_context import check_callback_url
from callbacks.flow_log import flow_records
from callbacks.flows import Flow, FlowRecord, start_flow, validation_message
from callbacks.plugin_settings import SettingsError, read_config_file
from callbacks.plugins import LoadedPlugins, PluginError, installed, load_plugin, load_plugins


def _error(command: str, message: str) -> ConfigError:
    error = ConfigError(message)
    error.command = command  # type: ignore[attr-defined]  # cli.main prints it
    return error


def load_enabled(
    specs: Sequence[str], config_file: str | None, *, command: str = "serve"
) -> LoadedPlugins:
    """Load and configure plugins as ``serve`` and ``call`` do; ConfigError on any problem."""
    try:
        sections = read_config_file(config_file) if config_file else None
        return load_plugins(specs, environ=os.environ, config=sections, config_name=config_file)
    except SettingsError as exc:
        raise _error(command, f"--config: {exc}") from None
    except PluginError as exc:
        raise _error(command, str(exc)) from None


def checked_callback_url(url: str | None, command: str) -> str:
    """The ``--callback-url``, checked; ConfigError (without the URL) when missing or bad."""
    if not url:
        raise _error(command, "no callback URL: pass --callback-url (or CALLBACKS_CALLBACK_URL), "
                              "the receiver's public https://.../api/callbacks?secret=...")
    try:
        return check_callback_url(url)
    except ValueError as exc:
        raise _error(command, f"--callback-url: {exc}") from None


def serve_callback_url(
    plugins: LoadedPlugins, connection_string: str | None, callback_url: str | None
) -> str | None:
    """The checked ``--callback-url`` of ``serve``; flows need it and a connection string."""
    url = checked_callback_url(callback_url, "serve") if callback_url else None
    if plugins.flows:
        names = ", ".join(sorted(plugins.flows))
        if not connection_string:
            raise _error("serve", f"handler plugins {names} place calls: pass "
                                  "--connection-string (or CALLBACKS_CONNECTION_STRING)")
        if url is None:
            checked_callback_url(None, "serve")
    return url


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
    parser.add_argument("--connection-string", default=env("CONNECTION_STRING", None),
                        help="endpoint=...;accesskey=... of the Call Automation resource")
    parser.add_argument("--callback-url", default=env("CALLBACK_URL", None),
                        help="the receiver's public .../api/callbacks?secret=...")
    parser.add_argument("--config", default=env("CONFIG", None),
                        help="TOML file with a [plugin] section of settings")
    parser.add_argument("--api-style", default=env("API_STYLE", "seed"), choices=("seed", "2021"))
    parser.add_argument("--idempotency-key", default=None,
                        help="the same key again places no call twice")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    _request_options(parser, flow.request_model)
    return parser


async def _place(name: str, plugins: LoadedPlugins, flow: Flow[Any], request: BaseModel,
                 args: argparse.Namespace, callback_url: str) -> int:
    try:
        client = CallAutomationClient.from_connection_string(
            args.connection_string, api_style=args.api_style
        )
    except ValueError as exc:
        raise _error("call", f"--connection-string: {exc}") from None
    async with client:
        try:
            started = await start_flow(
                name, flow, request, client=client, callback_url=callback_url,
                settings=plugins.settings, idempotency_key=args.idempotency_key,
            )
        except ValueError as exc:
            raise _error("call", str(exc)) from None
    if args.json:
        print(json.dumps(started.to_json()))
    else:
        for call in started.calls:
            if call.error is None:
                print(f"{name} {started.id}: calling {call.target} (call {call.call_id})")
    for call in started.calls:
        if call.error is not None:
            print(f"callbacks call: {name} {started.id}: cannot call {call.target}: {call.error}",
                  file=sys.stderr)
    return 0 if started.ok else 1


def run_call(args: argparse.Namespace) -> int:
    """Run ``callbacks call FLOW ...``: 0 when every call was placed, 1 if one failed."""
    spec = args.flow
    try:
        plugin = load_plugin(spec)  # its flow's options first; its settings once parsed
    except PluginError as exc:
        raise _error("call", str(exc)) from None
    if plugin.flow is None:
        raise _error("call", f"handler plugin {plugin.name!r} starts no flow")
    options = _call_parser(plugin.name, plugin.flow).parse_args(args.args)
    plugins = load_enabled([spec], options.config, command="call")
    if not options.connection_string:
        raise _error("call", "no connection string: pass --connection-string "
                             "(or CALLBACKS_CONNECTION_STRING)")
    callback_url = checked_callback_url(options.callback_url, "call")
    values = {
        name: getattr(options, f"request_{name}")
        for name in plugin.flow.request_model.model_fields
        if getattr(options, f"request_{name}") is not None
    }
    try:
        request = plugin.flow.request_model.model_validate(values)
    except ValidationError as exc:
        field, _, problem = validation_message(exc).partition(": ")
        raise _error("call", f"--{field.replace('_', '-')}: {problem}") from None
    return asyncio.run(_place(plugin.name, plugins, plugin.flow, request, options, callback_url))


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


def _row(record: FlowRecord) -> str:
    started = record.started_at.strftime("%Y-%m-%d %H:%M:%S")
    return f"{record.flow:<10} {record.id:<17} {started:<20} {record.outcome:<16} {record.summary}"


def run_flows(args: argparse.Namespace) -> int:
    """Run ``callbacks flows``: every flow in the log with its outcome."""
    flows = _flows_to_read(args.handlers, args.flow)
    try:
        since = parse_moment(args.since) if args.since else None
    except ValueError as exc:
        raise _error("flows", f"--since: {exc}") from None
    store = existing_store(args.store)

    async def read() -> list[FlowRecord]:
        async with store:
            return await flow_records(store, flows)

    records = [
        r for r in asyncio.run(read())
        if args.id in (None, r.id) and (since is None or r.started_at >= since)
    ]
    if args.json:
        for record in records:
            print(json.dumps(record.to_json()))
        return 0
    print(f"{'FLOW':<10} {'ID':<17} {'STARTED (UTC)':<20} {'OUTCOME':<16} SUMMARY")
    for record in records:
        print(_row(record))
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
    flows.add_argument("--store", default=env("STORE", DEFAULT_STORE), help="the event log URL")
    flows.add_argument("--flow", default=None, help="only this flow (e.g. reminder)")
    flows.add_argument("--id", default=None, help="only the flow with this id")
    flows.add_argument("--since", default=None, help="flows started since: ISO date or age (2h)")
    flows.add_argument("--handlers", default=[], type=lambda v: [s for s in v.split(",") if s],
                       help="module:attribute plugins to read besides the installed ones")
    flows.add_argument("--json", action="store_true", help="one JSON object per flow")
    flows.set_defaults(func=run_flows)
