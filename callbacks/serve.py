"""``callbacks serve``: composition of the service, and uvicorn.

This is the composition root: it turns options (or ``CALLBACKS_*`` variables) into a router, a
REST client, an intake and an authenticator, and hands them to :func:`callbacks.app.create_app`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

import httpx2
import uvicorn
from starlette.applications import Starlette

from callbacks import gc_tuning
from callbacks.app import create_app
from callbacks.auth import AllOf, Authenticator, NoAuthenticator, SecretAuthenticator
from callbacks.cli import ConfigError
from callbacks.client import DEFAULT_LIMITS, CallAutomationClient
from callbacks.context import context_factory
from callbacks.dispatch import DispatchConfig, Dispatcher
from callbacks.dispatch_process import DispatchProcess
from callbacks.flows_api import FlowStarter
from callbacks.flows_cli import load_enabled, serve_callback_url
from callbacks.history import store_history
from callbacks.http_guard import (
    guarded_protocol,
)
from callbacks.intake import Intake
from callbacks.jwt_auth import JwksCache, JwtAuthenticator
from callbacks.limits import (
    Limits,
)
from callbacks.logs import configure_logging
from callbacks.metrics import Metrics
from callbacks.plugins import LoadedPlugins
from callbacks.serve_config import ServeConfig, add_arguments, config_from_args
from callbacks.store import EventStore, StoreError, open_store
from callbacks.store.sqlite import SQLiteStore

log = logging.getLogger("callbacks.serve")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``callbacks serve``."""
    parser = subparsers.add_parser(
        "serve",
        help="run the callback receiver and dispatcher",
        description="Run the callback endpoint (POST /api/callbacks) and dispatch events to "
        "handlers. Every option can also be set as CALLBACKS_<OPTION> (e.g. CALLBACKS_SECRET).",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


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


def rest_client(config: ServeConfig, metrics: Metrics) -> CallAutomationClient | None:
    """The REST client handlers and flows act with (None without a connection string)."""
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


def build_dispatcher(
    config: ServeConfig,
    plugins: LoadedPlugins,
    metrics: Metrics,
    client: CallAutomationClient | None,
    callback_url: str | None,
    *,
    concurrency: int | None = None,
) -> Dispatcher:
    """The event-log intake for ``config``, running up to ``concurrency`` calls' handlers."""
    store = _store(config)
    dispatcher = Dispatcher(
        store,
        plugins.router,
        context_factory(
            client, history=store_history(store), settings=plugins.settings,
            callback_url=callback_url,
        ),
        DispatchConfig(
            concurrency=config.concurrency if concurrency is None else concurrency,
            max_attempts=config.max_attempts,
            lease=config.lease,
        ),
        owner=config.replica_name,
        metrics=metrics,
        # A database may come up after the service (compose, a failover): wait for it.
        wait_for_log=not config.store.lower().startswith("sqlite:"),
    )
    on_new_work = getattr(store, "on_new_work", None)
    if on_new_work is not None and dispatcher.config.concurrency:
        # PostgreSQL: another replica's events wake us at once (if we dispatch at all)
        on_new_work(dispatcher.wake)
    return dispatcher


def build_app(config: ServeConfig) -> Starlette:
    """The receiver app for ``config``; plugins are loaded now so a bad one stops start-up."""
    plugins = load_enabled(config.handlers, config.config_file)
    callback_url = serve_callback_url(plugins, config.connection_string, config.callback_url)
    metrics = Metrics()
    client = rest_client(config, metrics)
    _check_log(config)  # after the plugins loaded: a bad one must not leave a log behind
    intake: Intake
    mode, reason = config.dispatch_mode()
    log.info("dispatch %s (%s)", mode, reason)
    if mode == "process":
        # This process only receives and logs; a child dispatches, on another core.
        log_only = build_dispatcher(config, plugins, metrics, client, callback_url, concurrency=0)
        intake = DispatchProcess(log_only, config, metrics)
    else:
        intake = build_dispatcher(config, plugins, metrics, client, callback_url)
    metrics.watch_log(intake.store.stats)

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


def _check_log(config: ServeConfig) -> None:
    """A malformed ``--store`` URL, or a SQLite path that cannot hold a log (a missing
    directory, another program's database), is a configuration error, told in one line before
    anything starts. A database server may still come up later: its log is waited for once
    serving."""
    store = _store(config)
    if not isinstance(store, SQLiteStore) or not store.shareable:
        return
    try:
        store.check()
    except StoreError as exc:
        raise ConfigError(f"--store: {exc}") from None


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
    gc_tuning.tune()
    server.run()
    return 0 if server.started else 1
