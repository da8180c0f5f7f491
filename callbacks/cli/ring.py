"""``callbacks ring``: an incoming call to the application, through a running emulator.

It asks the emulator (``POST /emulator/incoming-calls``) to call: the emulator does Event
Grid's subscription-validation handshake with its ``--incoming-url`` if it has not yet, then
posts an ``IncomingCall`` event there, which the application answers with ``answer_call``. The
caller follows the emulator's scenario. Exit status 0 once the call rings, 1 when the emulator
refuses it or cannot be reached, 2 for a bad option.
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2

from callbacks.errors import ConfigError
from callbacks.options import Option, add_options, positive_seconds, values


def _url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected the emulator's base URL, such as http://127.0.0.1:8089")
    return text.rstrip("/")


def _party(text: str) -> str:
    if not text.strip():
        raise ValueError("expected a phone number (+14255550100) or a raw id (8:acs:...)")
    return text.strip()


def _ca_file(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.is_file():
        raise ValueError(f"no file {path}")
    return path


OPTIONS = (
    Option("--emulator", "base URL of the running emulator", convert=_url,
           default="http://127.0.0.1:8089", env="CALLBACKS_EMULATOR_URL"),
    Option("--from", "the caller: a phone number (+14255550100) or a raw id (8:acs:...)",
           convert=_party, dest="caller", env=None, metavar="FROM"),
    Option("--to", "the number or identity called, the application's (+1..., 8:acs:...)",
           convert=_party, dest="callee", env=None, metavar="TO"),
    Option("--display-name", "the caller's display name", env=None, default=""),
    Option("--ca-file", "CA certificate of an emulator run with --tls (default: SSL_CERT_FILE "
           "or the system's)", convert=_ca_file, env="CALLBACKS_EMULATOR_CA_FILE"),
    Option("--timeout", "seconds to wait for the emulator", convert=positive_seconds,
           default=10.0, env=None),
)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``callbacks ring``."""
    parser = subparsers.add_parser(
        "ring",
        help="place an incoming call to the application through a running emulator",
        description="Ask a running `callbacks emulate --incoming-url URL` to deliver an "
        "Event Grid IncomingCall to the application, as a real caller would.",
    )
    add_options(parser, OPTIONS)
    parser.set_defaults(func=run)


def _verify(ca_file: Path | None) -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=str(ca_file)) if ca_file else True


def run(args: argparse.Namespace) -> int:
    """Ring once; print the incoming call's ids."""
    given: dict[str, Any] = values(args, OPTIONS, os.environ)
    missing = [flag for flag, name in (("--from", "caller"), ("--to", "callee"))
               if not given[name]]
    if missing:
        raise ConfigError(f"{' and '.join(missing)} required")
    url = given["emulator"] + "/emulator/incoming-calls"
    body = {"from": given["caller"], "to": given["callee"],
            "callerDisplayName": given["display_name"]}
    try:
        with httpx2.Client(verify=_verify(given["ca_file"]), timeout=given["timeout"]) as client:
            response = client.post(url, json=body)
    except httpx2.HTTPError as exc:
        hint = ""
        if "CERTIFICATE" in str(exc).upper():
            hint = " (an emulator run with --tls: pass --ca-file with the CA it printed)"
        print(f"callbacks ring: error: cannot reach the emulator at {given['emulator']}: "
              f"{type(exc).__name__}{hint}", file=sys.stderr)
        return 1
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 202 or not isinstance(answer, dict):
        message = answer.get("message") if isinstance(answer, dict) else None
        print(f"callbacks ring: error: the emulator answered {response.status_code}: "
              f"{message or response.text[:200]}", file=sys.stderr)
        return 1
    print(f"ringing: {answer['from']} -> {answer['to']} serverCallId={answer['server_call_id']} "
          f"correlationId={answer['correlation_id']}")
    return 0
