"""HMAC-SHA256 request signing for the Call Automation REST API.

For each request the client sends ``x-ms-date`` (RFC 1123, GMT), ``x-ms-content-sha256``
(base64 SHA-256 of the body) and ``Authorization: HMAC-SHA256 SignedHeaders=...&Signature=...``
where the signature is base64(HMAC-SHA256(key, string_to_sign)) and::

    string_to_sign = VERB "\\n" path_and_query "\\n" x-ms-date ";" host ";" content_hash

The functions are pure so the local emulator verifies signatures with exactly the code that
makes them. Neither the key nor a signature ever appears in a ``repr`` or an error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac as _hmac
from collections.abc import Callable, Generator, Mapping
from datetime import UTC, datetime
from email.utils import formatdate

import httpx2

EMPTY_CONTENT_HASH = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def parse_connection_string(s: str) -> tuple[str, bytes]:
    """Split ``endpoint=...;accesskey=...`` into (endpoint without trailing "/", decoded key).

    Keys are case-insensitive. Errors never quote the string, which holds the key.
    """
    if not isinstance(s, str):
        raise ValueError("connection string must be a str")
    parts: dict[str, str] = {}
    for item in s.split(";"):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError("malformed connection string: expected 'name=value' pairs")
        parts[name.strip().lower()] = value.strip()
    endpoint = parts.get("endpoint")
    if not endpoint:
        raise ValueError("malformed connection string: missing 'endpoint'")
    encoded_key = parts.get("accesskey")
    if not encoded_key:
        raise ValueError("malformed connection string: missing 'accesskey'")
    url = httpx2.URL(endpoint)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("malformed connection string: endpoint must be an http(s) URL")
    return endpoint.rstrip("/"), decode_key(encoded_key)


def decode_key(encoded_key: str) -> bytes:
    """Decode a base64 access key; the error does not repeat the key."""
    try:
        key = base64.b64decode(encoded_key, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("malformed access key: not valid base64") from None
    if not key:
        raise ValueError("malformed access key: empty")
    return key


def content_hash(body: bytes) -> str:
    """base64(SHA-256(body)), the ``x-ms-content-sha256`` header value."""
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def format_date(when: datetime) -> str:
    """RFC 1123 GMT date, as ``x-ms-date`` and ``Repeatability-First-Sent`` want it."""
    return formatdate(when.timestamp(), usegmt=True)


def string_to_sign(
    method: str, path_and_query: str, date: str, host: str, content_hash: str
) -> str:
    """The exact text the signature covers."""
    return f"{method.upper()}\n{path_and_query}\n{date};{host};{content_hash}"


def sign(key: bytes, string_to_sign: str) -> str:
    """base64(HMAC-SHA256(key, string_to_sign))."""
    digest = _hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def authorization_header(signature: str) -> str:
    """The ``Authorization`` header value carrying ``signature``."""
    return f"HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}&Signature={signature}"


def request_host(request: httpx2.Request) -> str:
    """The host as sent in the ``Host`` header (with the port when it is not the default)."""
    return request.headers.get("host") or request.url.netloc.decode("ascii")


def request_path_and_query(request: httpx2.Request) -> str:
    """Path and query exactly as they go on the wire (percent-encoded)."""
    return request.url.raw_path.decode("ascii")


class HmacAuth(httpx2.Auth):
    """httpx2 ``Auth`` signing every request with HMAC-SHA256; ``clock`` returns aware UTC time."""

    requires_request_body = True

    def __init__(self, key: bytes, clock: Callable[[], datetime] = _utc_now) -> None:
        if not isinstance(key, bytes) or not key:
            raise ValueError("HmacAuth needs the decoded access key as non-empty bytes")
        self._key = key
        self._clock = clock

    def __repr__(self) -> str:
        return "HmacAuth(key=<redacted>)"

    def sign_request(self, request: httpx2.Request) -> None:
        """Add ``x-ms-date``, ``x-ms-content-sha256`` and ``Authorization`` to ``request``."""
        date = format_date(self._clock())
        body_hash = content_hash(request.content)
        text = string_to_sign(
            request.method, request_path_and_query(request), date, request_host(request), body_hash
        )
        request.headers["x-ms-date"] = date
        request.headers["x-ms-content-sha256"] = body_hash
        request.headers["Authorization"] = authorization_header(sign(self._key, text))

    def auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        """Sign and send; the service answers 401 on a bad signature, so there is no second leg."""
        self.sign_request(request)
        yield request


def verify(
    key: bytes,
    method: str,
    path_and_query: str,
    host: str,
    headers: Mapping[str, str],
    body: bytes,
) -> bool:
    """Whether a received request carries a valid signature (the emulator's check).

    ``headers`` is looked up case-insensitively; the content hash is recomputed from ``body``
    and both comparisons are constant-time.
    """
    lower = {name.lower(): value for name, value in headers.items()}
    date = lower.get("x-ms-date", "")
    actual_hash = content_hash(body)
    if not date or not _same(lower.get("x-ms-content-sha256", ""), actual_hash):
        return False
    expected = authorization_header(
        sign(key, string_to_sign(method, path_and_query, date, host, actual_hash))
    )
    return _same(lower.get("authorization", ""), expected)


def _same(a: str, b: str) -> bool:
    return _hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
