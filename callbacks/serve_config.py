"""``callbacks serve``'s configuration: every option, its ``CALLBACKS_*`` variable, checks."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from callbacks.cli import ConfigError, env
from callbacks.dispatch import default_owner
from callbacks.http_guard import DEFAULT_KEEP_ALIVE_TIMEOUT, DEFAULT_MAX_HEADER_BYTES
from callbacks.jwt_auth import DEFAULT_ISSUER, DEFAULT_JWKS_URL
from callbacks.limits import (
    DEFAULT_BODY_LIMIT,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_EVENTS,
    DEFAULT_MAX_STRING,
    DEFAULT_READ_TIMEOUT,
    MAX_DEPTH_CEILING,
)
from callbacks.logs import LOG_FORMATS
from callbacks.store import open_store

AUTH_MODES = ("secret", "jwt", "jwt+secret", "none")
DISPATCH_MODES = ("auto", "inline", "process")


class _BadValue(ValueError, argparse.ArgumentTypeError):
    """A bad option value: argparse prints its message, ``env()`` names the variable."""


def _checked(value: str, kind: Callable[[str], float], wanted: str,
             ok: Callable[[float], bool]) -> float:
    try:
        number = kind(value)
    except ValueError:
        raise _BadValue(f"must be {wanted}, not {value!r}") from None
    if not ok(number):
        raise _BadValue(f"must be {wanted}, not {value!r}")
    return number


def _positive_int(value: str) -> int:
    return int(_checked(value, int, "a positive integer", lambda n: n > 0))


def _count(value: str) -> int:
    return int(_checked(value, int, "0 or a positive integer", lambda n: n >= 0))


def _positive_seconds(value: str) -> float:
    return _checked(value, float, "a positive number of seconds", lambda n: 0 < n < float("inf"))


def _port(value: str) -> int:
    return int(_checked(value, int, "a port number (0 to 65535)", lambda n: 0 <= n <= 65535))


def _handlers(value: str) -> list[str]:
    return [spec.strip() for spec in value.split(",") if spec.strip()]


@dataclass
class ServeConfig:
    """Everything ``callbacks serve`` can be told."""

    host: str = "127.0.0.1"
    port: int = 8080
    handlers: list[str] = field(default_factory=list)
    auth: str = "secret"
    secret: str | None = field(default=None, repr=False)
    jwks_url: str = DEFAULT_JWKS_URL
    jwt_issuer: str = DEFAULT_ISSUER
    jwt_audience: str | None = None
    connection_string: str | None = field(default=None, repr=False)
    api_style: str = "seed"
    store: str = "sqlite:///callbacks.db"
    concurrency: int = 64
    dispatch: str = "auto"
    max_attempts: int = 5
    lease: float = 30.0
    replica_name: str = field(default_factory=default_owner)
    body_limit: int = DEFAULT_BODY_LIMIT
    max_events: int = DEFAULT_MAX_EVENTS
    max_depth: int = DEFAULT_MAX_DEPTH
    max_string: int = DEFAULT_MAX_STRING
    read_timeout: float = DEFAULT_READ_TIMEOUT
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    keep_alive_timeout: int = DEFAULT_KEEP_ALIVE_TIMEOUT
    log_level: str = "info"
    config_file: str | None = None
    api_key: str | None = field(default=None, repr=False)
    callback_url: str | None = field(default=None, repr=False)
    log_format: str = "auto"

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
        """Raise ConfigError for a combination that cannot work."""
        if self.auth not in AUTH_MODES:
            raise ConfigError(f"--auth must be one of {', '.join(AUTH_MODES)}, not {self.auth!r}")
        if "secret" in self.auth and not self.secret:
            raise ConfigError(
                "no callback secret: pass --secret or set CALLBACKS_SECRET "
                "(or choose --auth none for local development)"
            )
        if self.auth.startswith("jwt") and not (self.jwt_audience or "").strip():
            raise ConfigError(
                "--auth jwt needs --jwt-audience (or CALLBACKS_JWT_AUDIENCE): "
                "the immutable resource id of the Communication Services resource"
            )
        if self.dispatch not in DISPATCH_MODES:
            raise ConfigError(
                f"--dispatch must be one of {', '.join(DISPATCH_MODES)}, not {self.dispatch!r}"
            )
        if self.dispatch == "process" and self.concurrency == 0:
            raise ConfigError("--dispatch process with --concurrency 0 would run no handlers")
        if self.dispatch == "process" and self.in_memory_log():
            raise ConfigError(
                "--dispatch process needs a log both processes can open, not sqlite:///:memory:"
            )
        if self.api_style not in ("seed", "2021"):
            raise ConfigError(f"--api-style must be seed or 2021, not {self.api_style!r}")
        if self.max_depth > MAX_DEPTH_CEILING:
            raise ConfigError(f"--max-depth may be at most {MAX_DEPTH_CEILING}")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(
                f"--log-format must be one of {', '.join(LOG_FORMATS)}, not {self.log_format!r}"
            )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option of ``callbacks serve``, each with its ``CALLBACKS_*`` variable."""
    defaults = ServeConfig()
    parser.add_argument("--host", default=env("HOST", defaults.host))
    parser.add_argument("--port", type=_port, default=env("PORT", defaults.port, _port))
    parser.add_argument(
        "--handlers",
        type=_handlers,
        default=env("HANDLERS", defaults.handlers, _handlers),
        help="comma-separated plugin names or module:attribute of a Router",
    )
    parser.add_argument("--auth", default=env("AUTH", defaults.auth), help="|".join(AUTH_MODES))
    parser.add_argument(
        "--secret", default=env("SECRET", None), help="the ?secret= of the callbackUri"
    )
    parser.add_argument(
        "--jwks-url", default=env("JWKS_URL", defaults.jwks_url), help="keys of the callback JWTs"
    )
    parser.add_argument(
        "--jwt-issuer", default=env("JWT_ISSUER", defaults.jwt_issuer), help="expected iss"
    )
    parser.add_argument(
        "--jwt-audience", default=env("JWT_AUDIENCE", None), help="expected aud: the resource id"
    )
    parser.add_argument(
        "--connection-string",
        default=env("CONNECTION_STRING", None),
        help="endpoint=...;accesskey=... of the Call Automation resource handlers act on",
    )
    parser.add_argument("--api-style", default=env("API_STYLE", defaults.api_style))
    parser.add_argument(
        "--store",
        default=env("STORE", defaults.store),
        help="event log URL: sqlite:///path (default ./callbacks.db; ?synchronous=full "
        "survives power loss) or postgresql://...",
    )
    parser.add_argument(
        "--concurrency", type=_count,
        default=env("CONCURRENCY", defaults.concurrency, _count),
        help="calls whose handlers run at once; 0: log events only, run no handlers here "
        "(a later start or another replica dispatches them)",
    )
    parser.add_argument(
        "--dispatch", default=env("DISPATCH", defaults.dispatch),
        help="inline: handlers run in this process; process: in a child process of their own, "
        "on another core, while this one only receives; auto: process on Linux with two or "
        "more CPUs, inline otherwise",
    )
    parser.add_argument(
        "--max-attempts", type=_positive_int,
        default=env("MAX_ATTEMPTS", defaults.max_attempts, _positive_int),
        help="runs of a failing handler before its event is dead",
    )
    parser.add_argument(
        "--lease", type=_positive_seconds,
        default=env("LEASE", defaults.lease, _positive_seconds),
        help="seconds a replica's claim on a call lasts unless renewed; a dead replica's "
        "calls are taken over after it",
    )
    parser.add_argument(
        "--replica-name", default=env("REPLICA_NAME", defaults.replica_name),
        help="this process's name in claims (distinct per replica sharing a log)",
    )
    parser.add_argument(
        "--body-limit", type=_positive_int,
        default=env("BODY_LIMIT", defaults.body_limit, _positive_int),
    )
    parser.add_argument(
        "--max-events", type=_positive_int,
        default=env("MAX_EVENTS", defaults.max_events, _positive_int),
    )
    parser.add_argument(
        "--max-depth", type=_positive_int,
        default=env("MAX_DEPTH", defaults.max_depth, _positive_int),
        help="deepest nesting of arrays and objects in a body (400 json_too_deep)",
    )
    parser.add_argument(
        "--max-string", type=_positive_int,
        default=env("MAX_STRING", defaults.max_string, _positive_int),
        help="longest string in a body, in bytes as encoded (413 string_too_long)",
    )
    parser.add_argument(
        "--read-timeout", type=_positive_seconds,
        default=env("READ_TIMEOUT", defaults.read_timeout, _positive_seconds),
        help="seconds a client may take to send its headers, and again its body (408)",
    )
    parser.add_argument(
        "--max-header-bytes", type=_positive_int,
        default=env("MAX_HEADER_BYTES", defaults.max_header_bytes, _positive_int),
        help="largest request head: request line and headers (431 headers_too_large)",
    )
    parser.add_argument(
        "--keep-alive-timeout", type=_positive_int,
        default=env("KEEP_ALIVE_TIMEOUT", defaults.keep_alive_timeout, _positive_int),
        help="seconds an idle keep-alive connection stays open",
    )
    parser.add_argument("--log-level", default=env("LOG_LEVEL", defaults.log_level))
    parser.add_argument(
        "--config", default=env("CONFIG", None),
        help="TOML file of plugin settings, a [plugin-name] section each",
    )
    parser.add_argument(
        "--api-key", default=env("API_KEY", None),
        help="bearer key of POST /api/flows/{flow} (without it the API is off)",
    )
    parser.add_argument(
        "--callback-url", default=env("CALLBACK_URL", None),
        help="this receiver's public .../api/callbacks?secret=... for calls flows place",
    )
    parser.add_argument(
        "--log-format", default=env("LOG_FORMAT", defaults.log_format),
        help="json (one object per line), text, or auto: json unless stderr is a terminal",
    )


def config_from_args(args: argparse.Namespace) -> ServeConfig:
    """A checked ServeConfig from parsed arguments."""
    config = ServeConfig(
        host=args.host,
        port=args.port,
        handlers=args.handlers,
        auth=args.auth,
        secret=args.secret,
        jwks_url=args.jwks_url,
        jwt_issuer=args.jwt_issuer,
        jwt_audience=args.jwt_audience,
        connection_string=args.connection_string,
        api_style=args.api_style,
        store=args.store,
        concurrency=args.concurrency,
        dispatch=args.dispatch,
        max_attempts=args.max_attempts,
        lease=args.lease,
        replica_name=args.replica_name,
        body_limit=args.body_limit,
        max_events=args.max_events,
        max_depth=args.max_depth,
        max_string=args.max_string,
        read_timeout=args.read_timeout,
        max_header_bytes=args.max_header_bytes,
        keep_alive_timeout=args.keep_alive_timeout,
        log_level=args.log_level,
        config_file=args.config,
        api_key=args.api_key,
        callback_url=args.callback_url,
        log_format=args.log_format,
    )
    config.check()
    return config
