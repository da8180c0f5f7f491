"""``callbacks emulate``: options, environment variables, errors, and a real run."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import signal
import ssl
import sys
from pathlib import Path

import httpx2
import pytest

from callbacks.cli.emulate import add_parser, config_from_args, run
from callbacks.client.hmac import HmacAuth, parse_connection_string
from callbacks.emulator.config import DEFAULT_RESOURCE_ID
from callbacks.emulator.server import bind_socket
from callbacks.emulator.tokens import DEFAULT_ISSUER
from tests.support import ROOT
from tests.support.emulator_harness import ALICE, KEY_B64

MAIN = (
    "import argparse, sys\n"
    "from callbacks.cli.emulate import add_parser\n"
    "parser = argparse.ArgumentParser(prog='callbacks')\n"
    "add_parser(parser.add_subparsers())\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(args.func(args))\n"
)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="callbacks")
    add_parser(parser.add_subparsers())
    return parser.parse_args(["emulate", *argv])


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CALLBACKS_EMULATOR_"):
            monkeypatch.delenv(name)


def test_the_subcommand_is_registered_with_its_runner() -> None:
    args = parse()
    assert args.func is run


def test_options_become_the_configuration() -> None:
    config, generated = config_from_args(
        parse(
            "--access-key",
            KEY_B64,
            "--answer-delay",
            "0.25",
            "--play-duration",
            "1",
            "--rate-429",
            "0.1",
            "--seed",
            "5",
            "--delivery-attempts",
            "2",
            "--event-ids",
            "NULL",
        )
    )
    assert not generated
    assert (config.answer_delay, config.play_duration, config.event_ids) == (0.25, 1.0, "null")
    assert (config.faults.rate_429, config.faults.seed, config.delivery.max_attempts) == (0.1, 5, 2)


def test_environment_variables_set_options_and_flags_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBACKS_EMULATOR_ANSWER_DELAY", "0.75")
    monkeypatch.setenv("CALLBACKS_EMULATOR_PLAY_DURATION", "3")
    monkeypatch.setenv("CALLBACKS_EMULATOR_DUPLICATE_RATE", "0.5")
    config, generated = config_from_args(parse("--play-duration", "0.5"))
    assert generated and len(config.access_key) == 32
    assert (config.answer_delay, config.play_duration) == (0.75, 0.5)
    assert config.faults.duplicate_rate == 0.5


def test_token_audience_and_issuer_come_from_options_or_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, _ = config_from_args(parse())
    assert (config.resource_id, config.token_issuer) == (DEFAULT_RESOURCE_ID, DEFAULT_ISSUER)
    monkeypatch.setenv("CALLBACKS_EMULATOR_RESOURCE_ID", "res-from-env")
    monkeypatch.setenv("CALLBACKS_EMULATOR_TOKEN_ISSUER", "http://issuer-from-env")
    config, _ = config_from_args(parse("--resource-id", "res-from-flag"))
    assert (config.resource_id, config.token_issuer) == ("res-from-flag", "http://issuer-from-env")


def test_callees_from_options_come_ahead_of_the_scenario_file(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text('[[callees]]\nmatch = "+1"\nanswer_after = 9\n')
    callee = json.dumps({"match": "+1", "answer_after": 1})
    config, _ = config_from_args(parse("--scenario", str(scenario), "--callee", callee))
    assert [c.answer_after for c in config.scenario.callees] == [1, 9]


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--port", "abc"], {}, "--port: "),
        (["--port", "70000"], {}, "--port: expected a port number"),
        ([], {"CALLBACKS_EMULATOR_RATE_500": "2"}, "CALLBACKS_EMULATOR_RATE_500: expected a prob"),
        (["--rate-429", "0.6", "--rate-500", "0.6"], {}, "rate_429 + rate_500 must not exceed 1"),
        (["--access-key", "!!"], {}, "--access-key: malformed access key"),
        (["--answer-delay", "-1"], {}, "--answer-delay: expected a non-negative number"),
        (["--event-ids", "maybe"], {}, "--event-ids: expected one of uuid, null"),
        (["--scenario", "/absent.toml"], {}, "--scenario: cannot read scenario"),
        (["--callee", "{"], {}, "--callee: "),
        (["--resource-id", " "], {}, "--resource-id: expected a non-empty value"),
        ([], {"CALLBACKS_EMULATOR_TOKEN_ISSUER": " x"}, "CALLBACKS_EMULATOR_TOKEN_ISSUER: "),
        (["--callee", '{"answer": true}'], {}, "--callee: invalid callee: match: field required"),
        ([], {"CALLBACKS_EMULATOR_CALLEE": "[1]"}, "CALLBACKS_EMULATOR_CALLEE: expected a JSON"),
    ],
)
def test_bad_options_are_one_line_on_stderr_and_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert run(parse(*argv)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"callbacks emulate: error: {message}")


def test_a_taken_port_exits_1_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    sock = bind_socket("127.0.0.1", 0)
    try:
        assert run(parse("--port", str(sock.getsockname()[1]))) == 1
    finally:
        sock.close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot listen on 127.0.0.1:" in err


async def start_cli(*argv: str) -> asyncio.subprocess.Process:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        MAIN,
        "emulate",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )


async def read_banner(process: asyncio.subprocess.Process) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(20):
        while not lines or not lines[-1].startswith("  control API"):
            lines.append((await process.stdout.readline()).decode().rstrip("\n"))
    return lines


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
async def test_a_real_run_prints_a_working_connection_string_and_stops_cleanly(
    stop: signal.Signals,
) -> None:
    process = await start_cli("--port", "0", "--answer-delay", "0.01")
    try:
        banner = await read_banner(process)
        assert banner[0].startswith("Call Automation emulator listening on http://127.0.0.1:")
        assert banner[1].startswith("  access key (generated): ")
        connection_string = banner[2].removeprefix("  connection string: ")
        endpoint, key = parse_connection_string(connection_string)
        prefix = "  callbacks carry JWTs; verify them with: callbacks serve "
        assert banner[3].startswith(prefix)
        assert shlex.split(banner[3].removeprefix(prefix)) == [
            "--auth", "jwt", "--jwks-url", f"{endpoint}/calling/keys",
            "--jwt-issuer", DEFAULT_ISSUER, "--jwt-audience", DEFAULT_RESOURCE_ID,
        ]
        async with httpx2.AsyncClient(base_url=endpoint, auth=HmacAuth(key)) as client:
            assert (await client.get("/calling/keys")).json()["keys"][0]["alg"] == "RS256"
            body = {"targets": [ALICE], "callbackUri": "http://127.0.0.1:9/cb"}
            response = await client.post("/calls", json=body)
            assert response.status_code == 200
            calls = (await client.get("/emulator/calls")).json()["calls"]
            assert [c["call_id"] for c in calls] == [response.json()["callLegId"]]
    finally:
        process.send_signal(stop)
        async with asyncio.timeout(20):
            _, err = await process.communicate()
    assert process.returncode == 0, err.decode()


async def test_a_given_key_is_not_printed() -> None:
    process = await start_cli("--port", "0", "--access-key", KEY_B64)
    try:
        banner = await read_banner(process)
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            await process.communicate()
    assert not any(KEY_B64 in line for line in banner)
    assert banner[1].endswith(";accesskey=<your --access-key>")


def test_the_ga_options_become_the_configuration() -> None:
    url = "http://127.0.0.1:8080/api/incomingCall?secret=abc"
    config, _ = config_from_args(parse("--timeout-scale", "0.1", "--incoming-url", url))
    assert (config.timeout_scale, config.incoming_url) == (0.1, url)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--timeout-scale", "0"], "--timeout-scale: expected a positive factor"),
        (["--incoming-url", "ftp://x/?secret=zz9"], "--incoming-url: expected an absolute"),
        (["--ca-file", "/no/such/dir/ca.pem"], "--ca-file: no directory /no/such/dir"),
    ],
)
def test_bad_ga_options_exit_2_without_repeating_the_url(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(parse(*argv)) == 2
    err = capsys.readouterr().err
    assert message in err and "zz9" not in err


async def test_tls_serves_https_and_prints_the_ca_and_the_variables(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    url = "http://127.0.0.1:9/api/incomingCall?secret=zz9"
    process = await start_cli("--port", "0", "--tls", "--ca-file", str(ca_file),
                              "--incoming-url", url)
    try:
        banner = await read_banner(process)
        assert banner[0].startswith("Call Automation emulator listening on https://127.0.0.1:")
        endpoint, _ = parse_connection_string(banner[2].removeprefix("  connection string: "))
        assert banner[2].startswith(f"  connection string: endpoint={endpoint}/;accesskey=")
        text = "\n".join(banner)
        assert f"their CA is in {ca_file}" in text
        assert f"export REQUESTS_CA_BUNDLE={ca_file} SSL_CERT_FILE={ca_file}" in text
        assert "secret=***" in text and "zz9" not in text
        verify = ssl.create_default_context(cafile=str(ca_file))
        async with httpx2.AsyncClient(verify=verify) as client:
            assert (await client.get(f"{endpoint}/emulator/healthz")).json()["status"] == "ok"
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            _, err = await process.communicate()
    assert process.returncode == 0, err.decode()
