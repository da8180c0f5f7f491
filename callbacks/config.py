"""The service's configuration: every option of ``callbacks serve``, declared once.

Each field of :class:`ServeConfig` is declared with its :class:`~callbacks.options.Option`
(flag, ``CALLBACKS_*`` variable, type, default, help), so the flag, the variable, the help text
and the dataclass field cannot drift apart. :meth:`ServeConfig.from_args` resolves every field
in the order :mod:`callbacks.options` describes; :meth:`ServeConfig.check` refuses combinations
that cannot work.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from callbacks.dispatch.config import default_owner
from callbacks.errors import ConfigError
from callbacks.options import (
    API_STYLE,
    API_VERSION,
    CALLBACK_URL,
    CONFIG,
    CONNECTION_STRING,
    HANDLERS,
    STORE,
    Option,
    api_version,
    count,
    http_url,
    log_level,
    port,
    positive_int,
    positive_seconds,
)
from callbacks.plugins.settings import SERVE_SECTION, SettingsError, read_config_document
from callbacks.server.guard import DEFAULT_KEEP_ALIVE_TIMEOUT, DEFAULT_MAX_HEADER_BYTES
from callbacks.server.jwt import DEFAULT_ISSUER, DEFAULT_JWKS_URL
from callbacks.server.limits import (
    DEFAULT_BODY_LIMIT,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_EVENTS,
    DEFAULT_MAX_STRING,
    DEFAULT_READ_TIMEOUT,
    MAX_DEPTH_CEILING,
)
from callbacks.server.logs import LOG_FORMATS
from callbacks.store import open_store

AUTH_MODES = ("secret", "jwt", "jwt+secret", "none")
DISPATCH_MODES = ("auto", "inline", "process")


def setting(option: Option, *, secret: bool = False) -> Any:
    """A dataclass field whose value comes from ``option`` (kept in the field's metadata)."""
    default = option.default
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), repr=not secret,
                     metadata={"option": option})
    if callable(default):
        return field(default_factory=default, repr=not secret, metadata={"option": option})
    return field(default=default, repr=not secret, metadata={"option": option})


def _option(flag: str, help: str, **kwargs: Any) -> Any:
    return setting(Option(flag, help, **kwargs))


@dataclass
class ServeConfig:
    """Everything ``callbacks serve`` can be told."""

    host: str = _option("--host", "interface to listen on", default="127.0.0.1")
    port: int = _option("--port", "port to listen on", convert=port, default=8080)
    handlers: list[str] = setting(HANDLERS)
    auth: str = _option(
        "--auth", "how callbacks authenticate: a ?secret= in the callback URL, a JWT bearer, "
        "both, or nothing (local trials only)", choices=AUTH_MODES, default="secret",
    )
    secret: str | None = setting(Option("--secret", "the ?secret= of the callbackUri"),
                                 secret=True)
    jwks_url: str = _option("--jwks-url", "keys of the callback JWTs", convert=http_url,
                            default=DEFAULT_JWKS_URL)
    jwt_issuer: str = _option("--jwt-issuer", "expected iss of callback JWTs",
                              default=DEFAULT_ISSUER)
    jwt_audience: str | None = _option(
        "--jwt-audience", "expected aud of callback JWTs: the resource id"
    )
    connection_string: str | None = setting(CONNECTION_STRING, secret=True)
    api_version: str = setting(API_VERSION)
    api_style: str | None = setting(API_STYLE)
    store: str = setting(STORE)
    concurrency: int = _option(
        "--concurrency", "calls whose handlers run at once; 0: log events only, run no handlers "
        "here (a later start or another replica dispatches them)", convert=count, default=64,
    )
    dispatch: str = _option(
        "--dispatch", "inline: handlers run in this process; process: in a child process of "
        "their own, on another core, while this one only receives; auto: process on Linux with "
        "two or more CPUs, inline otherwise", choices=DISPATCH_MODES, default="auto",
    )
    max_attempts: int = _option(
        "--max-attempts", "runs of a failing handler before its event is dead",
        convert=positive_int, default=5,
    )
    handler_timeout: float = _option(
        "--handler-timeout", "seconds a handler run may take; one still running then fails "
        "with TimeoutError and is retried like any failure", convert=positive_seconds,
        default=300.0,
    )
    lease: float = _option(
        "--lease", "seconds a replica's claim on a call lasts unless renewed; a dead replica's "
        "calls are taken over after it", convert=positive_seconds, default=30.0,
    )
    replica_name: str = _option(
        "--replica-name", "this process's name in claims (distinct per replica sharing a log)",
        default=default_owner, default_text="the host name",
    )
    body_limit: int = _option("--body-limit", "largest request body, in bytes (413)",
                              convert=positive_int, default=DEFAULT_BODY_LIMIT)
    max_events: int = _option("--max-events", "most events in one request (413)",
                              convert=positive_int, default=DEFAULT_MAX_EVENTS)
    max_depth: int = _option(
        "--max-depth", "deepest nesting of arrays and objects in a body (400 json_too_deep)",
        convert=positive_int, default=DEFAULT_MAX_DEPTH,
    )
    max_string: int = _option(
        "--max-string", "longest string in a body, in bytes as encoded (413 string_too_long)",
        convert=positive_int, default=DEFAULT_MAX_STRING,
    )
    read_timeout: float = _option(
        "--read-timeout", "seconds a client may take to send its headers, and again its body "
        "(408)", convert=positive_seconds, default=DEFAULT_READ_TIMEOUT,
    )
    max_header_bytes: int = _option(
        "--max-header-bytes", "largest request head: request line and headers "
        "(431 headers_too_large)", convert=positive_int, default=DEFAULT_MAX_HEADER_BYTES,
    )
    keep_alive_timeout: int = _option(
        "--keep-alive-timeout", "seconds an idle keep-alive connection stays open",
        convert=positive_int, default=DEFAULT_KEEP_ALIVE_TIMEOUT,
    )
    log_level: str = _option("--log-level", "debug, info, warning or error", convert=log_level,
                             default="INFO", default_text="info")
    config_file: str | None = setting(CONFIG)
    api_key: str | None = setting(
        Option("--api-key", "bearer key of POST /api/flows/{flow} (without it the API is off) "
               "and the console's login key"),
        secret=True,
    )
    console: bool = _option(
        "--console", "serve the web console at /console (needs --api-key, its login key)",
        flag_only=True, env="CALLBACKS_CONSOLE", default=False,
    )
    callback_url: str | None = setting(CALLBACK_URL, secret=True)
    log_format: str = _option(
        "--log-format", "json (one object per line), text, or auto: json unless stderr is a "
        "terminal", choices=LOG_FORMATS, default="auto",
    )

    @classmethod
    def options(cls) -> list[Option]:
        """Every option of ``callbacks serve``, in declaration order."""
        return [f.metadata["option"] for f in dataclasses.fields(cls)]

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add every option to ``parser``."""
        for option in cls.options():
            option.add_to(parser)

    @classmethod
    def from_args(
        cls, args: argparse.Namespace, environ: Mapping[str, str] | None = None
    ) -> ServeConfig:
        """A checked configuration from parsed arguments, the environment and the defaults."""
        config, problems = cls.resolve(args, environ)
        if problems:
            raise ConfigError.combine(problems)
        return config

    @classmethod
    def resolve(
        cls, args: argparse.Namespace, environ: Mapping[str, str] | None = None
    ) -> tuple[ServeConfig, list[ConfigError]]:
        """The configuration, highest first from the command line, the environment, the
        ``[serve]`` section of ``--config`` and the defaults; and every problem found in it.

        A value that is bad counts as its default in the configuration returned, and the
        combinations it is part of are not checked (their problem would be a consequence).
        """
        environ = os.environ if environ is None else environ
        problems: list[ConfigError] = []
        section, section_name = None, ""
        try:
            config_file = CONFIG.value(args, environ)  # not from the file itself
            if config_file:
                section = read_config_document(config_file).get(SERVE_SECTION, {})
                section_name = f"[serve] of {config_file}"
                known = {option.name for option in cls.options()} - {CONFIG.name}
                if unknown := sorted(set(section) - known):
                    problems.append(ConfigError(
                        f"--config: {section_name}: unknown option{'s' * (len(unknown) > 1)} "
                        f"{', '.join(map(repr, unknown))} (serve's option names, with _ for -: "
                        "jwks_url)"
                    ))
        except SettingsError as exc:
            problems.append(ConfigError(f"--config: {exc}"))
        except ConfigError as exc:
            problems.append(exc)
        given: dict[str, Any] = {}
        bad: set[str] = set()
        for f in dataclasses.fields(cls):
            option: Option = f.metadata["option"]
            try:
                value = option.value(args, environ, section, section_name)
            except ConfigError as exc:
                problems.append(exc)
                bad.add(f.name)
                continue
            if value is not option.default:
                given[f.name] = value
        if given.get("api_style") is not None:
            given["api_version"] = api_version(given)  # with a notice: --api-style is deprecated
            given["api_style"] = None
        config = cls(**given)
        problems += [ConfigError(message) for fields, message in config.problems()
                     if not bad & set(fields)]
        return config, problems

    def to_json(self) -> dict[str, Any]:
        """Every field, for the dispatching child process (secrets included: a pipe only)."""
        return dataclasses.asdict(self)

    def in_memory_log(self) -> bool:
        """Whether ``--store`` names a log no other process can open (``sqlite:///:memory:``,
        however it is spelled); False for a malformed URL, which serve refuses on its own."""
        try:
            return not open_store(self.store).shareable
        except ValueError:
            return False

    def dispatch_mode(self) -> tuple[str, str]:
        """Where handlers run, ``inline`` or ``process``, and why (for the start-up line).

        ``auto`` is ``process`` where a second process gains something and can work: on Linux
        (where the child is made to die with this process), with two or more CPUs to run on, a
        log both processes can open, and handlers to run. Otherwise it is ``inline``.
        """
        if self.dispatch != "auto":
            return self.dispatch, "--dispatch " + self.dispatch
        if self.concurrency == 0:
            return "inline", "--concurrency 0 runs no handlers"
        if self.in_memory_log():
            return "inline", "an in-memory log cannot be shared with a second process"
        if not sys.platform.startswith("linux"):
            return "inline", "--dispatch process is only the default on Linux"
        cpus = len(os.sched_getaffinity(0))
        if cpus < 2:
            return "inline", "one CPU: a second process would only take turns with this one"
        return "process", f"{cpus} CPUs: this process receives, a child runs the handlers"

    def check(self) -> None:
        """Raise ConfigError for a value or a combination that cannot work (every one)."""
        problems = [ConfigError(message) for _, message in self.problems()]
        if problems:
            raise ConfigError.combine(problems)

    def problems(self) -> Iterator[tuple[tuple[str, ...], str]]:
        """Each value or combination that cannot work: the fields involved, and why."""
        for f in dataclasses.fields(self):
            option: Option = f.metadata["option"]
            value = getattr(self, f.name)
            if option.choices and value is not None and value not in option.choices:
                yield (f.name,), (f"{option.flag} must be one of {', '.join(option.choices)}, "
                                  f"not {value!r}")
        if "secret" in self.auth and not self.secret:
            yield ("auth", "secret"), (
                "no callback secret: pass --secret or set CALLBACKS_SECRET "
                "(or choose --auth none for local development)"
            )
        if self.auth.startswith("jwt") and not (self.jwt_audience or "").strip():
            yield ("auth", "jwt_audience"), (
                "--auth jwt needs --jwt-audience (or CALLBACKS_JWT_AUDIENCE): "
                "the immutable resource id of the Communication Services resource"
            )
        if self.dispatch == "process" and self.concurrency == 0:
            yield ("dispatch", "concurrency"), (
                "--dispatch process with --concurrency 0 would run no handlers"
            )
        if self.dispatch == "process" and self.in_memory_log():
            yield ("dispatch", "store"), (
                "--dispatch process needs a log both processes can open, not sqlite:///:memory:"
            )
        try:
            open_store(self.store)
        except ValueError as exc:
            yield ("store",), f"--store: {exc}"
        if self.console and not self.api_key:
            yield ("console", "api_key"), (
                "--console needs --api-key (or CALLBACKS_API_KEY): the key the console's users "
                "log in with"
            )
        if self.max_depth > MAX_DEPTH_CEILING:
            yield ("max_depth",), f"--max-depth may be at most {MAX_DEPTH_CEILING}"

    def warnings(self) -> list[str]:
        """What is allowed but probably not meant, for the start-up log."""
        found = []
        if not self.handlers and self.concurrency:
            found.append("no handlers enabled (--handlers): events are logged, and nothing "
                         "handles them")
        jwt = (("--jwks-url", self.jwks_url, DEFAULT_JWKS_URL), ("--jwt-audience",
               self.jwt_audience, None), ("--jwt-issuer", self.jwt_issuer, DEFAULT_ISSUER))
        ignored = [flag for flag, value, default in jwt if value != default]
        if ignored and not self.auth.startswith("jwt"):
            found.append(f"{' and '.join(ignored)} {'is' if len(ignored) == 1 else 'are'} "
                         f"ignored: --auth {self.auth} verifies no JWT")
        return found
