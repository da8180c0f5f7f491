"""Verify the HMAC-SHA256 signature of a REST request exactly as the service does.

The checks, in order, each a 401 with its own message (none quotes a signature or the key):
an ``Authorization`` header in the ``HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256
&Signature=...`` form; an ``x-ms-date`` within ``max_skew`` of now; an ``x-ms-content-sha256``
equal to the hash of the body received; and the signature recomputed over (method, path and
query as received, date, Host header, content hash), compared in constant time.
"""

from __future__ import annotations

import hmac as _hmac
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from starlette.requests import Request

from callbacks.client.hmac import SIGNED_HEADERS, content_hash, sign, string_to_sign
from callbacks.emulator.errors import Unauthorized

_AUTHORIZATION = re.compile(
    r"^HMAC-SHA256\s+SignedHeaders=(?P<headers>[^&\s]+)&Signature=(?P<signature>\S+)$",
    re.IGNORECASE,
)
_FORM = "expected 'HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=...'"


def path_and_query(request: Request) -> str:
    """The request target exactly as it came on the wire (percent-encoding untouched)."""
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
    query: bytes = request.scope.get("query_string", b"")
    target: bytes = raw_path + b"?" + query if query else raw_path
    return target.decode("latin-1")


def _same(a: str, b: str) -> bool:
    return _hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def _parse_date(value: str) -> datetime:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise Unauthorized("malformed x-ms-date header: expected an RFC 1123 date") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


def verify_request(
    request: Request, body: bytes, key: bytes, *, max_skew: float, now: datetime
) -> None:
    """Raise :class:`Unauthorized` unless ``request`` is signed with ``key`` over ``body``."""
    headers = request.headers
    authorization = headers.get("authorization")
    if not authorization:
        raise Unauthorized("missing Authorization header")
    match = _AUTHORIZATION.match(authorization.strip())
    if match is None:
        raise Unauthorized(f"malformed Authorization header: {_FORM}")
    if match["headers"].lower() != SIGNED_HEADERS:
        raise Unauthorized(f"SignedHeaders must be {SIGNED_HEADERS}")
    date = headers.get("x-ms-date")
    if not date:
        raise Unauthorized("missing x-ms-date header")
    skew = abs((now - _parse_date(date)).total_seconds())
    if skew > max_skew:
        minutes = round(max_skew / 60)
        raise Unauthorized(f"x-ms-date is more than {minutes} minutes off the service's clock")
    claimed_hash = headers.get("x-ms-content-sha256")
    if not claimed_hash:
        raise Unauthorized("missing x-ms-content-sha256 header")
    actual_hash = content_hash(body)
    if not _same(claimed_hash, actual_hash):
        raise Unauthorized("x-ms-content-sha256 does not match the body received")
    host = headers.get("host", "")
    text = string_to_sign(request.method, path_and_query(request), date, host, actual_hash)
    if not _same(match["signature"], sign(key, text)):
        raise Unauthorized("the request signature is not valid")
