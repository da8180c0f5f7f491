"""Plugin settings: a pydantic model per plugin, filled from the environment or a TOML file.

A plugin declares its settings as a pydantic model. Each field ``prompt_url`` of plugin
``reminder`` is read from ``CALLBACKS_REMINDER_PROMPT_URL``, else from ``prompt_url`` in the
``[reminder]`` section of the file given to ``--config``, else its default. Values from the
environment are strings (pydantic converts them); one that starts with ``[`` or ``{`` is read as
JSON, for list and mapping fields. Errors name the plugin, the field and where the value came
from, never the value itself: a setting may be a secret.

Handlers read their plugin's settings at run time with ``ctx.settings(ReminderSettings)``.
"""

from __future__ import annotations

import json
import re
import tomllib
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError
from pydantic_core import PydanticUndefined

ENV_PREFIX = "CALLBACKS_"
S = TypeVar("S", bound=BaseModel)


class SettingsError(ValueError):
    """A plugin's settings are missing, invalid, or the configuration file cannot be read.

    ``problems`` has one message per bad setting (all of them, not the first).
    """

    def __init__(self, message: str, *, problems: Sequence[str] = ()) -> None:
        self.problems = list(problems) or [message]
        super().__init__("; ".join(self.problems))


def env_name(plugin: str, field: str) -> str:
    """``CALLBACKS_<PLUGIN>_<FIELD>``: upper case, every other character as ``_``."""
    return ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", f"{plugin}_{field}".upper())


class PluginSettings(Mapping[type[BaseModel], BaseModel]):
    """The settings of the enabled plugins, by model class; read-only."""

    def __init__(self, values: Mapping[type[BaseModel], BaseModel] | None = None) -> None:
        self._values: dict[type[BaseModel], BaseModel] = dict(values or {})
        for model, value in self._values.items():
            if not isinstance(value, model):
                raise TypeError(f"settings for {model.__name__} must be a {model.__name__}")

    def __getitem__(self, model: type[BaseModel]) -> BaseModel:
        return self._values[model]

    def __iter__(self) -> Iterator[type[BaseModel]]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:  # values may hold secrets: name the models only
        return f"PluginSettings({', '.join(m.__name__ for m in self._values)})"

    def of(self, model: type[S]) -> S:
        """The loaded settings of ``model``; LookupError if its plugin is not enabled."""
        value = self._values.get(model)
        if value is None:
            raise LookupError(
                f"no {model.__name__} loaded: is the plugin that declares it enabled?"
            )
        assert isinstance(value, model)
        return value


SERVE_SECTION = "serve"
"""The section of the configuration file that holds ``serve``'s options, not a plugin's."""


def read_config_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """The plugin sections of a TOML configuration file, by plugin name."""
    document = read_config_document(path)
    document.pop(SERVE_SECTION, None)
    return document


def read_config_document(path: str | Path) -> dict[str, dict[str, Any]]:
    """Every section of a TOML configuration file, by name; SettingsError if it cannot be read
    or has keys outside a section."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{path} is not UTF-8 text") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:  # the parser recurses per level of nesting
        raise SettingsError(f"{path} nests arrays or tables too deeply") from None
    sections: dict[str, dict[str, Any]] = {}
    for name, section in document.items():
        if not isinstance(section, dict):
            raise SettingsError(
                f"{path}: {name!r} is outside a plugin section; write it under [plugin-name] "
                "(or [serve], for an option of serve)"
            )
        sections[name] = section
    return sections


def _from_env(raw: str) -> Any:
    if raw[:1] in "[{":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw  # pydantic's own message is clearer than the JSON parser's
    return raw


def _where(plugin: str, field: str, from_env: set[str], source: str | None) -> str:
    if field in from_env:
        return env_name(plugin, field)
    return f"[{plugin}] {field} in {source}" if source else field


def load_settings(
    plugin: str,
    model: type[S],
    *,
    environ: Mapping[str, str],
    section: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> S:
    """Validate ``model`` from ``CALLBACKS_<PLUGIN>_*`` over ``section`` (a TOML table).

    ``source`` names the configuration file in messages. SettingsError names every bad field
    and where its value came from, never the value.
    """
    fields = model.model_fields
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in (section or {}).items():
        if key not in fields:
            known = ", ".join(fields) or "none"
            problems.append(f"unknown setting {key!r} in [{plugin}] of {source} "
                            f"(settings: {known})")
        values[key] = value
    for key in [key for key in values if key not in fields]:
        del values[key]
    from_env: set[str] = set()
    for name in fields:
        raw = environ.get(env_name(plugin, name))
        if raw is not None and raw != "":
            values[name] = _from_env(raw)
            from_env.add(name)
    try:
        settings = model.model_validate(values)
    except ValidationError as exc:
        problems += [_problem(error, plugin, from_env, source)
                     for error in exc.errors(include_url=False, include_input=False)]
    if problems:
        raise SettingsError(problems[0], problems=problems)
    return settings


def _problem(error: Any, plugin: str, from_env: set[str], source: str | None) -> str:
    """One validation error as a line naming the field and where its value came from."""
    field = str(error["loc"][0]) if error["loc"] else ""
    rest = "".join(f"[{part}]" if isinstance(part, int) else f".{part}"
                   for part in error["loc"][1:])
    if error["type"] == "missing":
        hint = f"set {env_name(plugin, field)}"
        hint += f" or {field} in [{plugin}] of {source}" if source else " or use --config"
        return f"setting {field} is missing ({hint})"
    where = _where(plugin, field, from_env, source) if field else plugin
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"setting {field}{rest} ({where}): {message}"


@dataclass(frozen=True, slots=True)
class SettingInfo:
    """One setting as ``callbacks plugins`` lists it."""

    name: str
    type: str
    required: bool
    default: str | None
    """The default as text; None when required (or a secret)."""
    env: str
    description: str

    def to_json(self) -> dict[str, Any]:
        """The setting as printed by ``callbacks plugins --json``."""
        return {
            "name": self.name, "type": self.type, "required": self.required,
            "default": self.default, "env": self.env, "description": self.description,
        }


def type_name(annotation: Any) -> str:
    """A short readable name of a field type: ``int``, ``list[str]``, ``str | None``."""
    if annotation is None or annotation is type(None):
        return "None"
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(arg) for arg in get_args(annotation))
    if origin is not None:
        inner = ", ".join(type_name(arg) for arg in get_args(annotation))
        base = getattr(origin, "__name__", str(origin))
        return f"{base}[{inner}]" if inner else base
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


def describe_settings(plugin: str, model: type[BaseModel]) -> list[SettingInfo]:
    """Every field of ``model``: name, type, default, environment variable, description."""
    described = []
    for name, info in model.model_fields.items():
        required = info.is_required()
        default: str | None = None
        secret = info.annotation in (SecretStr, SecretBytes) or "Secret" in type_name(
            info.annotation
        )
        if not required and not secret:
            value = info.get_default(call_default_factory=True)
            default = None if value is PydanticUndefined else json.dumps(value, default=str)
        described.append(SettingInfo(
            name, type_name(info.annotation), required, default, env_name(plugin, name),
            (info.description or "").strip(),
        ))
    return described
