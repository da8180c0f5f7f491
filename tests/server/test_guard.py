"""The transport under uvicorn's protocol: a response's head and body in one send."""

from __future__ import annotations

import asyncio
from typing import Any

from callbacks.server.guard import CoalescingTransport


class Recorder(asyncio.Transport):
    """The real transport's place: what was sent, in which calls, and what else was done."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []

    def write(self, data: Any) -> None:
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.calls.append(("close", None))

    def abort(self) -> None:
        self.calls.append(("abort", None))

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        self.calls.append(("pause_reading", None))

    def resume_reading(self) -> None:
        self.calls.append(("resume_reading", None))


async def test_writes_of_one_iteration_leave_in_one_send() -> None:
    real = Recorder()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert real.calls == []
    transport.write(b'{"accepted":1}')
    assert real.calls == [("write", b'HTTP/1.1 200 OK\r\n\r\n{"accepted":1}')]
    await asyncio.sleep(0)
    assert len(real.calls) == 1  # the end of the iteration finds nothing left to send


async def test_a_lone_write_leaves_at_the_end_of_the_iteration() -> None:
    real = Recorder()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    assert transport.get_write_buffer_size() > 0
    await asyncio.sleep(0)
    assert real.calls == [("write", b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")]
    transport.write(b"5\r\nhello\r\n")  # a later chunk waits for its own iteration
    await asyncio.sleep(0)
    assert real.calls[-1] == ("write", b"5\r\nhello\r\n")


async def test_closing_sends_what_waits_first_and_aborting_drops_it() -> None:
    loop = asyncio.get_running_loop()
    real = Recorder()
    transport = CoalescingTransport(real, loop)
    transport.write(b"last words")
    transport.close()
    assert real.calls == [("write", b"last words"), ("close", None)]

    real = Recorder()
    transport = CoalescingTransport(real, loop)
    transport.write(b"never sent")
    transport.abort()
    await asyncio.sleep(0)
    assert real.calls == [("abort", None)]


async def test_uvicorn_s_protocol_answers_in_one_send() -> None:
    """The guarded protocol, fed a request: the app's head and body reach the socket in one
    write (two without the coalescing transport)."""
    import uvicorn
    from uvicorn.server import ServerState

    from callbacks.server.guard import guarded_protocol

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    config.load()
    protocol_class = guarded_protocol(header_bytes=8192, header_timeout=5)
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})  # type: ignore[call-arg]
    real = Recorder()
    protocol.connection_made(real)
    protocol.data_received(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")  # type: ignore[attr-defined]
    for _ in range(5):
        await asyncio.sleep(0)
    writes = [data for kind, data in real.calls if kind == "write"]
    assert len(writes) == 1
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[0].endswith(b"\r\n\r\nok")
    protocol.connection_lost(None)
