"""The emulator's configuration: timings of simulated calls, faults, and callback delivery.

Every value has a default suited to interactive use; tests shrink the delays. Constructors
validate, so a bad value fails with a ``ValueError`` naming the field before anything starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from callbacks.emulator.events2021 import EventIds
from callbacks.emulator.scenario import Scenario
from callbacks.emulator.tokens import DEFAULT_ISSUER

DEFAULT_RESOURCE_ID = "e1a70000-0000-4000-8000-000000000000"
"""The audience of callback tokens when none is configured: a fixed, obviously fake resource id."""


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, not {value}")


def _check_non_negative(name: str, value: float) -> None:
    if value < 0:
        raise ValueError(f"{name} must not be negative, not {value}")


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Faults injected on purpose; rates are probabilities per request or per callback."""

    rate_429: float = 0.0
    """Share of REST requests answered 429 with Retry-After, not executed."""
    rate_500: float = 0.0
    """Share of REST requests answered 500, not executed."""
    retry_after: int = 1
    """Seconds in the Retry-After header of a 429."""
    latency: float = 0.0
    """Seconds added to every REST answer."""
    latency_jitter: float = 0.0
    """Up to this many more seconds, at random."""
    duplicate_rate: float = 0.0
    """Share of callbacks delivered twice."""
    reorder_rate: float = 0.0
    """Share of callbacks held back (with the rest of their call's queue) to reorder calls."""
    reorder_delay: float = 0.5
    """Longest hold of a held-back callback, in seconds."""
    seed: int | None = None
    """Seed of the fault random generator; None: a fresh one."""

    def __post_init__(self) -> None:
        for name in ("rate_429", "rate_500", "duplicate_rate", "reorder_rate"):
            _check_rate(name, getattr(self, name))
        if self.rate_429 + self.rate_500 > 1.0:
            raise ValueError("rate_429 + rate_500 must not exceed 1")
        for name in ("latency", "latency_jitter", "reorder_delay"):
            _check_non_negative(name, getattr(self, name))
        if self.retry_after < 0:
            raise ValueError(f"retry_after must not be negative, not {self.retry_after}")


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """How callbacks are posted and retried (Event Grid style, with smaller bounds)."""

    max_attempts: int = 8
    """Attempts per callback, the first included."""
    backoff: float = 0.5
    """Seconds before the first retry."""
    backoff_factor: float = 2.0
    """Each retry waits this much longer than the previous one."""
    max_backoff: float = 10.0
    """Longest wait between two attempts."""
    timeout: float = 10.0
    """Seconds to wait for the receiver's answer to one attempt."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")
        if self.backoff_factor < 1:
            raise ValueError(f"backoff_factor must be at least 1, not {self.backoff_factor}")
        for name in ("backoff", "max_backoff"):
            _check_non_negative(name, getattr(self, name))
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, not {self.timeout}")

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2 for the first retry)."""
        return min(self.backoff * self.backoff_factor ** max(attempt - 2, 0), self.max_backoff)


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """Everything the emulator needs; ``access_key`` is the decoded key and never shown."""

    access_key: bytes = field(repr=False)
    answer_delay: float = 0.5
    """Seconds a callee rings before answering, unless its script says otherwise."""
    play_duration: float = 2.0
    """Seconds a prompt plays before its PlayAudioResult."""
    ring_timeout: float = 30.0
    """Seconds before an unanswered callee is given up."""
    tone_interval: float = 0.1
    """Seconds between two tones of one press."""
    timeout_scale: float = 1.0
    """Factor applied to timeouts a GA request gives in seconds (initial silence, inter-tone,
    invitation); tests shrink it."""
    incoming_url: str | None = field(default=None, repr=False)
    """The Event Grid subscription's endpoint for incoming calls (its query holds a secret)."""
    event_ids: EventIds = "uuid"
    """``uuid``: a fresh id per callback; ``null``: ``id`` is null, as the 2021 service did."""
    max_clock_skew: float = 900.0
    """Largest accepted difference between ``x-ms-date`` and the emulator's clock, in seconds."""
    max_body_bytes: int = 1 << 20
    journal_size: int = 10_000
    """Requests and callbacks kept for the control API (the oldest are dropped)."""
    resource_id: str = DEFAULT_RESOURCE_ID
    """The ACS resource id: the ``aud`` of every callback token."""
    token_issuer: str = DEFAULT_ISSUER
    """The ``iss`` of every callback token (the real service's by default)."""
    token_lifetime: float = 300.0
    """Seconds a callback token is valid (five minutes, as the service's)."""
    scenario: Scenario = field(default_factory=Scenario)
    faults: FaultConfig = field(default_factory=FaultConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.access_key, bytes) or not self.access_key:
            raise ValueError("access_key must be the decoded key as non-empty bytes")
        for name in ("answer_delay", "play_duration", "ring_timeout", "tone_interval"):
            _check_non_negative(name, getattr(self, name))
        if not 0 < self.timeout_scale < float("inf"):
            raise ValueError(f"timeout_scale must be positive, not {self.timeout_scale}")
        if self.incoming_url is not None:
            parts = urlsplit(self.incoming_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("incoming_url must be an absolute http(s) URL")
        if self.event_ids not in ("uuid", "null"):
            raise ValueError(f"event_ids must be 'uuid' or 'null', not {self.event_ids!r}")
        for name in ("resource_id", "token_issuer"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip() or value != value.strip():
                raise ValueError(f"{name} must be a non-empty string without surrounding spaces")
        if not 1 <= self.token_lifetime < float("inf"):
            raise ValueError(f"token_lifetime must be at least 1 second, not {self.token_lifetime}")
        if self.max_clock_skew <= 0 or self.max_body_bytes <= 0 or self.journal_size <= 0:
            raise ValueError("max_clock_skew, max_body_bytes and journal_size must be positive")
