"""Where a flow keeps a call's state: the path context of the call's ``callbackUri``.

A flow that places a call gives it the callback URL ``<base>/<flow>:<payload>?<query>``, where
``payload`` is the call's state (who is called, the flow id, the attempt...) as compact JSON in
unpadded base64url. The service posts every event of the call to that URL, the receiver logs the
path context with each event and hands it to handlers as ``ctx.path_context``: the state travels
with the call and is in the log, never in process memory. A call's state never changes; what
happened since is read from the call's events (``ctx.history()``).

No I/O here.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ValidationError

from callbacks.errors import ConfigError

FLOW_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
"""Names a flow (and its plugin) may have: they prefix path contexts and environment names."""
MAX_CONTEXT = 1024
"""Longest path context a flow writes: URLs of several kilobytes are refused by some proxies."""

M = TypeVar("M", bound=BaseModel)


def encode_context(flow: str, state: Mapping[str, Any]) -> str:
    """``<flow>:<payload>`` for the call's callback URL; ValueError if it would be too long."""
    if not FLOW_NAME.match(flow):
        raise ValueError(f"flow name {flow!r} must match {FLOW_NAME.pattern}")
    text = json.dumps(dict(state), separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    payload = base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=").decode("ascii")
    context = f"{flow}:{payload}"
    if len(context) > MAX_CONTEXT:
        raise ValueError(f"the call's state is too large for its callback URL ({len(context)} "
                         f"> {MAX_CONTEXT} characters)")
    return context


def decode_context(path_context: str | None) -> tuple[str, dict[str, Any]] | None:
    """(flow, state) of a path context a flow wrote; None for any other path context."""
    if not path_context or ":" not in path_context:
        return None
    flow, _, payload = path_context.partition(":")
    if not FLOW_NAME.match(flow) or not payload:
        return None
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        state = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError):  # JSON and Unicode errors are ValueErrors
        return None
    return (flow, state) if isinstance(state, dict) else None


def read_state(path_context: str | None, flow: str, model: type[M]) -> M | None:
    """The call state of ``flow`` as ``model``, or None if the call is not one of its calls."""
    decoded = decode_context(path_context)
    if decoded is None or decoded[0] != flow:
        return None
    try:
        return model.model_validate(decoded[1])
    except ValidationError:
        return None


def check_callback_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL without a fragment; ValueError otherwise.

    The message never repeats the URL: its query holds the callback secret.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("the callback URL must be an absolute http(s) URL, "
                         "e.g. https://host/api/callbacks?secret=...")
    if parts.fragment:
        raise ValueError("the callback URL must not have a #fragment")
    return url


def checked_callback_url(url: str | None, command: str) -> str:
    """The ``--callback-url`` of ``command``, checked; ConfigError (without the URL) when missing
    or bad."""
    if not url:
        raise ConfigError("no callback URL: pass --callback-url (or CALLBACKS_CALLBACK_URL), "
                          "the receiver's public https://.../api/callbacks?secret=...",
                          command=command)
    try:
        return check_callback_url(url)
    except ValueError as exc:
        raise ConfigError(f"--callback-url: {exc}", command=command) from None


def callback_uri(base: str, path_context: str) -> str:
    """``base`` (the receiver's ``.../api/callbacks?secret=...``) with a path context added."""
    parts = urlsplit(check_callback_url(base))
    path = parts.path.rstrip("/") + "/" + path_context
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def flow_callback_url(base: str, flow: str, state: Mapping[str, Any]) -> str:
    """The callback URL of a call of ``flow`` with ``state``: ``base`` with ``<flow>:<payload>``
    added to its path; ValueError if the state is too large or ``base`` is not a URL."""
    return callback_uri(base, encode_context(flow, state))
