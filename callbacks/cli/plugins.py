"""``callbacks plugins``: the installed handler plugins, what they do, and their settings."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO, get_origin

from callbacks.plugins.loader import Plugin, PluginError, installed, load_plugin
from callbacks.plugins.settings import describe_settings
from callbacks.terminal import Column, TableWriter, printable


def describe(plugin: Plugin) -> dict[str, Any]:
    """A plugin as ``callbacks plugins --json`` prints it."""
    settings = describe_settings(plugin.name, plugin.settings) if plugin.settings else []
    flow: dict[str, Any] | None = None
    if plugin.flow is not None and plugin.flow.startable:
        flow = {"options": [
            {"name": name, "required": info.is_required(),
             "many": get_origin(info.annotation) is list}
            for name, info in plugin.flow.request_model.model_fields.items()
        ]}
    return {
        "name": plugin.name,
        "description": plugin.description,
        "settings": [setting.to_json() for setting in settings],
        "flow": flow,
    }


def _usage(option: dict[str, Any]) -> str:
    flag = "--" + option["name"].replace("_", "-")
    text = f"{flag} {option['name'].upper()}"
    if option["many"]:
        text += f" [{flag} ...]"
    return text if option["required"] else f"[{text}]"


_SETTINGS = (
    Column("SETTING", plain=17), Column("TYPE", plain=13), Column("DEFAULT", plain=27),
    Column("VARIABLE", plain=36), Column("MEANING"),
)


def _write(document: dict[str, Any], out: TextIO) -> None:
    out.write(printable(f"{document['name']}: {document['description'] or '(no description)'}")
              + "\n")
    if document["settings"]:
        table = TableWriter(out, _SETTINGS, indent=4)
        for setting in document["settings"]:
            default = "required" if setting["required"] else f"default {setting['default']}"
            table.add(setting["name"], setting["type"], default, setting["env"],
                      setting["description"] or "")
        table.close()
    if document["flow"] is not None:
        options = " ".join(_usage(option) for option in document["flow"]["options"])
        out.write(printable(f"    starts a flow: callbacks call {document['name']} {options}")
                  + "\n")


def run(args: argparse.Namespace) -> int:
    """List installed plugins; 1 if one of them cannot be loaded (it is listed with why)."""
    broken = 0
    for name in sorted(installed()):
        try:
            document = describe(load_plugin(name))
        except PluginError as exc:
            broken += 1
            document = {"name": name, "error": str(exc)}
            if not args.json:
                print(printable(f"{name}: cannot be loaded: {exc}"))
                continue
        if args.json:
            print(json.dumps(document))
        else:
            _write(document, sys.stdout)
    if not installed() and not args.json:
        print("no handler plugins installed (entry-point group callbacks.handlers)",
              file=sys.stderr)
    return 1 if broken else 0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``callbacks plugins``."""
    parser = subparsers.add_parser(
        "plugins", help="list installed handler plugins and their settings",
        description="List the installed handler plugins (entry-point group callbacks.handlers) "
        "with their description and settings (environment variable CALLBACKS_<PLUGIN>_<FIELD>, "
        "or a [plugin] section of the file given to serve --config).",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per plugin")
    parser.set_defaults(func=run)
