"""JwksCache: which keys it keeps, when it refetches, and what it does when the endpoint fails."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from callbacks.emulator.tokens import TokenIssuer
from callbacks.server.jwks import DEFAULT_JWKS_URL, JwksCache, KeysUnavailable, parse_jwks

URL = "https://keys.test/calling/keys"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Endpoint:
    """Answers with whatever ``body``/``status`` say and counts requests."""

    def __init__(self, document: Any) -> None:
        self.document = document
        self.status = 200
        self.raw: bytes | None = None
        self.requests = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.raw is not None:
            return httpx2.Response(self.status, content=self.raw)
        return httpx2.Response(self.status, json=self.document)


@pytest.fixture(scope="module")
def issuer() -> TokenIssuer:
    return TokenIssuer(kid="k1")


def rsa_jwk(bits: int, **extra: Any) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    return {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key)), **extra}


def cache_for(endpoint: Endpoint, clock: Clock, **options: Any) -> JwksCache:
    return JwksCache(URL, transport=httpx2.MockTransport(endpoint), clock=clock, **options)


def test_parse_keeps_only_rs256_rsa_signing_keys_of_2048_bits(issuer: TokenIssuer) -> None:
    good = issuer.jwks()["keys"][0]
    ec_key = json.loads(
        jwt.algorithms.ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key())
    )
    document = {
        "keys": [
            good,
            {**good, "kid": "no-alg-no-use", "alg": None},
            {**ec_key, "kid": "ec"},
            {"kty": "oct", "k": "c2VjcmV0", "kid": "oct"},
            rsa_jwk(1024, kid="small"),
            {**good, "kid": "enc", "use": "enc"},
            {**good, "kid": "rs512", "alg": "RS512"},
            {**good, "kid": "ops-sign-only", "key_ops": ["sign"]},
            {**good, "kid": "ops-verify", "key_ops": ["verify"]},
            {**good, "kid": ""},
            {k: v for k, v in good.items() if k != "kid"},
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            "not an object",
            42,
        ]
    }
    document["keys"][1].pop("alg")
    keys = parse_jwks(document)
    assert sorted(keys) == ["k1", "no-alg-no-use", "ops-verify"]
    assert isinstance(keys["k1"].key, rsa.RSAPublicKey)
    bad_documents: list[object] = [[], {"keys": "x"}, {"nokeys": []}, None]
    for bad in bad_documents:
        with pytest.raises(ValueError, match="JWKS"):
            parse_jwks(bad)


async def test_first_use_fetches_and_unknown_kid_is_none(issuer: TokenIssuer) -> None:
    endpoint, clock = Endpoint(issuer.jwks()), Clock()
    cache = cache_for(endpoint, clock)
    assert (await cache.get_key("k1")) is not None
    assert cache.kids == frozenset({"k1"})
    assert (await cache.get_key("nope")) is None
    assert endpoint.requests == 1
    assert "keys=1" in repr(cache)
    await cache.stop()


async def test_ttl_refresh_runs_in_the_background_and_replaces_the_set() -> None:
    issuer = TokenIssuer(kid="a")
    endpoint, clock = Endpoint(issuer.jwks()), Clock()
    cache = cache_for(endpoint, clock, ttl=60, min_refresh_interval=10)
    await cache.start()
    issuer.rotate(kid="b", keep_previous=False)
    endpoint.document = issuer.jwks()
    endpoint.gate = asyncio.Event()
    clock.now += 61
    # The stale key is served at once while the refresh waits on the endpoint.
    assert (await cache.get_key("a")) is not None
    await asyncio.sleep(0.01)
    assert endpoint.requests == 2
    assert (await cache.get_key("a")) is not None  # still served while the fetch hangs
    assert endpoint.requests == 2
    endpoint.gate.set()
    await asyncio.sleep(0.01)
    assert cache.kids == frozenset({"b"})
    assert (await cache.get_key("a")) is None
    await cache.stop()


@pytest.mark.parametrize(
    ("status", "raw", "reason"),
    [
        (200, b"not json", "not a JWKS document"),
        (200, b'{"keys": "nope"}', "not a JWKS document"),
        (200, b'{"keys": []}', "no usable RSA signing keys"),
        (200, b"[" * 100_000, "not a JWKS document"),
        (200, b" " * (1 << 20) + b"{}", "larger than 1 MiB"),
        (404, b"{}", "HTTP 404"),
    ],
)
async def test_a_bad_answer_keeps_the_cached_keys(
    issuer: TokenIssuer, caplog: pytest.LogCaptureFixture, status: int, raw: bytes, reason: str
) -> None:
    endpoint, clock = Endpoint(issuer.jwks()), Clock()
    cache = cache_for(endpoint, clock, min_refresh_interval=5)
    await cache.start()
    endpoint.status, endpoint.raw = status, raw
    clock.now += 5
    with caplog.at_level(logging.WARNING, logger="callbacks.jwks"):
        assert (await cache.get_key("unknown")) is None
    assert endpoint.requests == 2
    assert reason in caplog.text
    assert (await cache.get_key("k1")) is not None
    await cache.stop()


async def test_keys_too_stale_to_trust_become_unavailable(issuer: TokenIssuer) -> None:
    endpoint, clock = Endpoint(issuer.jwks()), Clock()
    cache = cache_for(endpoint, clock, ttl=60, max_stale=600)
    await cache.start()
    endpoint.status = 503
    clock.now += 599
    assert (await cache.get_key("k1")) is not None
    clock.now += 2
    with pytest.raises(KeysUnavailable):
        await cache.get_key("k1")
    endpoint.status = 200
    clock.now += 30
    assert (await cache.get_key("k1")) is not None
    await cache.stop()


async def test_a_cancelled_caller_does_not_cancel_the_shared_fetch(issuer: TokenIssuer) -> None:
    endpoint, clock = Endpoint(issuer.jwks()), Clock()
    endpoint.gate = asyncio.Event()
    cache = cache_for(endpoint, clock)
    first = asyncio.create_task(cache.get_key("k1"))
    second = asyncio.create_task(cache.get_key("k1"))
    await asyncio.sleep(0.01)
    first.cancel()
    endpoint.gate.set()
    assert (await second) is not None
    assert first.cancelled()
    assert endpoint.requests == 1
    await cache.stop()


async def test_stop_cancels_a_fetch_in_flight_and_closes_its_client(issuer: TokenIssuer) -> None:
    endpoint, clock = Endpoint(issuer.jwks()), Clock()
    endpoint.gate = asyncio.Event()
    cache = cache_for(endpoint, clock)
    waiter = asyncio.create_task(cache.get_key("k1"))
    await asyncio.sleep(0.01)
    await cache.stop()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    with pytest.raises(KeysUnavailable, match="closed"):
        await cache.get_key("k1")


class Trickle(httpx2.AsyncByteStream):
    """A body that arrives one byte every ``every`` seconds, for ever."""

    def __init__(self, every: float) -> None:
        self.every = every

    async def __aiter__(self) -> Any:
        while True:
            await asyncio.sleep(self.every)
            yield b" "


async def test_a_fetch_that_trickles_ends_at_its_deadline(
    issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """Each byte arrives well within the per-read timeout; the whole fetch still ends."""
    requests = 0

    async def trickling(request: httpx2.Request) -> httpx2.Response:
        nonlocal requests
        requests += 1
        return httpx2.Response(200, stream=Trickle(0.05))

    cache = JwksCache(URL, transport=httpx2.MockTransport(trickling), clock=Clock(),
                      timeout=0.3, wait=5)
    started = asyncio.get_running_loop().time()
    with caplog.at_level(logging.WARNING, logger="callbacks.jwks"):
        await cache.start()
    assert asyncio.get_running_loop().time() - started < 2
    assert "no complete answer within 0.3 s" in caplog.text
    with pytest.raises(KeysUnavailable, match="could not be reached"):
        await cache.get_key("k1")  # the next attempt waits for the refresh interval
    assert requests == 1
    await cache.stop()


async def test_callers_wait_for_a_hung_fetch_a_bounded_time_and_it_goes_on(
    issuer: TokenIssuer,
) -> None:
    endpoint, clock = Endpoint(issuer.jwks()), Clock()
    endpoint.gate = asyncio.Event()  # the endpoint accepts and says nothing
    cache = cache_for(endpoint, clock, timeout=60, wait=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await cache.start()  # start-up does not wait for ever either
    assert loop.time() - started < 1
    for _ in range(2):
        started = loop.time()
        with pytest.raises(KeysUnavailable, match=r"did not answer within 0\.2 s"):
            await cache.get_key("k1")
        assert 0.15 < loop.time() - started < 1
    assert endpoint.requests == 1  # one fetch, still running, shared by every caller
    endpoint.gate.set()
    await asyncio.sleep(0.05)
    assert (await cache.get_key("k1")) is not None
    assert endpoint.requests == 1
    await cache.stop()


async def test_a_known_kid_is_served_while_a_rotation_fetch_hangs(issuer: TokenIssuer) -> None:
    endpoint, clock = Endpoint(issuer.jwks()), Clock()
    cache = cache_for(endpoint, clock, min_refresh_interval=10, wait=0.1)
    await cache.start()
    endpoint.gate = asyncio.Event()
    clock.now += 10
    with pytest.raises(KeysUnavailable):  # not known yet: maybe the new key, so not "unknown"
        await cache.get_key("rotated")
    assert (await cache.get_key("k1")) is not None  # at once, the fetch notwithstanding
    endpoint.gate.set()
    await cache.stop()


async def test_a_given_client_is_used_and_left_open(issuer: TokenIssuer) -> None:
    endpoint = Endpoint(issuer.jwks())
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(endpoint)) as client:
        cache = JwksCache(URL, client=client, clock=Clock())
        await cache.start()
        await cache.stop()
        assert not client.is_closed
        assert (await client.get(URL)).status_code == 200
    assert endpoint.requests == 2


def test_bad_configuration_is_a_clear_error() -> None:
    assert DEFAULT_JWKS_URL == "https://acscallautomation.communication.azure.com/calling/keys"
    with pytest.raises(ValueError, match="http"):
        JwksCache("keys.json")
    with pytest.raises(ValueError, match="either client or transport"):
        JwksCache(URL, client=httpx2.AsyncClient(), transport=httpx2.MockTransport(Endpoint({})))
    with pytest.raises(ValueError, match="ttl"):
        JwksCache(URL, ttl=0)
    for bad in ({"timeout": 0}, {"wait": 0}, {"wait": float("inf")}, {"timeout": float("nan")}):
        with pytest.raises(ValueError, match="timeout and wait"):
            JwksCache(URL, **bad)
    # A query (which could hold a credential) is kept out of repr and logs.
    assert "sig=" not in repr(JwksCache(URL + "?sig=abc"))
