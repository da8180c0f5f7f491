"""``callbacks serve``: configuration, composition of the service, and uvicorn.

This is the composition root: it turns options (or ``CALLBACKS_*`` variables) into a router, a
REST client, an intake and an authenticator, and hands them to :func:`callbacks.app.create_app`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx2
import uvicorn
from starlette.applications import Starlette

from callbacks.app import create_app
from callbacks.auth import AllOf, Authenticator, NoAuthenticator, SecretAuthenticator
from callbacks.cli import ConfigError, env
from callbacks.client import DEFAULT_LIMITS, CallAutomationClient
from callbacks.context import context_factory
from callbacks.dispatch import DispatchConfig, Dispatcher, default_owner
from callbacks.flows_api import FlowStarter
from callbacks.flows_cli import load_enabled, serve_callback_url
from callbacks.history import store_history
from callbacks.http_guard import (
    DEFAULT_KEEP_ALIVE_TIMEOUT,
    DEFAULT_MAX_HEADER_BYTES,
    guarded_protocol,
)
from callbacks.jwt_auth import DEFAULT_ISSUER, DEFAULT_JWKS_URL, JwksCache, JwtAuthenticator
from callbacks.limits import (
    DEFAULT_BODY_LIMIT,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_EVENTS,
    DEFAULT_MAX_STRING,
    DEFAULT_READ_TIMEOUT,
    MAX_DEPTH_CEILING,
    Limits,
)
from callbacks.logs import LOG_FORMATS, configure_logging
from callbacks.metrics import Metrics
from callbacks.plugins import LoadedPlugins
from callbacks.routing import Router
from callbacks.store import EventStore, open_store

log = logging.getLogger("callbacks.serve")

AUTH_MODES = ("secret", "jwt", "jwt+secret", "none")


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError(f"must be a positive integer, not {value}")
    return number


def _positive_seconds(value: str) -> float:
    number = float(value)
    if not 0 < number < float("inf"):
        raise ValueError(f"must be a positive number of seconds, not {value}")
    return number


def _port(value: str) -> int:
    number = int(value)
    if not 0 <= number <= 65535:
        raise ValueError(f"port must be between 0 and 65535, not {value}")
    return number


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
        if self.api_style not in ("seed", "2021"):
            raise ConfigError(f"--api-style must be seed or 2021, not {self.api_style!r}")
        if self.max_depth > MAX_DEPTH_CEILING:
            raise ConfigError(f"--max-depth may be at most {MAX_DEPTH_CEILING}")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(
                f"--log-format must be one of {', '.join(LOG_FORMATS)}, not {self.log_format!r}"
            )


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``callbacks serve``."""
    parser = subparsers.add_parser(
        "serve",
        help="run the callback receiver and dispatcher",
        description="Run the callback endpoint (POST /api/callbacks) and dispatch events to "
        "handlers. Every option can also be set as CALLBACKS_<OPTION> (e.g. CALLBACKS_SECRET).",
    )
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
        "--concurrency", type=_positive_int,
        default=env("CONCURRENCY", defaults.concurrency, _positive_int),
        help="calls whose handlers run at once",
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
    parser.set_defaults(func=run)


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


def _authenticator(config: ServeConfig) -> Authenticator:
    if config.auth == "none":
        return NoAuthenticator()
    chosen: list[Authenticator] = []
    if config.auth.startswith("jwt"):
        assert config.jwt_audience is not None
        jwks = JwksCache(config.jwks_url)
        chosen.append(
            JwtAuthenticator(jwks, issuer=config.jwt_issuer, audience=config.jwt_audience)
        )
    if config.auth.endswith("secret"):
        assert config.secret is not None
        chosen.append(SecretAuthenticator(config.secret))
    return chosen[0] if len(chosen) == 1 else AllOf(*chosen)


def _client(config: ServeConfig, metrics: Metrics) -> CallAutomationClient | None:
    if not config.connection_string:
        return None
    transport = metrics.transport(httpx2.AsyncHTTPTransport(limits=DEFAULT_LIMITS))
    try:
        return CallAutomationClient.from_connection_string(
            config.connection_string, api_style=config.api_style, transport=transport
        )
    except ValueError as exc:
        raise ConfigError(f"--connection-string: {exc}") from None


def _store(config: ServeConfig) -> EventStore:
    try:
        return open_store(config.store)
    except ValueError as exc:
        raise ConfigError(f"--store: {exc}") from None


def build_app(config: ServeConfig, *, router: Router | None = None) -> Starlette:
    """The receiver app for ``config``; plugins are loaded now so a bad one stops start-up."""
    plugins = LoadedPlugins()
    if router is None:
        plugins = load_enabled(config.handlers, config.config_file)
        router = plugins.router
    callback_url = serve_callback_url(
        plugins, config.connection_string, config.callback_url
    )
    metrics = Metrics()
    client = _client(config, metrics)
    store = _store(config)
    intake = Dispatcher(
        store,
        router,
        context_factory(
            client, history=store_history(store), settings=plugins.settings,
            callback_url=callback_url,
        ),
        DispatchConfig(
            concurrency=config.concurrency, max_attempts=config.max_attempts, lease=config.lease
        ),
        owner=config.replica_name,
        metrics=metrics,
        # A database may come up after the service (compose, a failover): wait for it.
        wait_for_log=not config.store.lower().startswith("sqlite:"),
    )
    metrics.watch_log(store.stats)
    on_new_work = getattr(store, "on_new_work", None)
    if on_new_work is not None:  # PostgreSQL: another replica's events wake us at once
        on_new_work(intake.wake)

    @contextlib.asynccontextmanager
    async def client_lifetime() -> AsyncIterator[object]:
        if client is None:
            yield None
            return
        async with client:
            yield client

    return create_app(
        intake,
        _authenticator(config),
        limits=Limits(
            body_bytes=config.body_limit,
            events=config.max_events,
            depth=config.max_depth,
            string_bytes=config.max_string,
            read_timeout=config.read_timeout,
        ),
        resources=[client_lifetime],
        flows=FlowStarter(
            plugins.flows, api_key=config.api_key, client=client,
            callback_url=callback_url, settings=plugins.settings,
        ),
        metrics=metrics,
    )


def run(args: argparse.Namespace) -> int:
    """Run ``callbacks serve`` until SIGINT/SIGTERM; 0 after a clean shutdown."""
    config = config_from_args(args)
    level = config.log_level.upper()
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(f"--log-level must be debug, info, warning or error, not {level!r}")
    configure_logging(level, config.log_format, replica=config.replica_name)
    app = build_app(config)
    if config.auth == "none":
        log.warning("callback authentication is OFF (--auth none): anyone can post events")
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_level=config.log_level.lower(),
            log_config=None,  # uvicorn's loggers go through ours (JSON lines when asked)
            access_log=False,  # the access log would print the ?secret= of every request
            lifespan="on",
            timeout_graceful_shutdown=30,
            http=guarded_protocol(
                header_bytes=config.max_header_bytes, header_timeout=config.read_timeout
            ),
            h11_max_incomplete_event_size=config.max_header_bytes,
            timeout_keep_alive=config.keep_alive_timeout,
        )
    )
    log.info(
        "callbacks serve: http://%s:%d/api/callbacks (auth %s, handlers: %s)",
        config.host, config.port, config.auth, ", ".join(config.handlers) or "none",
    )
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal under the handler that
    # was installed before it started; with this one the re-raise is a no-op and we exit 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    server.run()
    return 0 if server.started else 1
