"""``callbacks serve``: the receiver and its dispatcher under uvicorn, until SIGINT/SIGTERM.

The service itself is built by :mod:`callbacks.service` from the options of
:class:`~callbacks.config.ServeConfig`; this module runs it.
"""

from __future__ import annotations

import argparse
import logging
import signal

import uvicorn

from callbacks.config import ServeConfig
from callbacks.server import listener
from callbacks.server.guard import guarded_protocol
from callbacks.server.logs import configure_logging
from callbacks.service import build_app, checked_parts, log_name, tune_gc

log = logging.getLogger("callbacks.serve")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``callbacks serve``."""
    parser = subparsers.add_parser(
        "serve",
        help="run the callback receiver and dispatcher",
        description="Run the callback endpoint (POST /api/callbacks) and dispatch events to "
        "handlers. Every option can also be set as CALLBACKS_<OPTION> (e.g. CALLBACKS_SECRET).",
    )
    ServeConfig.add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``callbacks serve`` until SIGINT/SIGTERM; 0 after a clean shutdown."""
    config, problems = ServeConfig.resolve(args)
    configure_logging(config.log_level, config.log_format, replica=config.replica_name)
    parts = checked_parts(config, problems)  # every problem at once, not one per start
    # Before the log is opened or a child started: a port in use must leave nothing behind.
    sock = listener.bind(config.host, config.port)
    app = build_app(config, parts)
    if config.auth == "none":
        log.warning("callback authentication is OFF (--auth none): anyone can post events")
    for warning in config.warnings():
        log.warning("%s", warning)
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
    console = getattr(app.state, "console", None)
    if console is not None:  # its live streams end as the server shuts down, not 30 s later
        console.stopping = lambda: server.should_exit
        log.info("console: http://%s:%d/console/", config.host, sock.getsockname()[1])
    log.info(
        "callbacks serve: http://%s:%d/api/callbacks (auth %s, handlers: %s, log %s)",
        config.host, sock.getsockname()[1], config.auth, ", ".join(config.handlers) or "none",
        log_name(config.store),
    )
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal under the handler that
    # was installed before it started; with this one the re-raise changes nothing and we exit 0.
    # A SIGTERM before uvicorn takes over its signals stops the server as soon as it has started.
    signal.signal(signal.SIGTERM, lambda signum, frame: setattr(server, "should_exit", True))
    tune_gc()
    with sock:
        server.run(sockets=[sock])
    return 0 if server.started else 1
