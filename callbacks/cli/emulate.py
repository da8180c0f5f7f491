"""``callbacks emulate``: serve the emulator under uvicorn.

Every option can also be set as ``CALLBACKS_EMULATOR_<OPTION>`` (``--answer-delay`` is
``CALLBACKS_EMULATOR_ANSWER_DELAY``; ``CALLBACKS_EMULATOR_CALLEE`` holds a JSON object or a
list of them). A command-line option wins over its variable. A bad value is reported as one
line naming the option or the variable, with exit status 2. Without an access key a random one
is generated and printed with a ready connection string. Every callback carries a JWT; the
banner prints the ``callbacks serve`` options that verify it. ``--tls`` serves HTTPS with
certificates made at start and writes their CA to ``--ca-file``, so Microsoft's SDK works with
an unmodified ``CallAutomationClient.from_connection_string(...)``; ``--incoming-url`` is the
Event Grid subscription incoming calls (``callbacks ring``) are delivered to.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn

from callbacks.client.hmac import decode_key
from callbacks.emulator.app import create_emulator
from callbacks.emulator.banner import banner
from callbacks.emulator.config import (
    DEFAULT_RESOURCE_ID,
    DeliveryConfig,
    EmulatorConfig,
    FaultConfig,
)
from callbacks.emulator.scenario import CalleeScript, Scenario, load_scenario, parse_callee
from callbacks.emulator.server import bind_socket, url_of, uvicorn_config
from callbacks.emulator.tls import Certificates, default_ca_file, make_certificates
from callbacks.emulator.tokens import DEFAULT_ISSUER
from callbacks.errors import ConfigError
from callbacks.options import Option, add_options

ENV_PREFIX = "CALLBACKS_EMULATOR_"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class OptionError(ValueError):
    """A bad option value; the message names the option or the environment variable."""


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError("expected a non-negative number of seconds")
    return value


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise ValueError("expected a probability between 0 and 1")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("expected a non-negative integer")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError("expected a port number from 0 to 65535 (0: any free port)")
    return value


def _name(text: str) -> str:
    if not text.strip() or text != text.strip():
        raise ValueError("expected a non-empty value without surrounding spaces")
    return text


def _scale(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise ValueError("expected a positive factor such as 0.1")
    return value


def _url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        # the URL may carry a secret: the message does not repeat it
        raise ValueError("expected an absolute http(s) URL")
    return text


def _file(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.parent.is_dir():
        raise ValueError(f"no directory {path.parent} to write the CA certificate in")
    return path


def _choice(*choices: str) -> Callable[[str], str]:
    def convert(text: str) -> str:
        if text.lower() not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return text.lower()

    return convert


def _option(
    flag: str,
    default: str | None,
    convert: Callable[[str], Any],
    help: str,
    default_text: str | None = None,
) -> Option:
    # Defaults are written as text and converted like a given value.
    name = flag.removeprefix("--").replace("-", "_")
    return Option(
        flag, help, convert=convert, default=default, env=ENV_PREFIX + name.upper(),
        default_text=default_text,
    )


TLS = Option(
    "--tls",
    f"serve HTTPS with certificates made at start (or {ENV_PREFIX}TLS=1)",
    flag_only=True,
)
CA_FILE_DEFAULT = "callbacks-emulator-<port>-ca.pem in the system temp directory"


OPTIONS = (
    _option("--host", "127.0.0.1", str, "interface to listen on"),
    _option("--port", "8089", _port, "port to listen on (0: any free port)"),
    _option("--access-key", None, decode_key, "base64 access key (default: a random one)"),
    _option("--scenario", None, load_scenario, "JSON or TOML file scripting the callees"),
    _option("--answer-delay", "0.5", _seconds, "seconds a callee rings before answering"),
    _option("--play-duration", "2.0", _seconds, "seconds a prompt plays"),
    _option("--ring-timeout", "30", _seconds, "seconds before an unanswered callee gives up"),
    _option("--tone-interval", "0.1", _seconds, "seconds between the tones of one press"),
    _option("--timeout-scale", "1", _scale,
            "factor on timeouts GA requests give in seconds (initial silence, inter-tone, "
            "invitation)"),
    _option("--incoming-url", None, _url,
            "Event Grid subscription endpoint incoming calls are delivered to (with its "
            "?secret=)"),
    _option("--ca-file", None, _file, "where --tls writes its CA certificate",
            default_text=CA_FILE_DEFAULT),
    _option("--event-ids", "uuid", _choice("uuid", "null"), "callback ids: uuid or null"),
    _option("--resource-id", DEFAULT_RESOURCE_ID, _name, "aud of callback tokens"),
    _option("--token-issuer", DEFAULT_ISSUER, _name, "iss of callback tokens"),
    _option("--rate-429", "0", _rate, "share of REST requests answered 429"),
    _option("--rate-500", "0", _rate, "share of REST requests answered 500"),
    _option("--retry-after", "1", _count, "Retry-After seconds of a 429"),
    _option("--latency", "0", _seconds, "seconds added to every REST answer"),
    _option("--latency-jitter", "0", _seconds, "up to this many more seconds, at random"),
    _option("--duplicate-rate", "0", _rate, "share of callbacks delivered twice"),
    _option("--reorder-rate", "0", _rate, "share of callbacks held back (reorders calls)"),
    _option("--reorder-delay", "0.5", _seconds, "longest hold of a held-back callback"),
    _option("--seed", None, int, "seed of the fault random generator"),
    _option("--delivery-attempts", "8", _count, "attempts per callback"),
    _option("--delivery-backoff", "0.5", _seconds, "seconds before the first retry"),
    _option("--delivery-max-backoff", "10", _seconds, "longest wait between retries"),
    _option("--delivery-timeout", "10", _seconds, "seconds to wait for the receiver"),
    _option("--log-level", "warning", _choice(*LOG_LEVELS), "log level"),
)
_BY_NAME = {option.name: option for option in OPTIONS}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``callbacks emulate``."""
    parser = subparsers.add_parser(
        "emulate",
        help="run a local Call Automation emulator",
        description="Serve the Call Automation REST API locally, run simulated calls and post "
        "their callbacks. Every option can also be set as CALLBACKS_EMULATOR_<OPTION>.",
    )
    add_options(parser, (*OPTIONS, TLS))
    parser.add_argument(
        "--callee",
        action="append",
        metavar="JSON",
        help='a scripted callee, e.g. \'{"match": "+14251001000", "press": '
        '[{"tones": "1", "after_prompt": 1}]}\' (repeatable; ahead of --scenario entries)',
    )
    parser.set_defaults(func=run)


def _value(args: argparse.Namespace, name: str) -> Any:
    option = _BY_NAME[name]
    try:
        value = option.value(args, os.environ)
        return option.parse(value, option.flag) if value is option.default is not None else value
    except ConfigError as exc:
        raise OptionError(str(exc)) from None


def _callees(args: argparse.Namespace) -> list[CalleeScript]:
    texts: list[tuple[str, str]] = [("--callee", text) for text in args.callee or []]
    variable = ENV_PREFIX + "CALLEE"
    if not texts and os.environ.get(variable):
        texts = [(variable, os.environ[variable])]
    scripts: list[CalleeScript] = []
    for source, text in texts:
        try:
            data = json.loads(text)
            items = data if isinstance(data, list) else [data]
            for item in items:
                if not isinstance(item, dict):
                    raise ValueError("expected a JSON object")
                scripts.append(parse_callee(item))
        except ValueError as exc:
            raise OptionError(f"{source}: {exc}") from None
    return scripts


def config_from_args(args: argparse.Namespace) -> tuple[EmulatorConfig, bool]:
    """The configuration the options describe, and whether the access key was generated."""
    key: bytes | None = _value(args, "access_key")
    generated = key is None
    if key is None:
        key = secrets.token_bytes(32)
    scenario: Scenario = _value(args, "scenario") or Scenario()
    callees = _callees(args)
    if callees:
        scenario = Scenario(default=scenario.default, callees=[*callees, *scenario.callees])
    try:
        faults = FaultConfig(
            **{
                name: _value(args, name)
                for name in (
                    "rate_429",
                    "rate_500",
                    "retry_after",
                    "latency",
                    "latency_jitter",
                    "duplicate_rate",
                    "reorder_rate",
                    "reorder_delay",
                    "seed",
                )
            }
        )
        delivery = DeliveryConfig(
            max_attempts=_value(args, "delivery_attempts"),
            backoff=_value(args, "delivery_backoff"),
            max_backoff=_value(args, "delivery_max_backoff"),
            timeout=_value(args, "delivery_timeout"),
        )
        config = EmulatorConfig(
            access_key=key,
            answer_delay=_value(args, "answer_delay"),
            play_duration=_value(args, "play_duration"),
            ring_timeout=_value(args, "ring_timeout"),
            tone_interval=_value(args, "tone_interval"),
            timeout_scale=_value(args, "timeout_scale"),
            incoming_url=_value(args, "incoming_url"),
            event_ids=_value(args, "event_ids"),
            resource_id=_value(args, "resource_id"),
            token_issuer=_value(args, "token_issuer"),
            scenario=scenario,
            faults=faults,
            delivery=delivery,
        )
    except OptionError:
        raise
    except ValueError as exc:
        raise OptionError(str(exc)) from None
    return config, generated


def _tls_requested(args: argparse.Namespace) -> bool:
    if args.tls:
        return True
    return os.environ.get(ENV_PREFIX + "TLS", "").lower() in ("1", "true", "yes", "on")


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; 0 on a clean stop, 2 on bad options, 1 if the port is taken
    or the CA certificate cannot be written."""
    try:
        config, generated = config_from_args(args)
        host: str = _value(args, "host")
        port: int = _value(args, "port")
        log_level: str = _value(args, "log_level")
        ca_file: Path | None = _value(args, "ca_file")
    except OptionError as exc:
        print(f"callbacks emulate: error: {exc}", file=sys.stderr)
        return 2
    tls = _tls_requested(args)
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        print(
            f"callbacks emulate: error: cannot listen on {host}:{port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    with tempfile.TemporaryDirectory(prefix="callbacks-emulator-") as directory:
        certificates: Certificates | None = None
        if tls:
            where = ca_file or default_ca_file(sock.getsockname()[1])
            try:
                certificates = make_certificates(Path(directory), where, host)
            except OSError as exc:
                sock.close()
                print(f"callbacks emulate: error: cannot write the CA certificate to {where}: "
                      f"{exc.strerror}", file=sys.stderr)
                return 1
        _serve(sock, host, config, generated, certificates, log_level)
    return 0


def _serve(
    sock: socket.socket,
    host: str,
    config: EmulatorConfig,
    generated: bool,
    certificates: Certificates | None,
    log_level: str,
) -> None:
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    url = url_of(sock, host, "https" if certificates else "http")
    ca_file = certificates.ca_file if certificates else None
    print("\n".join(banner(url, config, show_key=generated, ca_file=ca_file)), flush=True)
    app = create_emulator(config)
    server = uvicorn.Server(
        uvicorn_config(
            app, log_level, access_log=log_level in ("info", "debug"), tls=certificates
        )
    )
    # uvicorn stops gracefully on SIGINT/SIGTERM, then re-raises the signal under the handler
    # installed before it started; with no-op handlers the re-raise does nothing and we exit 0.
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()


def _ignore(signum: int, frame: object) -> None:
    """A signal handler that does nothing (see :func:`run`)."""
