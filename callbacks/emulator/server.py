"""Run the emulator (or any ASGI app) under uvicorn on a real socket, in the current loop.

For tests, ``callbacks demo`` and embedding::

    async with serve_emulator(config) as running:      # a free port on 127.0.0.1
        client = CallAutomationClient(running.url, AzureKeyCredential(running.access_key_b64))
        receiver = ["callbacks", "serve", *running.receiver_flags, ...]   # JWT verification on
        ...
        await asyncio.wait_for(running.emulator.delivery.wait_idle(), 5)

With ``tls=True`` it serves HTTPS with certificates made at start (:mod:`.tls`); ``ca_file``
names the CA certificate clients must trust, and ``connection_string`` works with
``CallAutomationClient.from_connection_string`` (which always speaks https).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import uvicorn

from callbacks.emulator.app import create_emulator, emulator_of
from callbacks.emulator.config import EmulatorConfig
from callbacks.emulator.emulator import Emulator
from callbacks.emulator.signing import receiver_flags
from callbacks.emulator.tls import Certificates, make_certificates
from callbacks.emulator.tokens import JWKS_PATH, TokenIssuer


@dataclass(frozen=True, slots=True)
class RunningEmulator:
    """An emulator serving on ``url``."""

    url: str
    emulator: Emulator
    access_key: bytes = field(repr=False)
    ca_file: Path | None = None
    """The CA certificate to trust when serving HTTPS (``tls=True``), else None."""

    @property
    def access_key_b64(self) -> str:
        """The access key as a connection string carries it (base64)."""
        return base64.b64encode(self.access_key).decode("ascii")

    @property
    def connection_string(self) -> str:
        """``endpoint=<url>;accesskey=<base64 key>``, ready for a REST client."""
        return f"endpoint={self.url};accesskey={self.access_key_b64}"

    @property
    def jwks_url(self) -> str:
        """Where the keys of the callback tokens are served."""
        return self.url + JWKS_PATH

    @property
    def issuer(self) -> str:
        """The ``iss`` of callback tokens."""
        return self.emulator.signer.issuer

    @property
    def resource_id(self) -> str:
        """The ``aud`` of callback tokens."""
        return self.emulator.signer.resource_id

    @property
    def receiver_flags(self) -> list[str]:
        """``callbacks serve`` options verifying this emulator's callbacks (``--auth jwt``...)."""
        return receiver_flags(self.url, self.issuer, self.resource_id)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 picks a free one. Raises ``OSError``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then; without it
    # every keep-alive response waits ~40 ms on Nagle and delayed ACKs
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket, host: str, scheme: str = "http") -> str:
    """``http://host:port`` for a bound socket (a wildcard host shown as loopback)."""
    port = sock.getsockname()[1]
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"{scheme}://{shown}:{port}"


def uvicorn_config(
    app: object,
    log_level: str = "warning",
    *,
    access_log: bool = False,
    tls: Certificates | None = None,
) -> uvicorn.Config:
    """uvicorn settings shared by the CLI and :func:`serve_emulator`."""
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        log_level=log_level,
        lifespan="on",
        ws="none",
        access_log=access_log,
        timeout_graceful_shutdown=2,
        ssl_certfile=str(tls.cert_file) if tls else None,
        ssl_keyfile=str(tls.key_file) if tls else None,
    )


@contextlib.asynccontextmanager
async def serve_asgi(
    app: object, *, host: str = "127.0.0.1", port: int = 0, tls: Certificates | None = None
) -> AsyncIterator[str]:
    """Serve any ASGI ``app`` under uvicorn until the block exits; yields its base URL
    (https when ``tls`` gives certificates)."""
    sock = bind_socket(host, port)
    server = uvicorn.Server(uvicorn_config(app, tls=tls))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                await task
                raise RuntimeError("the server stopped while starting")
            await asyncio.sleep(0.005)
        yield url_of(sock, host, "https" if tls else "http")
    finally:
        server.should_exit = True
        try:
            await task
        finally:
            sock.close()


@contextlib.asynccontextmanager
async def serve_emulator(
    config: EmulatorConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    callback_transport: httpx2.AsyncBaseTransport | None = None,
    tokens: TokenIssuer | None = None,
    tls: bool = False,
) -> AsyncIterator[RunningEmulator]:
    """Serve an emulator until the block exits; yields its URL and state."""
    app = create_emulator(config, callback_transport=callback_transport, tokens=tokens)
    with tempfile.TemporaryDirectory(prefix="callbacks-emulator-") as directory:
        certificates = make_certificates(Path(directory), host=host) if tls else None
        async with serve_asgi(app, host=host, port=port, tls=certificates) as url:
            yield RunningEmulator(
                url,
                emulator_of(app),
                config.access_key,
                certificates.ca_file if certificates else None,
            )
