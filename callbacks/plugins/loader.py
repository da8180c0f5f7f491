"""Handler plugins: find them by entry-point name or ``module:attribute``, load their settings.

Installed packages register plugins under the entry-point group ``callbacks.handlers``::

    [project.entry-points."callbacks.handlers"]
    reminder = "handlers.reminder:plugin"

A plugin is a :class:`Plugin` (a router with a name, a one-line description, a settings model
and optionally a startable :class:`~callbacks.flows.flow.Flow`) or a plain ``Router`` (its
description is the first line of its module's docstring). Nothing is enabled implicitly: the
service composes only the plugins it is told to, and any that fails to import, is neither, or
has missing or invalid settings stops start-up with a :class:`PluginError` naming it.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import BaseModel

from callbacks.errors import ConfigError
from callbacks.flows.flow import Flow
from callbacks.flows.state import FLOW_NAME
from callbacks.plugins.settings import (
    PluginSettings,
    SettingsError,
    load_settings,
    read_config_file,
)
from callbacks.routing import Router

GROUP = "callbacks.handlers"
log = logging.getLogger("callbacks.plugins")


class PluginError(Exception):
    """A plugin could not be loaded or configured; the message names it.

    ``problems`` has one message per problem found (every plugin's, every setting's).
    """

    def __init__(self, message: str, *, problems: Sequence[str] = ()) -> None:
        self.problems = list(problems) or [message]
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class Plugin:
    """A handler plugin: its router, a one-line description, its settings, its flow."""

    name: str
    """How it is enabled and configured (``CALLBACKS_<NAME>_<FIELD>``, ``[name]``)."""
    router: Router
    description: str = ""
    settings: type[BaseModel] | None = None
    """The pydantic model of its settings; handlers read them with ``ctx.settings(Model)``."""
    flow: Flow[Any] | None = field(default=None, repr=False)
    """A flow it starts (``callbacks call NAME``, ``POST /api/flows/NAME``)."""

    def __post_init__(self) -> None:
        if not isinstance(self.router, Router):
            raise TypeError(f"plugin {self.name!r}: router must be a callbacks.Router")
        if self.settings is not None and not (
            isinstance(self.settings, type) and issubclass(self.settings, BaseModel)
        ):
            raise TypeError(f"plugin {self.name!r}: settings must be a pydantic model class")
        if self.flow is not None:
            if not FLOW_NAME.match(self.name):
                raise ValueError(f"plugin {self.name!r}: a flow's name must match "
                                 f"{FLOW_NAME.pattern}")
            if not isinstance(self.flow, Flow):
                raise TypeError(f"plugin {self.name!r}: flow must be a callbacks.Flow")


def installed() -> dict[str, EntryPoint]:
    """Installed plugins by name."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def _import(spec: str, module_name: str) -> Any:
    # Like uvicorn's --app-dir ".": a module beside the user finds its way in.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise PluginError(
            f"handler plugin {spec!r} failed to import: {type(exc).__name__}: {exc}"
        ) from exc


def _load_object(spec: str) -> tuple[object, str]:
    """(the object ``spec`` names, its module's name)."""
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
        if not module_name or not attribute:
            raise PluginError(f"handler plugin {spec!r}: expected module:attribute")
    else:
        found = installed().get(spec)
        if found is None:
            known = ", ".join(sorted(installed())) or "none installed"
            raise PluginError(f"handler plugin {spec!r} is not installed (installed: {known})")
        module_name, attribute = found.module, found.attr
    target: object = _import(spec, module_name)
    for part in filter(None, (attribute or "").split(".")):
        if not hasattr(target, part):
            raise PluginError(f"handler plugin {spec!r}: {module_name} has no {attribute!r}")
        target = getattr(target, part)
    return target, module_name


def _first_doc_line(module_name: str) -> str:
    module = sys.modules.get(module_name)
    doc = (getattr(module, "__doc__", None) or "").strip()
    return doc.splitlines()[0].strip() if doc else ""


def load_plugin(spec: str) -> Plugin:
    """The plugin ``spec`` names; PluginError if it is missing or not a Plugin or Router."""
    spec = spec.strip()
    loaded, module_name = _load_object(spec)
    if isinstance(loaded, Plugin):
        if ":" not in spec and loaded.name != spec:
            raise PluginError(f"handler plugin {spec!r}: its entry point must carry the "
                              f"plugin's own name {loaded.name!r}")
        return loaded
    if isinstance(loaded, Router):
        return Plugin(spec, loaded, _first_doc_line(module_name))
    raise PluginError(
        f"handler plugin {spec!r} is a {type(loaded).__name__}, not a callbacks.Router "
        "(or a callbacks.Plugin)"
    )


def load_router(spec: str) -> Router:
    """The ``Router`` a plugin exports; PluginError if it is missing or not a Router."""
    return load_plugin(spec).router


def load_routers(specs: Iterable[str]) -> Router:
    """One Router composing every named plugin, in the order given."""
    return Router(*(load_router(spec) for spec in specs if spec.strip()))


@dataclass(frozen=True, slots=True)
class LoadedPlugins:
    """The enabled plugins, configured: one router, their settings, their flows."""

    plugins: tuple[Plugin, ...] = ()
    settings: PluginSettings = field(default_factory=PluginSettings)

    @property
    def router(self) -> Router:
        """Every plugin's router, composed in the order they were enabled."""
        return Router(*(plugin.router for plugin in self.plugins))

    @property
    def flows(self) -> dict[str, Flow[Any]]:
        """The startable flows, by plugin name."""
        return {p.name: p.flow for p in self.plugins if p.flow is not None}


def configure(
    plugin: Plugin,
    *,
    environ: Mapping[str, str],
    config: Mapping[str, Mapping[str, Any]] | None = None,
    config_name: str | None = None,
) -> BaseModel | None:
    """The plugin's settings from the environment and ``config``; PluginError names the field."""
    section = (config or {}).get(plugin.name)
    if plugin.settings is None:
        if section:
            raise PluginError(f"handler plugin {plugin.name!r} has no settings, but "
                              f"{config_name} has a [{plugin.name}] section")
        return None
    try:
        return load_settings(
            plugin.name, plugin.settings, environ=environ, section=section, source=config_name
        )
    except SettingsError as exc:
        problems = [f"handler plugin {plugin.name!r}: {problem}" for problem in exc.problems]
        raise PluginError(problems[0], problems=problems) from None


def load_plugins(
    specs: Iterable[str],
    *,
    environ: Mapping[str, str],
    config: Mapping[str, Mapping[str, Any]] | None = None,
    config_name: str | None = None,
) -> LoadedPlugins:
    """Load and configure every named plugin, in order; PluginError lists every problem.

    ``config`` holds the sections of the ``--config`` file, ``config_name`` names it in
    messages. A section for a plugin that is not enabled is logged as a warning.
    """
    plugins: list[Plugin] = []
    values: dict[type[BaseModel], BaseModel] = {}
    problems: list[str] = []
    for spec in specs:
        if not spec.strip():
            continue
        try:
            plugin = load_plugin(spec)
            if any(p.name == plugin.name for p in plugins):
                raise PluginError(f"handler plugin {plugin.name!r} is enabled twice")
            settings = configure(plugin, environ=environ, config=config, config_name=config_name)
            if settings is not None:
                assert plugin.settings is not None
                if plugin.settings in values:
                    raise PluginError(f"handler plugin {plugin.name!r} shares its settings "
                                      f"model {plugin.settings.__name__} with another enabled "
                                      "plugin")
                values[plugin.settings] = settings
        except PluginError as exc:  # go on: one start reports every plugin's problems
            problems += exc.problems
            continue
        plugins.append(plugin)
    if problems:
        raise PluginError(problems[0], problems=problems)
    names = {p.name for p in plugins}
    for section in config or {}:
        if section not in names:
            log.warning("%s: [%s] configures a plugin that is not enabled", config_name, section)
    return LoadedPlugins(tuple(plugins), PluginSettings(values))


def load_enabled(
    specs: Sequence[str], config_file: str | None, *, command: str = "serve"
) -> LoadedPlugins:
    """Load and configure plugins as ``serve`` and ``call`` do; ConfigError on any problem."""
    try:
        sections = read_config_file(config_file) if config_file else None
        return load_plugins(specs, environ=os.environ, config=sections, config_name=config_file)
    except SettingsError as exc:
        raise ConfigError(f"--config: {exc}", command=command) from None
    except PluginError as exc:
        raise ConfigError(exc.problems[0], command=command, problems=exc.problems) from None
