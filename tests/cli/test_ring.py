"""``callbacks ring``: an incoming call through a running emulator, and its errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from callbacks.cli import main
from tests.support.emulator_harness import SECRET
from tests.support.ga_harness import Served, serve_in_background


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """An emulator whose Event Grid subscription is a sample receiver."""
    with serve_in_background(incoming=True) as running:
        yield running


def test_ring_delivers_an_incoming_call_and_prints_its_ids(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["ring", "--emulator", served.url, "--from", "+14255550100",
                 "--to", "8:acs:resource_app", "--display-name", "Ada"])
    out = capsys.readouterr().out
    assert code == 0
    served.receiver.wait(lambda: bool(served.receiver.incoming))
    data = served.receiver.incoming[-1]["data"]
    assert out.startswith("ringing: 4:+14255550100 -> 8:acs:resource_app ")
    assert f"serverCallId={data['serverCallId']}" in out
    assert f"correlationId={data['correlationId']}" in out
    assert data["callerDisplayName"] == "Ada"
    assert served.receiver.incoming[-1]["_query"] == f"secret={SECRET}"


def test_an_emulator_without_a_subscription_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serve_in_background() as plain:
        code = main(["ring", "--emulator", plain.url, "--from", "+1", "--to", "+2"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "409" in err and "--incoming-url" in err


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--to", "+2"], 2, "--from required"),
        (["--from", "+1", "--to", "+2", "--emulator", "nope"], 2, "--emulator: expected"),
        (["--from", "+1", "--to", "+2", "--emulator", "http://127.0.0.1:9"], 1,
         "cannot reach the emulator at http://127.0.0.1:9"),
    ],
)
def test_bad_options_and_an_unreachable_emulator(
    argv: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ring", *argv]) == code
    err = capsys.readouterr().err
    assert err.startswith("callbacks ring: error: ") and message in err
    assert err.count("\n") == 1
