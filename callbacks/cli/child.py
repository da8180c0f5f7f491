"""The dispatcher process of ``callbacks serve --dispatch process`` (``python -m`` this module).

Started by :class:`~callbacks.dispatch.process.DispatchProcess`, never by hand. It reads its
configuration (a :class:`~callbacks.config.ServeConfig` as JSON) from the first line of standard
input, loads the same plugins, opens the same log and runs a
:class:`~callbacks.dispatch.dispatcher.Dispatcher` on it. Each further input line is a JSON list of
call ids with new events; end of input means stop (the server is stopping, or gone), like a
dispatcher stops: running handlers finish or are released. Once its dispatcher runs, and then every
second, it writes a snapshot of its metrics to standard output. It ignores SIGINT and SIGTERM (the
server stops it), and moves both pipes out of its handlers' reach: their standard input is
/dev/null and their output goes to standard error, where the logs go, shared with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import sys
from typing import Any, BinaryIO

from callbacks.config import ServeConfig
from callbacks.dispatch.dispatcher import Dispatcher
from callbacks.dispatch.process import PARENT_PID_VARIABLE, REPORT_INTERVAL
from callbacks.plugins.loader import load_enabled
from callbacks.server.logs import configure_logging
from callbacks.server.metrics import Metrics
from callbacks.service import build_dispatcher, rest_client, serve_callback_url, tune_gc

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Have the kernel kill this process when the server dies, however it dies."""
    parent = os.environ.get(PARENT_PID_VARIABLE)
    if not sys.platform.startswith("linux") or parent is None:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if str(os.getppid()) != parent:  # the server died before the line above
        os._exit(1)


async def _listen(
    reader: asyncio.StreamReader, dispatcher: Dispatcher, stop: asyncio.Event
) -> None:
    """Wake the dispatcher for each notification; stop at the end of input."""
    while True:
        try:
            line = await reader.readline()
        except ValueError:  # longer than the reader's limit, and dropped: the log is polled
            continue
        if not line:
            break
        try:
            call_ids: Any = json.loads(line)
        except ValueError:
            continue
        if isinstance(call_ids, list):
            dispatcher.notify([c if isinstance(c, str) else None for c in call_ids])
    stop.set()


async def _report(metrics: Metrics, out: asyncio.WriteTransport) -> None:
    """A snapshot at once (the server's readiness waits for it), then every second."""
    while not out.is_closing():
        out.write(json.dumps(metrics.snapshot()).encode() + b"\n")
        await asyncio.sleep(REPORT_INTERVAL)


def _private_streams() -> tuple[BinaryIO, BinaryIO]:
    """The server's pipes moved to descriptors no handler sees or passes on to a subprocess;
    standard input becomes /dev/null and standard output goes to standard error."""
    protocol_in, protocol_out = os.dup(0), os.dup(1)  # not inheritable (PEP 446)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    # The pipe transports own (and close) these.
    return os.fdopen(protocol_in, "rb", buffering=0), os.fdopen(protocol_out, "wb", buffering=0)


async def _run(protocol_in: BinaryIO, protocol_out: BinaryIO) -> int:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=16 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), protocol_in)
    out, _ = await loop.connect_write_pipe(asyncio.Protocol, protocol_out)
    first = await reader.readline()
    if not first:
        return 1  # the server went away before configuring us
    config = ServeConfig(**json.loads(first))
    configure_logging(config.log_level, config.log_format, replica=config.replica_name)
    plugins = load_enabled(config.handlers, config.config_file)
    metrics = Metrics()
    client = rest_client(config, metrics)
    callback_url = serve_callback_url(plugins, config.connection_string, config.callback_url)
    dispatcher = build_dispatcher(config, plugins, metrics, client, callback_url)
    dispatcher.store.favour_other_writers()  # the receiving process waits on our commits
    stop = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        if client is not None:
            await stack.enter_async_context(client)
        await dispatcher.start()
        tune_gc()
        tasks = [
            asyncio.create_task(_listen(reader, dispatcher, stop)),
            asyncio.create_task(_report(metrics, out)),
        ]
        await stop.wait()
        await dispatcher.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return 0


def main() -> int:
    """Run until the end of input; 0 after a clean stop."""
    # Ctrl-C in a terminal, or a service manager's SIGTERM to the whole group, reaches this
    # process too: it stops when the server closes its input, after the server stopped receiving.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_parent()
    streams = _private_streams()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it
        return asyncio.run(_run(*streams))
    return uvloop.run(_run(*streams))


if __name__ == "__main__":
    sys.exit(main())
