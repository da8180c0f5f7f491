"""JWT verification end to end: the real receiver, run with exactly the flags the emulator prints,
accepts the emulator's tokens and refuses every callback without a valid one with 401."""

from __future__ import annotations

import base64
import json
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx2

from callbacks.client.automation import CallAutomationClient
from callbacks.emulator import parse_scenario, serve_emulator
from callbacks.emulator.tokens import TokenIssuer
from tests.support.e2e_harness import APP, SECRET, Stack, e2e_config, e2e_stack, with_delivery
from tests.support.samples import sample_bytes
from tests.support.servers import free_port, start_cli, stop, wait_until_ready

PRESS_1 = parse_scenario({"default": {"press": [{"tones": "1", "after_prompt": 1}]}})


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned_token(kid: str, claims: dict[str, Any]) -> str:
    """``alg: none``: a token anyone can make."""
    return f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{b64(claims)}."


async def post(stack: Stack, body: bytes, authorization: str | None) -> httpx2.Response:
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    async with httpx2.AsyncClient(trust_env=False) as http:
        return await http.post(stack.receiver.callback_uri, content=body, headers=headers)


def forged_event(stack: Stack, call_id: str) -> bytes:
    """A well-formed callback of a real call, with a new id."""
    event = dict(stack.delivered(call_id)[0].event, id=f"forged-{uuid.uuid4()}")
    return json.dumps(event).encode()


async def test_the_printed_flags_accept_the_emulators_tokens_and_refuse_others(
    tmp_path: Path,
) -> None:
    config = e2e_config(scenario=PRESS_1)
    async with e2e_stack(tmp_path, "tests.support.e2e_plugin:reminder", config, auth="jwt") as s:
        call_id = await s.call()
        await s.terminated(call_id)
        await s.settled(call_id)
        # Every callback of the flow passed verification on its first attempt.
        assert all([a.status for a in cb.attempts] == [200] for cb in s.callbacks(call_id))

        tokens = s.emulator.emulator.signer.tokens
        audience = s.emulator.resource_id
        now = time.time()
        impostor = TokenIssuer(tokens.issuer)
        claims = {"iss": tokens.issuer, "aud": audience, "iat": int(now), "exp": int(now) + 300}
        refused = {
            "missing_token": None,
            "unsupported_scheme": "Basic dXNlcjpwYXNz",
            "malformed_token": "Bearer not-a-jwt",
            "unsupported_algorithm": "Bearer " + unsigned_token(tokens.kid, claims),
            "unknown_key": "Bearer " + impostor.issue(audience),
            "bad_signature": "Bearer " + impostor.sign(claims, headers={"kid": tokens.kid}),
            "token_expired": "Bearer " + tokens.issue(audience, now=now - 3600),
            "wrong_audience": "Bearer " + tokens.issue("another-resource"),
        }
        forged: list[str] = []
        for code, authorization in refused.items():
            body = forged_event(s, call_id)
            forged.append(json.loads(body)["id"])
            answer = await post(s, body, authorization)
            assert answer.status_code == 401, (code, answer.text)
            assert answer.json()["code"] == code
            if authorization:
                assert authorization.split()[-1] not in answer.text
        good = forged_event(s, call_id)
        accepted = await post(s, good, "Bearer " + tokens.issue(audience))
        assert accepted.status_code == 200 and accepted.json()["accepted"] == 1

        logged = {r.id for r in await s.events()}
        assert json.loads(good)["id"] in logged
        assert not logged & set(forged)
    output = s.receiver.output()
    for code in refused:
        assert f"callback token rejected: {code}" in output
    secrets = [a.split()[-1] for a in refused.values() if a] + [SECRET]
    assert not [secret for secret in secrets if secret in output]


async def test_callbacks_signed_with_another_key_are_refused_and_never_logged(
    tmp_path: Path,
) -> None:
    async with e2e_stack(tmp_path, "tests.support.e2e_plugin:greeter", auth="jwt") as s:
        # Same issuer and audience, another key pair: what a forger without the key can do.
        impostor_config = with_delivery(e2e_config(), max_attempts=2, backoff=0.05)
        async with serve_emulator(impostor_config) as impostor:
            assert impostor.receiver_flags[4:] == s.emulator.receiver_flags[4:]
            assert impostor.emulator.signer.tokens.kid != s.emulator.emulator.signer.tokens.kid
            result = await _create_call(impostor.connection_string, s.receiver.callback_uri)
            journal = impostor.emulator.journal
            await s.until(
                lambda: any(cb.status == "failed" for cb in journal.callbacks),
                "the impostor's first callback given up",
            )
            first = journal.callbacks[0]
            assert [a.status for a in first.attempts] == [401, 401]
        assert not [r for r in await s.events() if r.call_id == result]
        # The real emulator's calls still get through.
        call_id = await s.call()
        await s.until(lambda: len(s.delivered(call_id)) >= 3, "a real call's callbacks", call_id)


async def _create_call(connection_string: str, callback_uri: str) -> str:
    async with CallAutomationClient.from_connection_string(
        connection_string, api_version="2021-overview"
    ) as client:
        result = await client.create_call(["8:acs:resource_mallory"], callback_uri, source=APP)
    return result.call_leg_id


class TricklingKeys:
    """A key endpoint that answers its headers, then one body byte a second, for ever: each
    read is well within any per-read timeout, and the fetch never ends on its own."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/calling/keys"
        self.requests = 0
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.requests += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                             b"content-length: 100000\r\n\r\n{")
                while not self._stop.wait(1.0):
                    conn.sendall(b" ")
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


AUDIENCE = "0f0e0d0c-1111-2222-3333-444455556666"


def _serve_with_keys_at(keys: TricklingKeys, tmp_path: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    process = start_cli(
        "serve", "--port", str(port), "--auth", "jwt", "--jwks-url", keys.url,
        "--jwt-audience", AUDIENCE, "--dispatch", "inline",
        "--store", f"sqlite:///{tmp_path / 'log.db'}",
    )
    return f"http://127.0.0.1:{port}", process


def test_a_trickling_key_endpoint_never_hangs_the_receiver(tmp_path: Path) -> None:
    keys = TricklingKeys()
    base, process = _serve_with_keys_at(keys, tmp_path)
    try:
        started = time.monotonic()
        wait_until_ready(base + "/readyz", process, timeout=30)
        assert time.monotonic() - started < 15  # start-up waited for the keys a bounded time
        token = TokenIssuer(kid="k1").issue(AUDIENCE)
        asked = time.monotonic()
        answer = httpx2.post(
            base + "/api/callbacks", content=sample_bytes("ga", "CallConnected"),
            headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert time.monotonic() - asked < 10  # a request waits a bounded time too
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "keys_unavailable"
        stopping = time.monotonic()
        output = stop(process, signal.SIGTERM, timeout=30)
        assert time.monotonic() - stopping < 10, output
    finally:
        keys.close()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert token not in output


def test_sigterm_during_start_up_is_honoured(tmp_path: Path) -> None:
    keys = TricklingKeys()
    _, process = _serve_with_keys_at(keys, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while keys.requests == 0 and time.monotonic() < deadline:  # start-up is fetching keys
            time.sleep(0.02)
        assert keys.requests, "the receiver never asked for its keys"
        stopping = time.monotonic()
        output = stop(process, signal.SIGTERM, timeout=30)
        assert time.monotonic() - stopping < 10, output
    finally:
        keys.close()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
