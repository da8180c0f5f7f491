"""Faults on demand, drawn from one seedable random generator.

REST faults (429 with Retry-After, 500) are decided before a request is executed, so a faulted
request never acts and a client's retry with the same repeatability id acts exactly once.
Statuses forced with :meth:`Faults.force` come first, in order, for deterministic tests.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable

from callbacks.emulator.config import FaultConfig
from callbacks.emulator.errors import InjectedFault

FORCEABLE_STATUSES = frozenset({429, 500, 503})


class Faults:
    """Decides, request by request and callback by callback, which faults happen."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._random = random.Random(config.seed)
        self._forced: deque[int] = deque()

    def configure(self, config: FaultConfig) -> None:
        """Replace the rates; a config with a seed restarts the generator from it."""
        self.config = config
        if config.seed is not None:
            self._random = random.Random(config.seed)

    def force(self, statuses: Iterable[int]) -> None:
        """Answer the next REST requests with these statuses, one each, before any random fault."""
        statuses = list(statuses)
        for status in statuses:
            if status not in FORCEABLE_STATUSES:
                raise ValueError(f"cannot force status {status}: use 429, 500 or 503")
        self._forced.extend(statuses)

    @property
    def forced(self) -> list[int]:
        """Forced statuses not yet used."""
        return list(self._forced)

    def reset(self) -> None:
        """Drop forced statuses."""
        self._forced.clear()

    def check_request(self) -> None:
        """Raise :class:`InjectedFault` when this REST request must fail."""
        status: int | None = self._forced.popleft() if self._forced else None
        if status is None:
            draw = self._random.random()
            if draw < self.config.rate_429:
                status = 429
            elif draw < self.config.rate_429 + self.config.rate_500:
                status = 500
        if status is not None:
            raise InjectedFault(status, self.config.retry_after)

    def latency(self) -> float:
        """Seconds to delay this REST answer."""
        jitter = self.config.latency_jitter
        return self.config.latency + (self._random.uniform(0, jitter) if jitter else 0.0)

    def duplicate(self) -> bool:
        """Whether to deliver this callback twice."""
        rate = self.config.duplicate_rate
        return rate > 0 and self._random.random() < rate

    def hold(self) -> float:
        """Seconds to hold this callback (and its call's queue) back; 0 for most."""
        rate = self.config.reorder_rate
        if rate > 0 and self._random.random() < rate:
            return self._random.uniform(0, self.config.reorder_delay)
        return 0.0
