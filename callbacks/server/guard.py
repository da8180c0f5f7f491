"""Connection limits uvicorn lacks for its httptools protocol: header size and a header deadline.

uvicorn's h11 protocol caps buffered headers (``h11_max_incomplete_event_size``) but its
httptools protocol, the fast one ``uvicorn[standard]`` picks, buffers headers of any size, and
neither protocol times out a client that connects and sends its headers a byte at a time (the
keep-alive timer only runs between requests). :func:`guarded_protocol` returns uvicorn's
httptools protocol with both limits added; a client past them gets 431 ``headers_too_large`` or
408 ``request_timeout`` and the connection is closed. The body's own deadline is the app's job
(:mod:`callbacks.server.app`), since only the app knows when it stops reading.

A request the HTTP parser refuses (both Content-Length and Transfer-Encoding, two
Content-Lengths, a bad chunk size, bytes that are not HTTP) never reaches the app; uvicorn
answers it with a plain-text 400. Here it gets 400 ``invalid_http`` with the parser's reason
(a fixed text, never the request's bytes) in ``{"code", "message"}`` like every other error.

The protocol also writes through a :class:`CoalescingTransport`, so that a response's head and
body leave in one send.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import sys
from collections.abc import Iterable
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


class CoalescingTransport(asyncio.Transport):
    """A connection's transport whose writes of one event-loop iteration leave in one send.

    uvicorn writes a response's head when the app sends ``http.response.start`` and its body on
    ``http.response.body``: two send() calls and two TCP segments for an answer of ~100 bytes,
    each paying the loopback's whole trip through the kernel. Here a first write waits until a
    second one in the same iteration joins it, or until the end of the iteration sends it alone
    (``call_soon``): nothing waits past the app's own turn on the loop. Whatever ends or hands
    over the connection sends what waits first. Measured with ``callbacks serve`` and ``wrk -t2
    -c64 -d8s -s bench/post.lua``, six alternating pairs: +2 % to +24 % requests/s, 4-26 us less
    server CPU per request, and wrk's own CPU per request down from 25-29 us to 19-25 us.
    """

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._pending: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pending = self._pending
        if pending is None:
            self._pending = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._pending = None
            self._transport.write(pending + data)

    def flush(self) -> None:
        """Send what waits, if anything."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._transport.write(pending)

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(list_of_data))

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.flush()
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._pending or b"")

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)


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
        from httptools import HttpParserError
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
            # Flow control (uvicorn's FlowControl) keeps the real transport; writes go here.
            self.transport = CoalescingTransport(transport, self.loop)
            self._await_headers()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_waiting()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            # The deadline starts only if a chunk ends before the headers do (data_received):
            # most requests' headers arrive whole, and then no timer is set and cancelled.
            self._received = 0
            self._awaiting_headers = True

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
                if self._deadline is None and (self.cycle is None or self.cycle.response_complete):
                    # Bytes that began no request (blank lines between requests): uvicorn
                    # stopped its keep-alive timer for them, and nothing else would close an
                    # idle connection that sends one now and then.
                    self._await_headers()
                return
            # Headers still incomplete after this chunk: everything counted so far is headers.
            self._received += len(data)
            if self._received > header_bytes:
                log.info("refused a request whose headers passed %d bytes", header_bytes)
                message = f"request headers are larger than {header_bytes} bytes"
                self._refuse(431, "headers_too_large", message)
            elif self._deadline is None:
                self._deadline = self.loop.call_later(header_timeout, self._headers_too_slow)

        def send_400_response(self, msg: str) -> None:
            # uvicorn calls this while handling the parser's error, whose text says what is
            # wrong: llhttp's fixed reasons ("Duplicate Content-Length"), never request bytes.
            error = sys.exc_info()[1]
            reason = str(error)[:100] if isinstance(error, HttpParserError) else ""
            message = "the request is not valid HTTP/1.1" + (f": {reason}" if reason else "")
            self._refuse(400, "invalid_http", message)

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
            # An answer goes to the oldest request still waiting for one. While the parser is in
            # a request's body, that is this request, unless its response has begun; otherwise
            # an earlier request still being answered would take this answer for its own.
            cycle = self.cycle
            busy = cycle is not None and (
                cycle.response_started if cycle.more_body else not cycle.response_complete
            )
            if status is not None and not busy:
                self.transport.write(error_response(status, code, message))
            self.transport.close()

    return GuardedHttpToolsProtocol
