"""Handler plugins: find a plugin's ``Router`` by entry-point name or ``module:attribute``.

Installed packages register routers under the entry-point group ``callbacks.handlers``.
Nothing is enabled implicitly: the service composes only the plugins it is told to.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from callbacks.routing import Router

GROUP = "callbacks.handlers"


class PluginError(Exception):
    """A plugin could not be loaded; the message names it."""


def installed() -> dict[str, EntryPoint]:
    """Installed plugins by name."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def _load_object(spec: str) -> object:
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
        if not module_name or not attribute:
            raise PluginError(f"handler plugin {spec!r}: expected module:attribute")
        # Like uvicorn's --app-dir ".": a module beside the user finds its way in.
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise PluginError(
                f"handler plugin {spec!r} failed to import: {type(exc).__name__}: {exc}"
            ) from exc
        target: object = module
        for part in attribute.split("."):
            if not hasattr(target, part):
                raise PluginError(f"handler plugin {spec!r}: {module_name} has no {attribute!r}")
            target = getattr(target, part)
        return target
    found = installed().get(spec)
    if found is None:
        known = ", ".join(sorted(installed())) or "none installed"
        raise PluginError(f"handler plugin {spec!r} is not installed (installed: {known})")
    try:
        return found.load()
    except Exception as exc:
        raise PluginError(
            f"handler plugin {spec!r} failed to import: {type(exc).__name__}: {exc}"
        ) from exc


def load_router(spec: str) -> Router:
    """The ``Router`` a plugin exports; PluginError if it is missing or not a Router."""
    loaded = _load_object(spec.strip())
    if not isinstance(loaded, Router):
        raise PluginError(
            f"handler plugin {spec!r} is a {type(loaded).__name__}, not a callbacks.Router"
        )
    return loaded


def load_routers(specs: Iterable[str]) -> Router:
    """One Router composing every named plugin, in the order given."""
    return Router(*(load_router(spec) for spec in specs if spec.strip()))
