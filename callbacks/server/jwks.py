"""A cache of the JSON Web Key Set that callback tokens are verified against.

Keys are fetched with httpx2 on the event loop (never a blocking fetch), kept by ``kid`` and
refreshed in three cases: on first use, in the background once they are older than ``ttl``, and
when a token names a kid the cache does not know (a key rotation). Every fetch attempt is
rate-limited to one per ``min_refresh_interval`` and concurrent callers share one request, so a
flood of tokens with bogus kids costs the key endpoint at most one request per interval. When
the endpoint is unreachable the cache keeps serving the keys it has (up to ``max_stale``).

Nothing waits on the endpoint without limit: a whole fetch (connecting, the answer's headers and
its body) must end within ``timeout`` seconds, however slowly the bytes trickle in, and a caller
(start-up, or a request whose kid is not cached) waits for a fetch at most ``wait`` seconds. A
caller that gets no answer in time is told :class:`KeysUnavailable` (503 at the endpoint), while
the fetch goes on for later callers.

Only RSA signing keys of at least 2048 bits usable with RS256 are kept; anything else in the
set is ignored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx2
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

DEFAULT_JWKS_URL = "https://acscallautomation.communication.azure.com/calling/keys"
MIN_RSA_KEY_SIZE = 2048
MAX_JWKS_BYTES = 1 << 20

log = logging.getLogger("callbacks.jwks")


class KeysUnavailable(Exception):
    """No usable key set: never fetched successfully, or cached too long ago to trust."""


class _FetchFailed(Exception):
    """A fetch attempt failed; the message is a short reason safe to log."""


def parse_jwks(document: Any) -> dict[str, jwt.PyJWK]:
    """The RS256-capable RSA signing keys of a JWKS document, by kid; others are skipped."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document: expected an object with a 'keys' array")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, Mapping):
            continue
        kid = entry.get("kid")
        if entry.get("kty") != "RSA" or not isinstance(kid, str) or not kid:
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") != "RS256":
            continue
        key_ops = entry.get("key_ops")
        if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
            continue
        try:
            key = jwt.PyJWK(dict(entry), algorithm="RS256")
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            log.info("JWKS: skipping key kid=%r that does not parse as an RSA key", kid[:64])
            continue
        if not isinstance(key.key, rsa.RSAPublicKey) or key.key.key_size < MIN_RSA_KEY_SIZE:
            log.info("JWKS: skipping key kid=%r: not an RSA public key of >= 2048 bits", kid[:64])
            continue
        keys[kid] = key
    return keys


class JwksCache:
    """Verification keys by kid, fetched from a JWKS URL and refreshed with rate limiting."""

    def __init__(
        self,
        url: str = DEFAULT_JWKS_URL,
        *,
        client: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        ttl: float = 3600.0,
        min_refresh_interval: float = 30.0,
        max_stale: float = 86400.0,
        timeout: float = 10.0,
        wait: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parsed = httpx2.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("JWKS URL must be an absolute http(s) URL")
        if client is not None and transport is not None:
            raise ValueError("pass either client or transport, not both")
        if min_refresh_interval < 0 or ttl <= 0 or max_stale < ttl:
            raise ValueError("need ttl > 0, min_refresh_interval >= 0 and max_stale >= ttl")
        if not (0 < timeout < math.inf and 0 < wait < math.inf):
            raise ValueError("the JWKS timeout and wait must be positive numbers of seconds")
        self._url = url
        # The query could carry a credential; logs name the endpoint without it.
        self._log_url = str(parsed.copy_with(query=None, fragment=None))
        self._client = client
        self._owns_client = client is None
        self._transport = transport
        self._timeout = timeout
        self._wait = wait
        self._ttl = ttl
        self._min_refresh_interval = min_refresh_interval
        self._max_stale = max_stale
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] | None = None
        self._fetched_at = 0.0
        self._last_attempt: float | None = None
        self._refresh_task: asyncio.Task[bool] | None = None
        self._closed = False

    def __repr__(self) -> str:
        count = 0 if self._keys is None else len(self._keys)
        return f"JwksCache(url={self._log_url!r}, keys={count})"

    @property
    def url(self) -> str:
        """The JWKS URL keys are fetched from."""
        return self._url

    @property
    def kids(self) -> frozenset[str]:
        """The key ids currently cached."""
        return frozenset(self._keys or ())

    async def start(self) -> None:
        """Warm the cache, waiting at most ``wait`` seconds: a failure is logged, not raised,
        and a fetch still running goes on in the background."""
        self._closed = False
        await self._refresh_coalesced()

    async def stop(self) -> None:
        """Cancel a refresh in flight and close the HTTP client if this cache opened it."""
        self._closed = True
        task, self._refresh_task = self._refresh_task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if (current := asyncio.current_task()) is not None and current.cancelling():
                    raise
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def get_key(self, kid: str) -> jwt.PyJWK | None:
        """The key named ``kid``, or None if the key set does not have it.

        Raises :class:`KeysUnavailable` when there is no trustworthy key set at all.
        """
        if self._closed:
            raise KeysUnavailable("the key cache is closed")
        now = self._clock()
        fresh_enough = now - self._fetched_at <= self._max_stale
        if self._keys is not None and fresh_enough and kid in self._keys:
            if now - self._fetched_at >= self._ttl and self._may_start_refresh(now):
                # Serve the cached key now; the fresh set arrives for later tokens.
                self._start_refresh(now)
            return self._keys[kid]
        if self._in_flight() is not None or self._may_start_refresh(now):
            finished = await self._refresh_coalesced()
            now = self._clock()
            if not finished and (self._keys is None or kid not in self._keys):
                # Whether the kid is genuine is not known yet: not a verdict on the sender.
                raise KeysUnavailable(
                    f"the key endpoint did not answer within {self._wait:g} s"
                )
        if self._keys is None or now - self._fetched_at > self._max_stale:
            raise KeysUnavailable("no usable key set: the key endpoint could not be reached")
        return self._keys.get(kid)

    def _in_flight(self) -> asyncio.Task[bool] | None:
        task = self._refresh_task
        return task if task is not None and not task.done() else None

    def _may_start_refresh(self, now: float) -> bool:
        if self._in_flight() is not None:
            return False
        last = self._last_attempt
        return last is None or now - last >= self._min_refresh_interval

    def _start_refresh(self, now: float) -> asyncio.Task[bool]:
        self._last_attempt = now
        task = asyncio.create_task(self._refresh(), name="jwks-refresh")
        self._refresh_task = task
        task.add_done_callback(self._refresh_done)
        return task

    def _refresh_done(self, task: asyncio.Task[bool]) -> None:
        if self._refresh_task is task:
            self._refresh_task = None

    async def _refresh_coalesced(self) -> bool:
        """Wait (at most ``wait`` seconds) for the fetch in flight or a new one: whether it
        finished in time (it may have failed)."""
        task = self._in_flight()
        if task is None:
            task = self._start_refresh(self._clock())
        try:
            # Shielded: a caller that gives up (in time, or because its client went away) must
            # not cancel the shared fetch.
            async with asyncio.timeout(self._wait):
                await asyncio.shield(task)
        except TimeoutError:
            return False
        return True

    async def _refresh(self) -> bool:
        try:
            keys = await self._fetch()
        except _FetchFailed as exc:
            held = "no cached keys" if self._keys is None else f"serving {len(self._keys)} cached"
            log.warning("JWKS refresh from %s failed (%s); %s", self._log_url, exc, held)
            return False
        except Exception as exc:
            # A background task must not die with an unretrieved exception; keep the old keys.
            log.warning("JWKS refresh from %s failed (%s)", self._log_url, type(exc).__name__)
            return False
        self._keys = keys
        self._fetched_at = self._clock()
        log.info("JWKS refreshed from %s: %d usable keys", self._log_url, len(keys))
        return True

    def _http(self) -> httpx2.AsyncClient:
        if self._client is None:
            self._client = httpx2.AsyncClient(transport=self._transport, timeout=self._timeout)
        return self._client

    async def _fetch(self) -> dict[str, jwt.PyJWK]:
        try:
            # The client's timeout bounds each read; this bounds them all together, so an
            # endpoint that sends a byte every few seconds cannot hold the fetch for ever.
            async with asyncio.timeout(self._timeout), self._http().stream(
                "GET", self._url, headers={"Accept": "application/json"}
            ) as response:
                if response.status_code != 200:
                    raise _FetchFailed(f"HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise _FetchFailed("response larger than 1 MiB")
        except TimeoutError:
            raise _FetchFailed(f"no complete answer within {self._timeout:g} s") from None
        except httpx2.HTTPError as exc:
            raise _FetchFailed(type(exc).__name__) from None
        try:
            keys = parse_jwks(json.loads(body))
        except (ValueError, RecursionError) as exc:
            # Deeply nested JSON raises RecursionError; either way a short fixed reason.
            raise _FetchFailed("response is not a JWKS document") from exc
        if not keys:
            # An empty set would make every token fail; keep the old keys rather than trust it.
            raise _FetchFailed("no usable RSA signing keys in the key set")
        return keys
