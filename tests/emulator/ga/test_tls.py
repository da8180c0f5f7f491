"""``--tls``: certificates strict verification accepts, and unmodified SDK code over https."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from azure.communication.callautomation import PhoneNumberIdentifier
from cryptography import x509

from tests.support.ga_harness import Served, serve_in_background

ALICE = PhoneNumberIdentifier("+14251001000")


@pytest.fixture(scope="module")
def background() -> Iterator[Served]:
    """An emulator serving https with certificates made at start."""
    with serve_in_background(tls=True) as served:
        yield served


def _strict(ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default
    return context


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_strict_verification_accepts_the_certificate_for_loopback_names(
    served: Served, host: str
) -> None:
    assert served.url.startswith("https://127.0.0.1:")
    url = served.url.replace("127.0.0.1", host) + "/emulator/healthz"
    with httpx2.Client(verify=_strict(served.ca_file)) as client:
        assert client.get(url).json()["status"] == "ok"
    with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"), \
            httpx2.Client(verify=_strict(None)) as untrusting:
        untrusting.get(url)


def test_the_ca_file_holds_only_a_ca_certificate(served: Served) -> None:
    assert served.ca_file is not None
    text = served.ca_file.read_text()
    assert "PRIVATE KEY" not in text
    ca = x509.load_pem_x509_certificate(text.encode())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_from_connection_string_works_with_requests_ca_bundle(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert served.ca_file is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(served.ca_file))
    created = served.client().create_call(ALICE, served.receiver.callback_url)
    served.receiver.wait_types(created.call_connection_id, "CallConnected")


SAMPLE = textwrap.dedent('''
    import asyncio, os, time
    from azure.communication.callautomation import (
        CallAutomationClient, CommunicationUserIdentifier, FileSource, PhoneNumberIdentifier,
        RecognizeInputType)
    from azure.communication.callautomation.aio import CallAutomationClient as AioClient

    ACS_CONNECTION_STRING = os.environ["ACS_CONNECTION_STRING"]
    CALLBACK_EVENTS_URI = os.environ["CALLBACK_EVENTS_URI"]
    TARGET = PhoneNumberIdentifier("+14251001000")

    client = CallAutomationClient.from_connection_string(ACS_CONNECTION_STRING)
    result = client.create_call(TARGET, CALLBACK_EVENTS_URI)
    connection = client.get_call_connection(result.call_connection_id)
    while connection.get_call_properties().call_connection_state != "connected":
        time.sleep(0.05)
    connection.play_media(FileSource("https://example.com/prompt.wav"))

    async def main():
        async with AioClient.from_connection_string(ACS_CONNECTION_STRING) as aio:
            call = aio.get_call_connection(result.call_connection_id)
            print((await call.get_call_properties()).call_connection_state)
            await call.start_recognizing_media(RecognizeInputType.DTMF, TARGET,
                                               dtmf_max_tones_to_collect=1)
            await call.add_participant(CommunicationUserIdentifier("8:acs:resource_agent"))
            await aio.start_recording(server_call_id=result.server_call_id)
            await asyncio.sleep(1)
            await call.hang_up(is_for_everyone=True)

    asyncio.run(main())
    print(result.call_connection_id)
''')


def test_unmodified_sample_code_runs_over_https_with_the_printed_variables(
    served: Served, tmp_path: Path
) -> None:
    assert served.ca_file is not None
    script = tmp_path / "sample.py"
    script.write_text(SAMPLE)
    env = {
        **os.environ,
        "REQUESTS_CA_BUNDLE": str(served.ca_file),
        "SSL_CERT_FILE": str(served.ca_file),
        "ACS_CONNECTION_STRING": served.connection_string,
        "CALLBACK_EVENTS_URI": served.receiver.callback_url,
    }
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    state, call_id = done.stdout.split()
    assert state == "connected"
    types = served.receiver.wait_all(
        call_id, "CallConnected", "PlayCompleted", "RecognizeFailed", "AddParticipantSucceeded",
        "RecordingStateChanged", "CallDisconnected",
    )
    assert types[-1] == "CallDisconnected"
