"""The receiver's listening socket, bound before anything else starts.

``callbacks serve`` binds its address first and hands the socket to uvicorn, so an address in
use (another receiver on 8080), a privileged port or an address this host does not have is one
line naming ``--port`` or ``--host`` before the event log is opened or the dispatching child
starts; and nothing can take the port between the check and the start.
"""

from __future__ import annotations

import errno
import socket

from callbacks.errors import ConfigError


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not yet listening); ConfigError if it cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn decides
    shown = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # As uvicorn does: a restart may bind while the last run's connections linger.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(_why(exc, shown)) from None
    return sock


def _why(exc: OSError, shown: str) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"--port: {shown} is already in use by another program; stop it or choose "
                "another --port")
    if exc.errno == errno.EACCES:
        return f"--port: not allowed to listen on {shown} (ports below 1024 need privileges)"
    reason = exc.strerror or str(exc)
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return f"--host: cannot listen on {shown}: {reason}"
    return f"cannot listen on {shown}: {reason}"
