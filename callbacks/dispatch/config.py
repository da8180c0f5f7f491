"""The dispatcher's settings, and the name it claims calls under."""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    """How the dispatcher runs handlers; times are in seconds."""

    concurrency: int = 64
    """Calls handled at once; 0: log only (``submit`` commits, no handler runs here)."""
    max_attempts: int = 5
    """Runs of an event before it is dead."""
    backoff: float = 1.0
    """Delay before the first retry; doubled (``backoff_factor``) for each further one."""
    backoff_factor: float = 2.0
    backoff_max: float = 300.0
    handler_timeout: float | None = 300.0
    """A handler still running after this fails with TimeoutError (None: no limit)."""
    lease: float = 30.0
    """How long a claim lasts unless renewed; a dead owner's calls are taken over after it."""
    poll_interval: float = 1.0
    """Fallback look for work (backoffs that ended, events logged by other processes)."""
    stop_timeout: float = 10.0
    """How long ``stop`` lets in-flight handler runs finish before cancelling them."""
    batch: int = 64
    """Events read from the log at a time per call."""
    linger: float = 0.5
    """How long a worker keeps a drained call, waiting for its next event, before releasing."""
    parsed_cache: int = 10_000
    """Parsed events kept from ``submit`` for the worker (skips parsing the log's copy)."""

    def __post_init__(self) -> None:
        if self.concurrency < 0:
            raise ValueError("concurrency must not be negative (0: log only, dispatch nothing)")
        if self.max_attempts < 1 or self.batch < 1:
            raise ValueError("max_attempts and batch must be at least 1")
        if self.linger < 0 or self.parsed_cache < 0:
            raise ValueError("linger and parsed_cache must not be negative")
        if min(self.backoff, self.lease, self.poll_interval, self.stop_timeout) <= 0:
            raise ValueError("backoff, lease, poll_interval and stop_timeout must be positive")
        if self.backoff_factor < 1 or self.backoff_max < self.backoff:
            raise ValueError("backoff_factor must be >= 1 and backoff_max >= backoff")
        if self.handler_timeout is not None and self.handler_timeout <= 0:
            raise ValueError("handler_timeout must be positive or None")

    def retry_delay(self, attempts: int) -> float:
        """The backoff after the ``attempts``-th failed run."""
        exponent = min(attempts - 1, 64)
        return min(self.backoff * math.pow(self.backoff_factor, exponent), self.backoff_max)


def default_owner() -> str:
    """This process's claim owner name: the host name (one dispatcher per host and log).

    A restart under the same name takes back its own claims at once (``recover``); replicas
    sharing a host must be given distinct names.
    """
    return socket.gethostname() or "callbacks"
