"""Connection limits uvicorn lacks for its httptools protocol: header size and a header deadline.

uvicorn's h11 protocol caps buffered headers (``h11_max_incomplete_event_size``) but its
httptools protocol, the fast one ``uvicorn[standard]`` picks, buffers headers of any size, and
neither protocol times out a client that connects and sends its headers a byte at a time (the
keep-alive timer only runs between requests). :func:`guarded_protocol` returns uvicorn's
httptools protocol with both limits added; a client past them gets 431 ``headers_too_large`` or
408 ``request_timeout`` and the connection is closed. The body's own deadline is the app's job
(:mod:`callbacks.app`), since only the app knows when it stops reading.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
from typing import Any

from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("callbacks.http_guard")

DEFAULT_MAX_HEADER_BYTES = 32 * 1024
DEFAULT_KEEP_ALIVE_TIMEOUT = 5


def error_response(status: int, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 response with a ``{"code", "message"}`` body, closing the connection."""
    body = json.dumps({"code": code, "message": message}).encode()
    phrase = http.HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def _headers_too_large_app(header_bytes: int) -> Any:
    body = json.dumps({
        "code": "headers_too_large",
        "message": f"request headers are larger than {header_bytes} bytes",
    }).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 431, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def guarded_protocol(*, header_bytes: int, header_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol limited to ``header_bytes`` and ``header_timeout`` seconds.

    Without httptools this is uvicorn's h11 protocol, whose header cap is set through
    ``h11_max_incomplete_event_size`` and which has no header deadline.
    """
    if header_bytes <= 0 or not header_timeout > 0:
        raise ValueError("header limits must be positive")
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - uvicorn[standard] installs httptools
        return H11Protocol
    too_large_app = _headers_too_large_app(header_bytes)

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        """Counts what arrives until a request's headers are complete, under a deadline."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._awaiting_headers = False
            self._received = 0
            self._chunk = 0
            self._deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._await_headers()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_waiting()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._await_headers()

        def on_headers_complete(self) -> None:
            self._stop_waiting()
            # Headers that arrived whole in one chunk were never counted: measure them, but only
            # when the chunk could have held too many.
            if self._received + self._chunk > header_bytes and self._head_size() > header_bytes:
                log.info("refused a request whose headers passed %d bytes", header_bytes)
                # The way uvicorn answers 503 over its concurrency limit: this request gets a
                # small app of its own, with the usual response cycle and connection close.
                app, self.app = self.app, too_large_app
                try:
                    super().on_headers_complete()
                finally:
                    self.app = app
                return
            super().on_headers_complete()

        def data_received(self, data: bytes) -> None:
            self._chunk = len(data)
            super().data_received(data)
            if not self._awaiting_headers:
                return
            # Headers still incomplete after this chunk: everything counted so far is headers.
            self._received += len(data)
            if self._received > header_bytes:
                log.info("refused a request whose headers passed %d bytes", header_bytes)
                message = f"request headers are larger than {header_bytes} bytes"
                self._refuse(431, "headers_too_large", message)

        def _head_size(self) -> int:
            fields = sum(len(name) + len(value) + 4 for name, value in self.headers)
            return len(self.url) + fields

        def _await_headers(self) -> None:
            self._received = 0
            if not self._awaiting_headers:
                self._awaiting_headers = True
                self._deadline = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _stop_waiting(self) -> None:
            self._awaiting_headers = False
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _headers_too_slow(self) -> None:
            self._deadline = None
            if self._received == 0:
                # A connection that never started a request is closed silently, like an idle one.
                self._refuse(None, "", "")
                return
            log.info("closed a connection whose headers took over %g s", header_timeout)
            message = f"request headers did not arrive within {header_timeout:g} s"
            self._refuse(408, "request_timeout", message)

        def _refuse(self, status: int | None, code: str, message: str) -> None:
            self._stop_waiting()
            if self.transport.is_closing():
                return
            # With a pipelined response still being written, an answer would interleave with it.
            busy = self.cycle is not None and not self.cycle.response_complete
            if status is not None and not busy:
                self.transport.write(error_response(status, code, message))
            self.transport.close()

    return GuardedHttpToolsProtocol
