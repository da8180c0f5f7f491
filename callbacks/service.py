"""The composition root: the receiver app, the event log, the dispatcher and the REST client,
built from a :class:`~callbacks.config.ServeConfig`.

``callbacks serve`` (:mod:`callbacks.cli.serve`), ``callbacks demo`` and the dispatching child
process all build the service here, so each runs the same parts wired the same way.

Garbage collection (:func:`tune_gc`): with CPython's defaults a collection of the youngest
generation starts once allocations outrun deallocations by 700 objects. Sixty-four requests in
flight, each with its coroutines, futures, dicts and parsed event, cross that hundreds of times
a second, and every tenth of those collections examines the next generation, every hundredth
nearly everything start-up created (modules, pydantic validators, plugins): measured in
``callbacks serve`` under ``wrk -t2 -c64``, about 10 % of the receiving process's CPU time went
to collecting, almost all of it finding nothing, since requests free their objects by reference
counting. :func:`tune_gc` moves what exists at start-up out of the collector's sight
(``gc.freeze``) and raises the first threshold. Memory stays bounded: cyclic garbage still
counts as allocations, so a collection still starts once 10 000 such objects have piled up.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import NamedTuple, TypeVar

import httpx2
from starlette.applications import Starlette

from callbacks.client.automation import CallAutomationClient
from callbacks.client.pipeline import DEFAULT_LIMITS
from callbacks.client.versions import DEFAULT as DEFAULT_VERSION
from callbacks.client.versions import is_ga
from callbacks.config import ServeConfig
from callbacks.context import context_factory
from callbacks.dispatch.config import DispatchConfig
from callbacks.dispatch.dispatcher import Dispatcher
from callbacks.dispatch.journal import log_journals
from callbacks.dispatch.process import DispatchProcess
from callbacks.errors import ConfigError
from callbacks.flows.state import checked_callback_url
from callbacks.plugins.loader import LoadedPlugins, PluginError, load_enabled, load_plugin
from callbacks.server.app import create_app
from callbacks.server.auth import (
    AllOf,
    Authenticator,
    EventGridAware,
    NoAuthenticator,
    SecretAuthenticator,
)
from callbacks.server.console import Console
from callbacks.server.flows import FlowStarter
from callbacks.server.intake import Intake
from callbacks.server.jwt import JwksCache, JwtAuthenticator
from callbacks.server.limits import Limits
from callbacks.server.metrics import Metrics
from callbacks.store import open_store
from callbacks.store.base import EventStore
from callbacks.store.history import store_history
from callbacks.store.records import StoreError
from callbacks.store.sqlite.store import SQLiteStore

log = logging.getLogger("callbacks.serve")

T = TypeVar("T")

YOUNG_THRESHOLD = 10_000
"""Net allocations of container objects that start a collection of the youngest generation."""


def tune_gc() -> None:
    """Collect once, freeze the survivors, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def serve_callback_url(
    plugins: LoadedPlugins, connection_string: str | None, callback_url: str | None
) -> str | None:
    """The checked ``--callback-url`` of ``serve``; flows need it and a connection string.

    ConfigError lists both when both are missing.
    """
    problems: list[ConfigError] = []
    url = None
    try:
        url = checked_callback_url(callback_url, "serve") if callback_url else None
    except ConfigError as exc:
        problems.append(exc)
    if plugins.flows:
        names = ", ".join(sorted(plugins.flows))
        if not connection_string:
            problems.append(ConfigError(f"handler plugins {names} place or answer calls: pass "
                                        "--connection-string (or CALLBACKS_CONNECTION_STRING)",
                                        command="serve"))
        if not callback_url:
            try:
                checked_callback_url(None, "serve")
            except ConfigError as exc:
                problems.append(exc)
    if problems:
        raise ConfigError.combine(problems)
    return url


def check_incoming_flows(plugins: LoadedPlugins, api_version: str) -> None:
    """ConfigError if a flow of incoming calls (``ivr``) runs with a 2021 ``--api-version``:
    answering a call is an operation of GA Call Automation, so every call would fail."""
    incoming = sorted(name for name, flow in plugins.flows.items() if not flow.startable)
    if incoming and not is_ga(api_version):
        raise ConfigError(
            f"handler plugins {', '.join(incoming)} answer incoming calls, which only GA Call "
            f"Automation can: --api-version {api_version} is the 2021 API; leave it out (the "
            f"default is {DEFAULT_VERSION}) or give a GA version", command="serve")


def authenticator(config: ServeConfig) -> Authenticator:
    """How the endpoint authenticates: as ``--auth`` says, and Event Grid deliveries (which
    never carry the Call Automation JWT) by the query secret in every mode."""
    if config.auth == "none":
        return NoAuthenticator()
    secret = SecretAuthenticator(config.secret) if config.secret else None
    if config.auth == "secret":
        assert secret is not None
        return secret
    assert config.jwt_audience is not None
    jwt = JwtAuthenticator(
        JwksCache(config.jwks_url), issuer=config.jwt_issuer, audience=config.jwt_audience
    )
    if config.auth == "jwt+secret":
        assert secret is not None
        return EventGridAware(AllOf(jwt, secret), secret)
    if secret is None:
        log.warning("--auth jwt without --secret: Event Grid deliveries (incoming calls) carry "
                    "no JWT and will be refused; give the receiver a --secret and put it in the "
                    "Event Grid subscription's URL")
    return EventGridAware(jwt, secret)


def rest_client(config: ServeConfig, metrics: Metrics) -> CallAutomationClient | None:
    """The REST client handlers and flows act with (None without a connection string)."""
    if not config.connection_string:
        return None
    transport = metrics.transport(httpx2.AsyncHTTPTransport(limits=DEFAULT_LIMITS))
    try:
        return CallAutomationClient.from_connection_string(
            config.connection_string, api_version=config.api_version, transport=transport
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
            callback_url=callback_url, journals=log_journals(store, config.replica_name),
        ),
        DispatchConfig(
            concurrency=config.concurrency if concurrency is None else concurrency,
            max_attempts=config.max_attempts,
            handler_timeout=config.handler_timeout,
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


class Parts(NamedTuple):
    """What the service is made of besides its log, each checked: built before the log is."""

    plugins: LoadedPlugins
    callback_url: str | None
    metrics: Metrics
    client: CallAutomationClient | None
    auth: Authenticator


def checked_parts(config: ServeConfig, found: Sequence[ConfigError] = ()) -> Parts:
    """Load the plugins, check the URLs and keys; ConfigError listing every problem, with
    ``found`` (the configuration's own) first.

    With problems ``found``, only the plugins and the flows' URLs are checked: the client and
    the authenticator would be built from values already known to be wrong. Nothing is
    written: a bad setting must leave no log behind.
    """
    problems: list[ConfigError] = list(found)

    def checked(build: Callable[[], T]) -> T | None:
        try:
            return build()
        except ConfigError as exc:
            problems.append(exc)
        except ValueError as exc:  # what JwksCache and others say of a bad URL
            problems.append(ConfigError(str(exc)))
        return None

    plugins = checked(lambda: load_enabled(config.handlers, config.config_file))
    callback_url = checked(lambda: serve_callback_url(
        plugins or _loadable(config.handlers), config.connection_string, config.callback_url
    ))
    if plugins is not None:
        checked(lambda: check_incoming_flows(plugins, config.api_version))
    metrics = Metrics()
    client = auth = None
    if not problems:
        client = checked(lambda: rest_client(config, metrics))
        auth = checked(lambda: authenticator(config))
    if problems:
        raise ConfigError.combine(problems)
    assert plugins is not None and auth is not None
    if client is None and plugins.plugins:
        log.warning("no connection string: handlers can read events, but one that uses ctx.call "
                    "or ctx.client fails its event (give --connection-string or "
                    "CALLBACKS_CONNECTION_STRING)")
    return Parts(plugins, callback_url, metrics, client, auth)


def _loadable(specs: Sequence[str]) -> LoadedPlugins:
    """The plugins of ``specs`` that load, unconfigured: which of them place calls is known
    even while their settings are still wrong."""
    found = []
    for spec in specs:
        try:
            found.append(load_plugin(spec))
        except PluginError:
            continue
    return LoadedPlugins(tuple(found))


def build_app(config: ServeConfig, parts: Parts | None = None) -> Starlette:
    """The receiver app for ``config``, of ``parts`` (default: :func:`checked_parts` now)."""
    plugins, callback_url, metrics, client, auth = parts or checked_parts(config)
    check_log(config)
    intake: Intake
    mode, reason = config.dispatch_mode()
    log.info("dispatch %s (%s)", mode, reason)
    if mode == "process":
        # This process only receives and logs; a child dispatches, on another core.
        log_only = build_dispatcher(config, plugins, metrics, client, callback_url, concurrency=0)
        intake = DispatchProcess(log_only, config.to_json(), metrics)
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
        auth,
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
        console=Console(intake.store, config.api_key, plugins.flows)
        if config.console and config.api_key else None,
    )


def log_name(url: str) -> str:
    """The log at ``url`` as the start-up line names it: its URL without a password."""
    store = open_store(url)  # a checked URL; nothing is opened
    shown = getattr(store, "url", None)  # PostgreSQL's, without its password
    if isinstance(shown, str):
        return shown
    path = getattr(store, "path", None)
    return f"sqlite:///{path}" if isinstance(path, str) else type(store).__name__


def check_log(config: ServeConfig) -> None:
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
