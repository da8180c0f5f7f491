"""Command options, each declared once: flag, environment variable, type, default, choices, help.

An :class:`Option` is added to an argparse parser with no default of its own, so ``--help``
shows the declared default and the variable's name, never a value read from the environment
(which may be a secret or a database password). Its value is resolved after parsing, highest
first: the command line, the environment (``CALLBACKS_*``; an empty variable counts as unset),
a configuration file's section, then the declared default. A bad value is a
:class:`~callbacks.errors.ConfigError` naming where it came from (``--port: ...`` or
``CALLBACKS_PORT: ...``), which the CLI prints as one line.

The options several commands share (``--store``, ``--handlers``, the event filters, ...) are
declared here; the others next to the command or configuration that owns them.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from callbacks.client.versions import API_VERSIONS, DEFAULT, OVERVIEW_2021, PREVIEW_2021
from callbacks.errors import ConfigError
from callbacks.store import open_store
from callbacks.store.base import EventStore
from callbacks.store.records import EventFilter, EventStatus

ENV_PREFIX = "CALLBACKS_"


@dataclass(frozen=True, slots=True)
class Option:
    """One option of one or more commands."""

    flag: str
    """``--store``; the argparse destination is its name in snake case unless ``dest`` says."""
    help: str
    convert: Callable[[str], Any] = str
    """Turns the text of the flag, variable or file value into the value; ValueError if bad."""
    default: Any = None
    """The value when nothing is given (shown in ``--help``)."""
    env: str | None = ""
    """The variable's full name; ``""`` derives ``CALLBACKS_<DEST>``, None means none."""
    choices: tuple[str, ...] = ()
    dest: str = ""
    metavar: str | None = None
    flag_only: bool = False
    """A switch (``--json``): present or not, no value, no variable."""
    default_text: str | None = None
    """What ``--help`` says the default is, where the value itself says it badly."""
    short: str | None = None
    """A short alias such as ``-o``."""

    @property
    def name(self) -> str:
        """The argparse destination, also the key in a configuration file's section."""
        return self.dest or self.flag.removeprefix("--").replace("-", "_")

    @property
    def variable(self) -> str | None:
        """The environment variable read for this option, if any (a switch has one only when
        it names it: ``env="CALLBACKS_CONSOLE"``)."""
        if self.env is None or (self.flag_only and not self.env):
            return None
        return self.env or ENV_PREFIX + self.name.upper()

    def help_text(self) -> str:
        """The help line: what it does, its default and its variable."""
        notes = []
        shown = self.default_text
        if shown is None and self.default not in (None, "", [], ()) and not self.flag_only:
            shown = ",".join(self.default) if isinstance(self.default, list) else str(self.default)
        if self.choices:
            notes.append("one of " + ", ".join(self.choices))
        if shown is not None:
            notes.append(f"default: {shown}")
        if self.variable:
            notes.append(f"env: {self.variable}")
        return f"{self.help} ({'; '.join(notes)})" if notes else self.help

    def add_to(self, parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
        """Add this option to ``parser`` (no argparse default: see :meth:`value`)."""
        names = [self.flag, *([self.short] if self.short else [])]
        if self.flag_only:
            parser.add_argument(*names, dest=self.name, action="store_true", help=self.help_text())
            return
        parser.add_argument(
            *names, dest=self.name, default=None, metavar=self.metavar or self.name.upper(),
            help=self.help_text(),
        )

    def value(
        self,
        args: argparse.Namespace,
        environ: Mapping[str, str],
        section: Mapping[str, Any] | None = None,
        section_name: str = "",
    ) -> Any:
        """The resolved value: command line, environment, file section, default."""
        given = getattr(args, self.name, None)
        if self.flag_only:
            return bool(given) or self._switched_on(environ, section, section_name)
        if given is not None:
            return self.parse(given, self.flag)
        variable = self.variable
        if variable and environ.get(variable):
            return self.parse(environ[variable], variable)
        if section is not None and self.name in section:
            return self.parse(section[self.name], f"{section_name} {self.name}".strip())
        return self.default

    def _switched_on(self, environ: Mapping[str, str], section: Mapping[str, Any] | None,
                     section_name: str) -> bool:
        """A switch's value from its variable (1/true/yes/on or 0/false/no/off) or a
        configuration file's boolean; False when neither says."""
        variable = self.variable
        if variable and environ.get(variable):
            return _boolean(environ[variable], variable)
        if variable and section is not None and self.name in section:
            value = section[self.name]
            if isinstance(value, bool):
                return value
            return _boolean(str(value), f"{section_name} {self.name}".strip())
        return False

    def parse(self, text: Any, source: str) -> Any:
        """``text`` from ``source`` converted and checked; ConfigError naming the source."""
        if isinstance(text, list) and isinstance(self.default, list):  # a TOML array
            if not all(isinstance(item, str) for item in text):
                raise ConfigError(f"{source} must be a list of strings")
            text = ",".join(text)
        if not isinstance(text, str):
            if isinstance(text, bool) or not isinstance(text, int | float):
                raise ConfigError(f"{source} must be a string or a number")
            text = str(text)
        if self.choices and text not in self.choices:
            raise ConfigError(f"{source} must be one of {', '.join(self.choices)}, not {text!r}")
        try:
            return self.convert(text)
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _boolean(text: str, source: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ConfigError(f"{source} must be true or false (1/0, yes/no, on/off), not {text!r}")


def add_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, options: Iterable[Option]
) -> None:
    """Add every option of ``options`` to ``parser``."""
    for option in options:
        option.add_to(parser)


def values(
    args: argparse.Namespace,
    options: Iterable[Option],
    environ: Mapping[str, str],
    section: Mapping[str, Any] | None = None,
    section_name: str = "",
) -> dict[str, Any]:
    """Every option's resolved value by name; a ConfigError lists every bad one at once."""
    resolved: dict[str, Any] = {}
    errors: list[ConfigError] = []
    for option in options:
        try:
            resolved[option.name] = option.value(args, environ, section, section_name)
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        raise ConfigError.combine(errors)
    return resolved


# -- converters (ValueError with a message that follows "--flag: ") ------------------------------


def _checked(value: str, kind: Callable[[str], float], wanted: str,
             ok: Callable[[float], bool]) -> float:
    try:
        number = kind(value)
    except ValueError:
        raise ValueError(f"must be {wanted}, not {value!r}") from None
    if not ok(number):
        raise ValueError(f"must be {wanted}, not {value!r}")
    return number


def positive_int(value: str) -> int:
    """An integer above 0."""
    return int(_checked(value, int, "a positive integer", lambda n: n > 0))


def count(value: str) -> int:
    """An integer of 0 or more."""
    return int(_checked(value, int, "0 or a positive integer", lambda n: n >= 0))


def positive_seconds(value: str) -> float:
    """A finite number of seconds above 0."""
    return _checked(value, float, "a positive number of seconds", lambda n: 0 < n < math.inf)


def port(value: str) -> int:
    """A TCP port number (0: any free port)."""
    return int(_checked(value, int, "a port number (0 to 65535)", lambda n: 0 <= n <= 65535))


def http_url(value: str) -> str:
    """An absolute http(s) URL with a host."""
    try:
        parsed = urlsplit(value)
        host = parsed.hostname
    except ValueError:
        host = None
    if not host or parsed.scheme not in ("http", "https") or not value.isprintable() or any(
        c.isspace() for c in value
    ):
        raise ValueError(f"must be an absolute http(s) URL, not {value!r}")
    return value


def name_list(value: str) -> list[str]:
    """A comma-separated list, blanks dropped."""
    return [item.strip() for item in value.split(",") if item.strip()]


def log_level(value: str) -> str:
    """A logging level name, upper case."""
    level = value.strip().upper()
    if level not in logging.getLevelNamesMapping():
        raise ValueError(f"must be debug, info, warning or error, not {value!r}")
    return level


_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def moment(value: str, *, now: datetime | None = None) -> datetime:
    """An ISO 8601 date or time (UTC unless it says so), or an age: ``30m``, ``2h``, ``7d``."""
    text = value.strip()
    ago = _AGO.match(text)
    if ago:
        amount, unit = float(ago.group(1)), ago.group(2)
        try:
            return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: amount})
        except OverflowError:
            raise ValueError(f"{value!r} is too long ago: a date before year 1") from None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value!r} is not a date: use ISO 8601 (2026-11-24, 2026-11-24T10:00:00Z) "
            "or an age such as 30m, 2h, 7d"
        ) from None
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is out of range: before year 1 or after 9999 in UTC") from None


def status(value: str) -> EventStatus:
    """An event status by name."""
    try:
        return EventStatus(value.lower())
    except ValueError:
        choices = ", ".join(item.value for item in EventStatus)
        raise ValueError(f"unknown status {value!r}: use one of {choices}") from None


# -- options several commands share --------------------------------------------------------------

DEFAULT_STORE = "sqlite:///callbacks.db"
API_STYLES = ("seed", "2021")
STYLE_VERSIONS = {"seed": OVERVIEW_2021, "2021": PREVIEW_2021}

STORE = Option(
    "--store", "event log URL: sqlite:///path (?synchronous=full survives power loss) or "
    "postgresql://...", default=DEFAULT_STORE,
)
HANDLERS = Option(
    "--handlers", "comma-separated plugin names or module:attribute of a Router",
    convert=name_list, default=[],
)
CONFIG = Option(
    "--config", "TOML file: each plugin's settings in a [plugin-name] section, and serve's "
    "options in [serve] (read by serve only)", dest="config_file", env="CALLBACKS_CONFIG",
)
CONNECTION_STRING = Option(
    "--connection-string",
    "endpoint=...;accesskey=... of the Call Automation resource handlers act on",
)
CALLBACK_URL = Option(
    "--callback-url", "this receiver's public .../api/callbacks?secret=... for calls flows place",
)
API_VERSION = Option(
    "--api-version", "the Call Automation REST API version of new calls: a GA version; "
    "2021-04-15-preview1 (the 2021 specification's /calling/calls paths); or 2021-overview (the "
    "seed's /calls paths, no api-version query)", choices=API_VERSIONS, default=DEFAULT,
)
API_STYLE = Option(
    "--api-style", "deprecated: seed means --api-version 2021-overview, 2021 means "
    "--api-version 2021-04-15-preview1", choices=API_STYLES,
)


def api_version(given: Mapping[str, Any], err: TextIO | None = None) -> str:
    """The API version the resolved options name: ``--api-style`` (deprecated, with a one-line
    notice on ``err``) wins over ``--api-version``."""
    style = given.get("api_style")
    if style is None:
        return str(given["api_version"])
    version = STYLE_VERSIONS[style]
    print(f"callbacks: --api-style is deprecated: use --api-version {version}",
          file=err if err is not None else sys.stderr)
    return version
JSON = Option("--json", "print JSON: one object per line", flag_only=True)

FILTERS: tuple[Option, ...] = (
    Option("--call", "only this call id", env=None),
    Option("--type", "only this event type (short or full name)", env=None),
    Option("--status", "pending, done, failed or dead", convert=status, env=None),
    Option("--since", "received at or after: ISO date/time or an age (2h)", convert=moment,
           env=None),
    Option("--until", "received before: ISO date/time or an age (2h)", convert=moment, env=None),
    Option("--operation-context", "only this operationContext, or those a glob matches "
           "(reminder:*) as the router does", env=None),
    Option("--id", "only this event id", env=None),
)
"""The event filters of ``events list``, ``events export`` and ``replay``."""


def event_filter(args: argparse.Namespace) -> EventFilter:
    """The EventFilter the filter options describe; ConfigError for a bad value."""
    return filter_of(values(args, FILTERS, {}))


def filter_of(given: Mapping[str, Any]) -> EventFilter:
    """The EventFilter of the filter options' resolved values."""
    return EventFilter(
        call_id=given["call"], type=given["type"], status=given["status"],
        since=given["since"], until=given["until"],
        operation_context=given["operation_context"], id=given["id"],
    )


UPGRADE = "`callbacks events upgrade` (with the same --store) upgrades it"
"""How a log too old for the reading commands is upgraded, as their refusal says."""


def existing_store(url: str, *, migrate: bool = False) -> EventStore:
    """The store at ``url``, which refuses (when opened) to create a log, so that reading a
    mistyped URL cannot make an empty one, and, unless ``migrate``, to upgrade an older log's
    schema, so that reading never changes it: the refusal names :data:`UPGRADE`."""
    try:
        store = open_store(url)
    except ValueError as exc:
        raise ConfigError(f"--store: {exc}") from None
    path = getattr(store, "path", None)
    if isinstance(path, str) and path != ":memory:" and not Path(path).exists():
        raise ConfigError(
            f"no event log at {path}: pass --store (or CALLBACKS_STORE) naming the log "
            "that `callbacks serve` writes"
        )
    store.existing_only(migrate=migrate, upgrade=UPGRADE)
    return store


def declared(options: Sequence[Option]) -> dict[str, Option]:
    """``options`` by name; a name declared twice is a programming error."""
    by_name: dict[str, Option] = {}
    for option in options:
        if option.name in by_name:
            raise AssertionError(f"option {option.flag} declared twice")
        by_name[option.name] = option
    return by_name
